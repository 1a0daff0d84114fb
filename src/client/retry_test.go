package client_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/client"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

const sessionJSON = `{"id":"s1","user_id":"u1","active":true}`

// storeUnavailable is the service's answer when its store is unreachable.
const storeUnavailable = `{"category":"NoResponse","code":"STORE_UNAVAILABLE","status":500,"message":"session store is unavailable"}`

// flaky answers the first failures requests with status and body, then
// the session; it counts the requests.
func flaky(t *testing.T, failures int, status int, body string, header ...string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if int(n.Add(1)) <= failures {
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
			return
		}
		io.WriteString(w, sessionJSON)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestARepeatableCommandIsSentAgainWhileTheServiceIsUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
	}{
		{"STORE_UNAVAILABLE", http.StatusInternalServerError, storeUnavailable},
		{"a proxy's 502", http.StatusBadGateway, "<html>bad gateway</html>"},
		{"a proxy's 503", http.StatusServiceUnavailable, ""},
		{"a proxy's 504", http.StatusGatewayTimeout, ""},
		{"429", http.StatusTooManyRequests, "slow down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, attempts := flaky(t, client.DefaultRetries, tc.status, tc.body)
			s, err := client.NewHTTP(srv.URL).GetSessionByID(t.Context(), "s1")
			if err != nil || s == nil || s.ID != "s1" {
				t.Fatalf("got %v, %v; want the session after %d failures", s, err, client.DefaultRetries)
			}
			if got := attempts.Load(); got != client.DefaultRetries+1 {
				t.Errorf("attempts: got %d; want %d", got, client.DefaultRetries+1)
			}
		})
	}
}

func TestRetriesEndAfterWithRetriesAttemptsWithTheLastError(t *testing.T) {
	srv, attempts := flaky(t, 100, http.StatusInternalServerError, storeUnavailable)
	_, err := client.NewHTTP(srv.URL, client.WithRetries(1)).RenewSession(t.Context(), "s1")
	if e := sessions.AsError(err); e == nil || e.Code != sessions.CodeStoreUnavailable {
		t.Errorf("got %v; want STORE_UNAVAILABLE", err)
	}
	if got := attempts.Load(); got != 2 {
		t.Errorf("attempts: got %d; want 2", got)
	}
}

func TestWhatMayNotBeRepeatedIsSentOnce(t *testing.T) {
	t.Run("an open would open twice", func(t *testing.T) {
		srv, attempts := flaky(t, 1, http.StatusInternalServerError, storeUnavailable)
		if _, err := client.NewHTTP(srv.URL).OpenSession(t.Context(), client.OpenSessionArgs{UserID: "u1"}); err == nil {
			t.Error("got no error; want STORE_UNAVAILABLE")
		}
		if got := attempts.Load(); got != 1 {
			t.Errorf("attempts: got %d; want 1", got)
		}
	})
	t.Run("no retries asked", func(t *testing.T) {
		srv, attempts := flaky(t, 1, http.StatusInternalServerError, storeUnavailable)
		if _, err := client.NewHTTP(srv.URL, client.WithRetries(0)).GetSessionByID(t.Context(), "s1"); err == nil {
			t.Error("got no error; want STORE_UNAVAILABLE")
		}
		if got := attempts.Load(); got != 1 {
			t.Errorf("attempts: got %d; want 1", got)
		}
	})
	for _, tc := range []struct {
		status int
		body   string
	}{
		{http.StatusBadRequest, `{"category":"BadRequest","code":"INVALID_DATA","status":400,"message":"bad"}`},
		{http.StatusNotFound, `{"category":"NotFound","code":"SESSION_EXPIRED","status":404,"message":"lapsed"}`},
		{http.StatusInternalServerError, `{"category":"Internal","code":"INTERNAL","status":500,"message":"bug"}`},
		{http.StatusUnauthorized, ""},
	} {
		t.Run(fmt.Sprintf("a %d is an answer", tc.status), func(t *testing.T) {
			srv, attempts := flaky(t, 1, tc.status, tc.body)
			if _, err := client.NewHTTP(srv.URL).RenewSession(t.Context(), "s1"); err == nil {
				t.Error("got no error; want the answer's")
			}
			if got := attempts.Load(); got != 1 {
				t.Errorf("attempts: got %d; want 1", got)
			}
		})
	}
}

func TestARetryWaitsOutRetryAfter(t *testing.T) {
	srv, attempts := flaky(t, 1, http.StatusServiceUnavailable, "", "Retry-After", "1")
	start := time.Now()
	if _, err := client.NewHTTP(srv.URL).GetSessionByID(t.Context(), "s1"); err != nil {
		t.Fatal(err)
	}
	if got := time.Since(start); got < time.Second || attempts.Load() != 2 {
		t.Errorf("got the session after %v and %d attempts; want 2 attempts, a second apart", got, attempts.Load())
	}
}

func TestARetryNeverOutlastsTheCallsTimeout(t *testing.T) {
	srv, _ := flaky(t, 100, http.StatusServiceUnavailable, "", "Retry-After", "10")
	start := time.Now()
	_, err := client.NewHTTP(srv.URL, client.WithTimeout(5*time.Second)).GetSessionByID(t.Context(), "s1")
	if e := sessions.AsError(err); e == nil || e.Status != http.StatusServiceUnavailable {
		t.Errorf("got %v; want the 503, not a wait cut off by the timeout", err)
	}
	if got := time.Since(start); got > 3*time.Second {
		t.Errorf("the call took %v; want it to give up at once when the pause asked would outlast its timeout", got)
	}
}

// keepAliveCloser serves sessions over raw HTTP/1.1 but closes its first
// connection, unanswered, on that connection's second request, as a
// service does with a kept-alive connection it closes as the request
// arrives. It counts the requests it reads.
func keepAliveCloser(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var requests atomic.Int32
	go func() {
		for first := true; ; first = false {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func(conn net.Conn, first bool) {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for n := 1; ; n++ {
					req, err := http.ReadRequest(r)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					requests.Add(1)
					if first && n == 2 {
						return
					}
					fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(sessionJSON), sessionJSON)
				}
			}(conn, first)
		}
	}()
	return "http://" + ln.Addr().String(), &requests
}

// newTransport is a transport of the test's own, whose kept-alive
// connections end with the test.
func newTransport(t *testing.T) *http.Transport {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// net/http sends a request again on a new connection when a kept-alive one
// turns out closed, but only a request marked idempotent: the client marks
// the repeatable commands, so even without retries of its own they pass.
func TestARepeatableCommandOnAKeptAliveConnectionTheServiceClosedPasses(t *testing.T) {
	base, requests := keepAliveCloser(t)
	api := client.NewHTTP(base, client.WithRetries(0), client.WithHTTPClient(&http.Client{Transport: newTransport(t)}))
	if _, err := api.GetSessionByID(t.Context(), "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := api.GetSessionByID(t.Context(), "s1"); err != nil {
		t.Errorf("get on the closed connection: got %v; want the session, sent again on a new one", err)
	}
	if got := requests.Load(); got != 3 {
		t.Errorf("requests: got %d; want 3", got)
	}

	base, _ = keepAliveCloser(t)
	api = client.NewHTTP(base, client.WithRetries(0), client.WithHTTPClient(&http.Client{Transport: newTransport(t)}))
	if _, err := api.OpenSession(t.Context(), client.OpenSessionArgs{UserID: "u1"}); err != nil {
		t.Fatal(err)
	}
	_, err := api.OpenSession(t.Context(), client.OpenSessionArgs{UserID: "u1"})
	if err == nil || !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") {
		t.Errorf("open on the closed connection: got %v; want the EOF, since the open may have happened", err)
	}
}

func TestACallWhoseContextEndsDuringAPauseEndsWithItsContextsError(t *testing.T) {
	srv, attempts := flaky(t, 100, http.StatusServiceUnavailable, "", "Retry-After", "5")
	ctx, cancel := context.WithCancel(t.Context())
	go func() { // well into the pause after the first attempt
		for attempts.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		cancel()
	}()
	_, err := client.NewHTTP(srv.URL, client.WithRetries(50)).GetSessionByID(ctx, "s1")
	if !errors.Is(err, context.Canceled) || attempts.Load() != 1 {
		t.Errorf("got %v after %d attempts; want the call ended with context.Canceled", err, attempts.Load())
	}
	if e := sessions.AsError(err); e == nil || e.Status != http.StatusServiceUnavailable {
		t.Errorf("got %v; want the last attempt's 503 wrapped too", err)
	}
}

// What another attempt would meet again is not retried: a certificate the
// client does not trust, a host name that does not resolve, a URL that is
// no URL.
func TestAFailureThatWouldRecurIsNotRetried(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, sessionJSON)
	}))
	t.Cleanup(srv.Close)
	rt := &countingTransport{next: newTransport(t)}
	if _, err := client.NewHTTP(srv.URL, client.WithHTTPClient(&http.Client{Transport: rt})).GetSessionByID(t.Context(), "s1"); err == nil {
		t.Error("untrusted certificate: got no error")
	}
	if got := rt.n.Load(); got != 1 {
		t.Errorf("untrusted certificate: got %d attempts; want 1", got)
	}

	// The service refuses the handshake: it asks for a client certificate.
	strict := httptest.NewUnstartedServer(srv.Config.Handler)
	strict.TLS = &tls.Config{ClientAuth: tls.RequireAnyClientCert}
	strict.StartTLS()
	t.Cleanup(strict.Close)
	tr := strict.Client().Transport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	rt = &countingTransport{next: tr}
	if _, err := client.NewHTTP(strict.URL, client.WithHTTPClient(&http.Client{Transport: rt})).GetSessionByID(t.Context(), "s1"); err == nil {
		t.Error("handshake refused: got no error")
	}
	if got := rt.n.Load(); got != 1 {
		t.Errorf("handshake refused: got %d attempts; want 1", got)
	}

	var dials atomic.Int32
	notFound := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		dials.Add(1)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "sessions.invalid", IsNotFound: true}}
	}}
	if _, err := client.NewHTTP("http://sessions.invalid", client.WithHTTPClient(&http.Client{Transport: notFound})).GetSessionByID(t.Context(), "s1"); err == nil {
		t.Error("host not found: got no error")
	}
	if got := dials.Load(); got != 1 {
		t.Errorf("host not found: got %d attempts; want 1", got)
	}

	start := time.Now()
	_, err := client.NewHTTP("http://[::1", client.WithRetries(20)).GetSessionByID(t.Context(), "s1")
	if err == nil || time.Since(start) > 3*time.Second { // 20 pauses would take far longer
		t.Errorf("no URL: got %v after %v; want the error at once, with no pauses before other attempts", err, time.Since(start))
	}
}

// countingTransport counts the requests sent through it.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// An attempt cut off by the http.Client's own Timeout got no answer: it is
// sent again.
func TestAnAttemptThatTimedOutIsSentAgain(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so that the server notices the client gone
		if n.Add(1) == 1 {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		io.WriteString(w, sessionJSON)
	}))
	t.Cleanup(srv.Close)
	hc := &http.Client{Timeout: time.Second, Transport: newTransport(t)}
	if _, err := client.NewHTTP(srv.URL, client.WithHTTPClient(hc)).GetSessionByID(t.Context(), "s1"); err != nil {
		t.Errorf("got %v; want the session from the second attempt", err)
	}
	if got := n.Load(); got != 2 {
		t.Errorf("attempts: got %d; want 2", got)
	}
}
