package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// DefaultTimeout bounds each HTTP call unless WithTimeout says otherwise.
const DefaultTimeout = 10 * time.Second

// DefaultRetries is how many times a repeatable command is sent again
// unless WithRetries says otherwise.
const DefaultRetries = 2

// CodeUnexpectedResponse is the code of the error returned when a response
// is not the service's (a proxy's page, for instance): a failed one
// without the service's error body, or a successful one whose body is not
// the command's result.
const CodeUnexpectedResponse = "UNEXPECTED_RESPONSE"

// maxErrorBody bounds how much of a failed response is read.
const maxErrorBody = 64 << 10

// HTTP is the API over HTTP: each command is POST <base URL>/<route>/<command>
// with its arguments as a JSON object. It is safe for concurrent use.
type HTTP struct {
	baseURL string
	client  *http.Client
	timeout time.Duration
	retries int
	apiKey  string
}

// Option configures an HTTP client.
type Option func(*HTTP)

// WithTimeout bounds each call, from sending the request to reading the
// whole response; zero or less means no bound beyond the context's own.
func WithTimeout(d time.Duration) Option {
	return func(c *HTTP) { c.timeout = d }
}

// WithRetries sets how many times the client sends a repeatable command
// again (its doc says so: the reads, renew_session and the commands that
// set something to a value given) after an attempt that got no answer, or
// an answer that the service or a proxy before it was unavailable or
// overloaded: category NoResponse (STORE_UNAVAILABLE, 502, 503, 504) or
// 429. It pauses between attempts, longer each time, and never past the
// call's timeout or its context's deadline. Other commands are sent once,
// as are all of them with n = 0.
func WithRetries(n int) Option {
	return func(c *HTTP) { c.retries = max(n, 0) }
}

// WithHTTPClient sends requests with hc instead of http.DefaultClient, for
// custom transports, TLS settings or instrumentation.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *HTTP) {
		if hc != nil {
			c.client = hc
		}
	}
}

// WithAPIKey sends key as a bearer token (Authorization: Bearer <key>), for
// services configured with API keys.
func WithAPIKey(key string) Option {
	return func(c *HTTP) { c.apiKey = key }
}

// NewHTTP returns a client of the service at baseURL, such as
// "http://localhost:8080", with a DefaultTimeout per call and
// DefaultRetries for repeatable commands.
func NewHTTP(baseURL string, opts ...Option) *HTTP {
	c := &HTTP{baseURL: strings.TrimRight(baseURL, "/"), client: http.DefaultClient, timeout: DefaultTimeout, retries: DefaultRetries}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// none is the result type of commands that return nothing.
type none struct{}

// httpCall runs one command and decodes its result; an empty response (204)
// of a command that may answer nothing is the zero R, so a missing session
// is a nil pointer.
func httpCall[R any](ctx context.Context, c *HTTP, route, name string, args any) (R, error) {
	var out R
	body, status, err := c.post(ctx, route, name, args)
	if err != nil {
		return out, err
	}
	if _, ok := any(out).(none); ok {
		return out, nil
	}
	if len(body) == 0 {
		if mayAnswerNothing(route, name) {
			return out, nil
		}
		// A command that always has a result (an open, a page) got none:
		// a proxy's or a mock's answer, not the service's.
		return out, unexpected(ctx, route, name, status, body, errors.New("no result"))
	}
	if err := json.Unmarshal(body, &out); err != nil {
		// Not the service's answer (a proxy's page, say): coded as a
		// failed response that is not the service's error body is.
		var zero R
		return zero, unexpected(ctx, route, name, status, body, err)
	}
	return out, nil
}

// unexpected is the error of a successful response that is not the
// command's result.
func unexpected(ctx context.Context, route, name string, status int, body []byte, cause error) *sessions.Error {
	text := truncate(strings.TrimSpace(string(body)), 200)
	if text == "" {
		text = "an empty answer"
	}
	return &sessions.Error{
		Category: sessions.CategoryUnknown, Code: CodeUnexpectedResponse, Status: status,
		Message:       fmt.Sprintf("unexpected result of %s/%s: %s", route, name, text),
		CorrelationID: sessions.CorrelationID(ctx), Cause: cause,
	}
}

// post sends the command and returns the body and status of a successful
// response; a failed one becomes a *sessions.Error. A repeatable command
// is sent again, after a pause, when an attempt fails in a way that a
// later one may not (see WithRetries).
func (c *HTTP) post(ctx context.Context, route, name string, args any) (body []byte, status int, err error) {
	payload, err := marshalArgs(args)
	if err != nil {
		return nil, 0, fmt.Errorf("encode arguments of %s/%s: %w", route, name, err)
	}
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	again := repeatable(route, name)
	for attempt := 0; ; attempt++ {
		var retryAfter time.Duration
		body, status, retryAfter, err = c.send(ctx, route, name, payload, again)
		if err == nil || !again || attempt >= c.retries || !transient(ctx, err) {
			return body, status, err
		}
		pause := max(backoff(attempt), retryAfter)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < pause {
			return body, status, err // no time left for another attempt
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, 0, fmt.Errorf("%w while waiting to send %s/%s again after: %w", ctx.Err(), route, name, err)
		case <-t.C:
		}
	}
}

// send makes one attempt at a command. Besides post's results it returns
// how long a failed response asked the client to wait (Retry-After).
func (c *HTTP) send(ctx context.Context, route, name string, payload []byte, repeatable bool) (body []byte, status int, retryAfter time.Duration, err error) {
	correlationID := sessions.CorrelationID(ctx)
	target := c.baseURL + "/" + route + "/" + name
	if correlationID != "" {
		target += "?correlation_id=" + url.QueryEscape(correlationID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("call %s/%s: %w", route, name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	if repeatable {
		// Marks the request idempotent without sending the header, so that
		// net/http sends it again on a new connection when a kept-alive one
		// turns out closed by the service; it does so for no other POST.
		req.Header["Idempotency-Key"] = nil
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("call %s/%s: %w", route, name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if err != nil {
			return nil, 0, 0, fmt.Errorf("call %s/%s: read %s error response: %w", route, name, resp.Status, err)
		}
		return nil, 0, parseRetryAfter(resp.Header.Get("Retry-After")), decodeError(resp.StatusCode, body, correlationID)
	}
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("call %s/%s: read response: %w", route, name, err)
	}
	return body, resp.StatusCode, 0, nil
}

// transient reports whether a failed attempt may succeed if made again,
// while ctx still leaves time: the service or a proxy before it was
// unavailable or overloaded (category NoResponse, or 429), the connection
// failed (refused, reset, closed before the answer), or the attempt timed
// out (an http.Client's Timeout). A bad URL, a host name that does not
// resolve, and a certificate or TLS handshake refused would fail again.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var e *sessions.Error
	if errors.As(err, &e) {
		return e.Category == sessions.CategoryNoResponse || e.Status == http.StatusTooManyRequests
	}
	var (
		dnsErr   *net.DNSError
		opErr    *net.OpError
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		urlErr   *url.Error
	)
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound,
		errors.As(err, &verify), errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid):
		return false
	case errors.As(err, &opErr) && opErr.Op == "remote error":
		// A TLS alert: a handshake the service refused, or any alert a
		// TLS proxy sends, taken for one that would come again.
		return false
	case errors.As(err, &urlErr) && urlErr.Timeout():
		return true
	}
	return errors.As(err, &opErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// Pauses between attempts: the first about firstRetryPause, doubling up to
// maxRetryPause, each a random part of that so that clients failed
// together do not come back together; a Retry-After of up to
// maxRetryAfter is waited out in full.
const (
	firstRetryPause = 100 * time.Millisecond
	maxRetryPause   = 2 * time.Second
	maxRetryAfter   = 10 * time.Second
)

// backoff is the pause before the attempt after attempt (0 is the first).
func backoff(attempt int) time.Duration {
	d := min(firstRetryPause<<min(attempt, 16), maxRetryPause)
	return d/2 + rand.N(d/2)
}

// parseRetryAfter reads a Retry-After header given in seconds, capped at
// maxRetryAfter; 0 when it is missing or a date.
func parseRetryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, maxRetryAfter)
}

// marshalArgs encodes the arguments of a command; none is {}.
func marshalArgs(args any) ([]byte, error) {
	if args == nil {
		return []byte("{}"), nil
	}
	return json.Marshal(args)
}

// decodeError rebuilds the service's error from a failed response. A body
// that is not the service's error body (a proxy's page, say) still gives a
// *sessions.Error, its category derived from the status.
func decodeError(status int, body []byte, correlationID string) *sessions.Error {
	e := &sessions.Error{Status: status, CorrelationID: correlationID}
	var b sessions.ErrorBody
	if err := json.Unmarshal(body, &b); err == nil && (b.Category != "" || b.Code != "") {
		e.Category, e.Code, e.Message, e.Details = b.Category, b.Code, b.Message, b.Details
		if b.CorrelationID != "" {
			e.CorrelationID = b.CorrelationID
		}
		if b.Cause != "" { // only services in debug mode send it
			e.Cause = errors.New(b.Cause)
		}
	} else {
		e.Code = CodeUnexpectedResponse
		e.Message = fmt.Sprintf("unexpected response %d %s", status, http.StatusText(status))
		if text := strings.TrimSpace(string(body)); text != "" {
			e.Message += ": " + truncate(text, 200)
		}
	}
	if e.Category == "" {
		e.Category = categoryOf(status)
	}
	return e
}

// categoryOf derives an error category from an HTTP status, the inverse of
// the service's category → status table.
func categoryOf(status int) string {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return sessions.CategoryUnauthorized
	case status == http.StatusNotFound:
		return sessions.CategoryNotFound
	case status == http.StatusConflict:
		return sessions.CategoryConflict
	case status >= 400 && status < 500:
		return sessions.CategoryBadRequest
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		return sessions.CategoryNoResponse
	case status >= 500:
		return sessions.CategoryInternal
	}
	return sessions.CategoryUnknown
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return sessions.CutText(s, n) + "…"
}
