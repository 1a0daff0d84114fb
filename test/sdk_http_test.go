package test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/client"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

func TestSDKDecodesTheServiceNotFoundError(t *testing.T) {
	base := startMemory(t)
	// A wrong base URL makes every command an unknown route.
	api := client.NewHTTP(base + "/no/such/prefix/")
	ctx := sessions.WithCorrelationID(context.Background(), "lost-1")
	_, err := api.GetSessionByID(ctx, strings.Repeat("0", 32))
	var e *sessions.Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T); want a *sessions.Error", err, err)
	}
	if e.Status != http.StatusNotFound || e.Category != sessions.CategoryNotFound || e.Code != sessions.CodeNotFound {
		t.Errorf("got %d %s/%s; want 404 %s/%s", e.Status, e.Category, e.Code, sessions.CategoryNotFound, sessions.CodeNotFound)
	}
	if e.CorrelationID != "lost-1" {
		t.Errorf("correlation id: got %q; want lost-1", e.CorrelationID)
	}
	if !strings.Contains(e.Message, "/no/such/prefix/v1/sessions/get_session_by_id") {
		t.Errorf("message: got %q; want the path that was not found", e.Message)
	}
}

func TestSDKErrorFromABodyThatIsNotTheServiceErrorBody(t *testing.T) {
	for _, tc := range []struct {
		status       int
		body         string
		wantCategory string
	}{
		{http.StatusBadGateway, "<html><body>bad gateway</body></html>", sessions.CategoryNoResponse},
		{http.StatusServiceUnavailable, "", sessions.CategoryNoResponse},
		{http.StatusInternalServerError, "boom", sessions.CategoryInternal},
		{http.StatusUnauthorized, "who are you", sessions.CategoryUnauthorized},
		{http.StatusForbidden, "no", sessions.CategoryUnauthorized},
		{http.StatusNotFound, "404 page not found", sessions.CategoryNotFound},
		{http.StatusConflict, "taken", sessions.CategoryConflict},
		{http.StatusTeapot, `{"error": "not the Pip shape"}`, sessions.CategoryBadRequest},
	} {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)

			ctx := sessions.WithCorrelationID(context.Background(), "c-1")
			_, err := client.NewHTTP(srv.URL).OpenSession(ctx, client.OpenSessionArgs{UserID: "u1"})
			var e *sessions.Error
			if !errors.As(err, &e) {
				t.Fatalf("got error %v (%T); want a *sessions.Error", err, err)
			}
			if e.Status != tc.status || e.Category != tc.wantCategory || e.Code != client.CodeUnexpectedResponse {
				t.Errorf("got %d %s/%s; want %d %s/%s", e.Status, e.Category, e.Code, tc.status, tc.wantCategory, client.CodeUnexpectedResponse)
			}
			if e.CorrelationID != "c-1" {
				t.Errorf("correlation id: got %q; want c-1", e.CorrelationID)
			}
			if !strings.Contains(e.Message, tc.body) {
				t.Errorf("message: got %q; want it to quote the body %q", e.Message, tc.body)
			}
		})
	}
}

func TestSDKSendsCorrelationIDAPIKeyAndJSONThroughTheGivenHTTPClient(t *testing.T) {
	var seen atomic.Pointer[http.Request]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Clone(context.Background()))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	var trips atomic.Int64
	hc := &http.Client{Transport: sdkRoundTripper(func(r *http.Request) (*http.Response, error) {
		trips.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}

	api := client.NewHTTP(srv.URL+"/", client.WithHTTPClient(hc), client.WithAPIKey("k-1"))
	ctx := sessions.WithCorrelationID(context.Background(), "a b&c")
	got, err := api.GetSessionByID(ctx, "s1")
	if err != nil || got != nil {
		t.Fatalf("204: got %v, %v; want nil, nil", got, err)
	}
	r := seen.Load()
	for _, tc := range []struct{ name, got, want string }{
		{"method", r.Method, http.MethodPost},
		{"path", r.URL.Path, "/v1/sessions/get_session_by_id"},
		{"correlation_id", r.URL.Query().Get("correlation_id"), "a b&c"},
		{"Authorization", r.Header.Get("Authorization"), "Bearer k-1"},
		{"Content-Type", r.Header.Get("Content-Type"), "application/json"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q; want %q", tc.name, tc.got, tc.want)
		}
	}
	if n := trips.Load(); n != 1 {
		t.Errorf("requests through the given http.Client: got %d; want 1", n)
	}
}

type sdkRoundTripper func(*http.Request) (*http.Response, error)

func (f sdkRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSDKAPIKeyAgainstTheService(t *testing.T) {
	text, err := os.ReadFile(repoFile("config", "config.yml"))
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "- descriptor: \"pip-services:endpoint:http:default:1.0\"\n"
	if !strings.Contains(string(text), endpoint) {
		t.Fatalf("config.yml: got no endpoint component; want one")
	}
	config := strings.Replace(string(text), endpoint, endpoint+"  options:\n    api_keys: \"k-1,k-2\"\n", 1)
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := startConfig(t, path, map[string]string{"MEMORY_ENABLED": "true"})
	ctx := context.Background()

	for _, tc := range []struct {
		name string
		opts []client.Option
		want string // error category, "" for success
	}{
		{"no key", nil, sessions.CategoryUnauthorized},
		{"wrong key", []client.Option{client.WithAPIKey("k-3")}, sessions.CategoryUnauthorized},
		{"right key", []client.Option{client.WithAPIKey("k-2")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := client.NewHTTP(base, tc.opts...).OpenSession(ctx, client.OpenSessionArgs{UserID: "u1"})
			if tc.want == "" {
				if err != nil || s == nil {
					t.Errorf("got %v, %v; want a session", s, err)
				}
				return
			}
			var e *sessions.Error
			if !errors.As(err, &e) || e.Category != tc.want || e.Status != http.StatusUnauthorized {
				t.Errorf("got error %v; want %s with status 401", err, tc.want)
			}
		})
	}
}

func TestSDKTimeoutIsHonoured(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The server notices a client that went away only once the body is read.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)

	start := time.Now()
	_, err := client.NewHTTP(srv.URL, client.WithTimeout(50*time.Millisecond)).GetSessionByID(context.Background(), "s1")
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got error %v; want one wrapping context.DeadlineExceeded", err)
	}
	if sessions.AsError(err) != nil {
		t.Errorf("got a *sessions.Error %v; want a transport error", err)
	}
	if elapsed > 2*time.Second {
		t.Errorf("call took %v; want it cut off after about 50ms", elapsed)
	}
}

func TestSDKTransportFailureIsWrapped(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens there any more

	_, err := client.NewHTTP(base).GetSessionByID(context.Background(), "s1")
	var urlErr *url.Error
	if !errors.As(err, &urlErr) {
		t.Fatalf("got error %v (%T); want one wrapping a *url.Error", err, err)
	}
	if !strings.Contains(err.Error(), "v1/sessions/get_session_by_id") {
		t.Errorf("error: got %q; want it to name the command", err)
	}
}

// A successful answer that is not the command's result (a proxy's login
// page, a body of another shape) is a coded error, as a failed answer
// without the service's error body is.
func TestSDKRejectsAResultItCannotDecode(t *testing.T) {
	for body, status := range map[string]int{`[1, 2, 3]`: http.StatusOK, `<html>login</html>`: http.StatusNonAuthoritativeInfo} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			io.WriteString(w, body)
		}))
		s, err := client.NewHTTP(srv.URL).GetSessionByID(context.Background(), "s1")
		srv.Close()
		var e *sessions.Error
		if !errors.As(err, &e) || s != nil || e.Code != client.CodeUnexpectedResponse || e.Status != status ||
			!strings.Contains(e.Message, "v1/sessions/get_session_by_id") || !strings.Contains(e.Message, body) {
			t.Errorf("%s: got %v, %v; want nil and an UNEXPECTED_RESPONSE error naming the command and the body", body, s, err)
		}
	}
}

// An answer of nothing (204) is a missing session only from a command that
// may answer nothing; from one that always has a result (an open, a page),
// it is not the service's answer, and a coded error rather than a nil
// result the caller would take for one.
func TestSDKTakesAnAnswerOfNothingOnlyFromACommandThatMayGiveIt(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	api := client.NewHTTP(srv.URL)
	ctx := context.Background()
	if s, err := api.GetSessionByID(ctx, "s1"); s != nil || err != nil {
		t.Errorf("get_session_by_id: got %v, %v; want nil, nil: no such session", s, err)
	}
	s, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "u1"})
	var e *sessions.Error
	if !errors.As(err, &e) || s != nil || e.Code != client.CodeUnexpectedResponse || e.Status != http.StatusNoContent {
		t.Errorf("open_session: got %v, %v; want nil and an UNEXPECTED_RESPONSE error", s, err)
	}
	if p, err := api.GetSessions(ctx, nil, nil); p != nil || !errors.As(err, &e) || e.Code != client.CodeUnexpectedResponse {
		t.Errorf("get_sessions: got %v, %v; want nil and an UNEXPECTED_RESPONSE error", p, err)
	}
	if err := api.CloseExpiredSessions(ctx); err != nil {
		t.Errorf("close_expired_sessions, which returns nothing: got %v; want nil", err)
	}
}
