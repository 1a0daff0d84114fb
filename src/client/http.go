package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// DefaultTimeout bounds each HTTP call unless WithTimeout says otherwise.
const DefaultTimeout = 10 * time.Second

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
	apiKey  string
}

// Option configures an HTTP client.
type Option func(*HTTP)

// WithTimeout bounds each call, from sending the request to reading the
// whole response; zero or less means no bound beyond the context's own.
func WithTimeout(d time.Duration) Option {
	return func(c *HTTP) { c.timeout = d }
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
// "http://localhost:8080", with a DefaultTimeout per call.
func NewHTTP(baseURL string, opts ...Option) *HTTP {
	c := &HTTP{baseURL: strings.TrimRight(baseURL, "/"), client: http.DefaultClient, timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// none is the result type of commands that return nothing.
type none struct{}

// httpCall runs one command and decodes its result; an empty response (204)
// is the zero R, so a missing session is a nil pointer.
func httpCall[R any](ctx context.Context, c *HTTP, route, name string, args any) (R, error) {
	var out R
	body, status, err := c.post(ctx, route, name, args)
	if err != nil || len(body) == 0 {
		return out, err
	}
	if _, ok := any(out).(none); ok {
		return out, nil
	}
	if err := json.Unmarshal(body, &out); err != nil {
		// Not the service's answer (a proxy's page, say): coded as a
		// failed response that is not the service's error body is.
		var zero R
		return zero, &sessions.Error{
			Category: sessions.CategoryUnknown, Code: CodeUnexpectedResponse, Status: status,
			Message:       fmt.Sprintf("unexpected result of %s/%s: %s", route, name, truncate(strings.TrimSpace(string(body)), 200)),
			CorrelationID: sessions.CorrelationID(ctx), Cause: err,
		}
	}
	return out, nil
}

// post sends the command and returns the body and status of a successful
// response; a failed one becomes a *sessions.Error.
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
	correlationID := sessions.CorrelationID(ctx)
	target := c.baseURL + "/" + route + "/" + name
	if correlationID != "" {
		target += "?correlation_id=" + url.QueryEscape(correlationID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		return nil, 0, fmt.Errorf("call %s/%s: %w", route, name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("call %s/%s: %w", route, name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if err != nil {
			return nil, 0, fmt.Errorf("call %s/%s: read %s error response: %w", route, name, resp.Status, err)
		}
		return nil, 0, decodeError(resp.StatusCode, body, correlationID)
	}
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("call %s/%s: read response: %w", route, name, err)
	}
	return body, resp.StatusCode, nil
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
