package service_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/build"
	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/service"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

func TestAPanickingHandlerAnswers500WithTheErrorBody(t *testing.T) {
	e := service.NewEndpoint()
	e.Router().Post("/boom", func(http.ResponseWriter, *http.Request) { panic("broken invariant") })

	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/boom?correlation_id=c-7", strings.NewReader("{}"))
	r.Header.Set("Content-Type", "application/json")
	e.Router().ServeHTTP(w, r)

	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d; want 500", w.Code)
	}
	var body sessions.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if body.Code != sessions.CodeInternal || body.Status != 500 || body.CorrelationID != "c-7" {
		t.Errorf("body %+v; want code %s, status 500, correlation_id c-7", body, sessions.CodeInternal)
	}
	if strings.Contains(w.Body.String(), "broken invariant") {
		t.Errorf("body %s shows the panic; want it in the log only", w.Body)
	}
}

// With options.debug on, an error body carries its cause and a stack
// trace; for a panic, the stack of the code that panicked.
func TestDebugModeShowsThePanicAndWhereItHappened(t *testing.T) {
	e := service.NewEndpoint()
	if err := e.Configure(container.Config{"options": map[string]any{"debug": true}}); err != nil {
		t.Fatal(err)
	}
	e.Router().Post("/boom", breakInvariant)

	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/boom", strings.NewReader("{}"))
	r.Header.Set("Content-Type", "application/json")
	e.Router().ServeHTTP(w, r)

	var body sessions.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if body.Cause != "panic: broken invariant" {
		t.Errorf("cause: got %q; want the panic's value", body.Cause)
	}
	if !strings.Contains(body.StackTrace, "service_test.breakInvariant") {
		t.Errorf("stack_trace: got %q; want the panicking function in it", body.StackTrace)
	}
}

func breakInvariant(http.ResponseWriter, *http.Request) { panic("broken invariant") }

func TestAnAbortedHandlerStillAborts(t *testing.T) {
	e := service.NewEndpoint()
	e.Router().Get("/abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v; want http.ErrAbortHandler passed on to the server", v)
		}
	}()
	e.Router().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/abort", nil))
}

func TestTheBearerSchemeIsCaseInsensitive(t *testing.T) {
	e := service.NewEndpoint()
	if err := e.Configure(container.Config{"options": map[string]any{"api_keys": "key-one"}}); err != nil {
		t.Fatal(err)
	}
	e.Router().Get("/private", func(http.ResponseWriter, *http.Request) {})
	for _, tc := range []struct {
		header string
		want   int
	}{
		{"Bearer key-one", http.StatusOK},
		{"bearer key-one", http.StatusOK},
		{"BEARER key-one", http.StatusOK},
		{"Bearer  key-one", http.StatusOK},
		{"bearer key-two", http.StatusUnauthorized},
		{"Basic key-one", http.StatusUnauthorized},
		{"Bearerkey-one", http.StatusUnauthorized},
		{"key-one", http.StatusUnauthorized},
		{"", http.StatusUnauthorized},
	} {
		t.Run(tc.header, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/private", nil)
			r.Header.Set("Authorization", tc.header)
			w := httptest.NewRecorder()
			e.Router().ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Errorf("Authorization %q: got status %d; want %d", tc.header, w.Code, tc.want)
			}
			if challenge := w.Header().Get("WWW-Authenticate"); (challenge == "Bearer") != (tc.want == http.StatusUnauthorized) {
				t.Errorf("Authorization %q: WWW-Authenticate %q; want Bearer on a 401 only", tc.header, challenge)
			}
		})
	}
}

// readTimeout is the endpoint's read and write timeout in the tests of
// those timeouts, short so that they need not wait long past it.
const readTimeout = 200 * time.Millisecond

// startService opens the sessions service, its Cloudstate routes included,
// on memory persistence, with the endpoint's default timeouts, and returns
// its base URL.
func startService(t *testing.T) string {
	t.Helper()
	return startServiceWithTimeouts(t, 0)
}

// startServiceWithTimeouts opens the service as startService does, with
// the endpoint's read and write timeouts set to d (the defaults for 0).
func startServiceWithTimeouts(t *testing.T, d time.Duration) string {
	t.Helper()
	timeouts := ""
	if d > 0 {
		ms := strconv.FormatInt(d.Milliseconds(), 10)
		timeouts = "\n  options:\n    read_timeout: " + ms + "\n    write_timeout: " + ms
	}
	p, err := container.Build(build.Factories(), `
- descriptor: "service-sessions:persistence:memory:default:1.0"
- descriptor: "service-sessions:controller:default:default:1.0"
- descriptor: "pip-services:endpoint:http:default:1.0"
  connection:
    host: 127.0.0.1
    port: 0`+timeouts+`
- descriptor: "service-sessions:service:commandable-http:default:1.0"
  options:
    keep_alive: 50
- descriptor: "service-sessions:service:cloudstate-http:default:1.0"
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	e, err := container.Required[*service.Endpoint](p.References(), service.EndpointLocator)
	if err != nil {
		t.Fatal(err)
	}
	return e.URL()
}

func TestASlowRequestBodyIsCutOffAtTheReadTimeout(t *testing.T) {
	base := startServiceWithTimeouts(t, readTimeout)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := `{"user_id":"u1","client":"a slow sender"}`
	if _, err := conn.Write([]byte("POST /v1/sessions/open_session HTTP/1.1\r\nHost: sessions\r\n" +
		"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// One byte every 100 ms: the whole body would take 20 times the timeout.
	var sent atomic.Int64
	go func() {
		for i := range len(body) {
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
			sent.Add(1)
			time.Sleep(100 * time.Millisecond)
		}
	}()

	conn.SetReadDeadline(time.Now().Add(time.Minute)) //nolint:errcheck // a TCP connection takes deadlines
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("status %d; want the request refused", resp.StatusCode)
		}
	}
	if n := sent.Load(); n == int64(len(body)) {
		t.Errorf("the service waited for the whole body (%d bytes); want it cut off after %v", n, readTimeout)
	}
}

func TestAClientThatStopsReadingIsCutOffAtTheWriteTimeout(t *testing.T) {
	e := service.NewEndpoint()
	if err := e.Configure(container.Config{
		"connection": map[string]any{"host": "127.0.0.1", "port": 0},
		"options":    map[string]any{"write_timeout": 200},
	}); err != nil {
		t.Fatal(err)
	}
	// An answer larger than any socket buffer, written while it can be.
	cut := make(chan error, 1)
	e.Router().Get("/large", func(w http.ResponseWriter, _ *http.Request) {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				cut <- err
				return
			}
		}
	})
	if err := e.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	conn, err := net.Dial("tcp", e.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte("GET /large HTTP/1.1\r\nHost: sessions\r\n\r\n")); err != nil {
		t.Fatal(err)
	}

	select {
	case <-cut:
	case <-time.After(10 * time.Second):
		t.Fatal("the answer was still being written 10 s after the request; want it cut off after 200 ms")
	}
}

func TestAnEventStreamOutlivesTheReadAndWriteTimeouts(t *testing.T) {
	// Long enough for the open below to be answered within it on a loaded
	// machine: the stream must outlive it, not the open.
	const timeout = time.Second
	base := startServiceWithTimeouts(t, timeout)
	resp, err := http.Get(base + "/v1/sessions/events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d; want an event stream", resp.StatusCode)
	}
	events := make(chan string, 8)
	go func() {
		defer close(events)
		for lines := bufio.NewScanner(resp.Body); lines.Scan(); {
			if event, ok := strings.CutPrefix(lines.Text(), "event: "); ok {
				events <- event
			}
		}
	}()

	time.Sleep(3 * timeout)
	opened, err := http.Post(base+"/v1/sessions/open_session", "application/json", strings.NewReader(`{"user_id":"u1"}`))
	if err != nil {
		t.Fatal(err)
	}
	opened.Body.Close()
	select {
	case event, ok := <-events:
		if !ok {
			t.Fatalf("the stream ended; want it open past the read and write timeouts of %v", timeout)
		}
		if event != sessions.EventOpened {
			t.Errorf("event %q; want %q", event, sessions.EventOpened)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10 s of opening a session")
	}
}

func TestBrowsersOfAllowedOriginsMayCallTheAPI(t *testing.T) {
	newEndpoint := func(cfg container.Config) *service.Endpoint {
		e := service.NewEndpoint()
		if err := e.Configure(cfg); err != nil {
			t.Fatal(err)
		}
		e.Router().Post("/v1/sessions/get_sessions", func(http.ResponseWriter, *http.Request) {})
		return e
	}
	send := func(e *service.Endpoint, method, origin string, header ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/v1/sessions/get_sessions", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		for i := 0; i+1 < len(header); i += 2 {
			r.Header.Set(header[i], header[i+1])
		}
		w := httptest.NewRecorder()
		e.Router().ServeHTTP(w, r)
		return w
	}
	preflight := []string{"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type"}

	t.Run("every origin by default, a preflight needing no API key", func(t *testing.T) {
		e := newEndpoint(container.Config{"options": map[string]any{"api_keys": "key-one"}})
		w := send(e, http.MethodOptions, "https://app.example", preflight...)
		if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "POST") ||
			!strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Errorf("preflight: got %d %v; want 204 allowing POST with Authorization from *", w.Code, w.Header())
		}
		// The request headers the Node service allows, so that its pages
		// pass here too.
		allowed := strings.ToLower(w.Header().Get("Access-Control-Allow-Headers"))
		for _, h := range []string{"accept", "accept-version", "content-type", "request-id", "x-api-version", "x-request-id", "x-requested-with", "correlation_id"} {
			if !slices.Contains(strings.Split(allowed, ", "), h) {
				t.Errorf("preflight: got Access-Control-Allow-Headers %q; want %s, which Node allows, among them", allowed, h)
			}
		}
		w = send(e, http.MethodPost, "https://app.example", "Authorization", "Bearer key-one")
		if w.Code != http.StatusOK || w.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("call: got %d, Access-Control-Allow-Origin %q; want 200 and *", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
		}
		w = send(e, http.MethodPost, "https://app.example")
		if w.Code != http.StatusUnauthorized || w.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("call without a key: got %d, Access-Control-Allow-Origin %q; want a 401 the page can read", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
		}
		if w = send(e, http.MethodPost, "", "Authorization", "Bearer key-one"); w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("call from no browser: got Access-Control-Allow-Origin %q; want none", w.Header().Get("Access-Control-Allow-Origin"))
		}
		// A GET answer without CORS headers, kept by a cache, must not
		// serve a browser's request, which needs them.
		if w = send(e, http.MethodGet, "", "Authorization", "Bearer key-one"); w.Header().Get("Vary") != "Origin" {
			t.Errorf("GET from no browser: got Vary %q; want Origin", w.Header().Get("Vary"))
		}
	})

	// Comma-separated, as the Node service reads them, or a YAML list.
	for name, cfg := range map[string]container.Config{
		"only the origins cors_origins names": {"cors_origins": "https://app.example, https://admin.example", "cors_headers": "X-Tenant"},
		"only the origins cors_origins lists": {"cors_origins": []any{"https://app.example", "https://admin.example"}, "cors_headers": []any{"X-Tenant"}},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEndpoint(cfg)
			w := send(e, http.MethodOptions, "https://admin.example", preflight...)
			if w.Code != http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "https://admin.example" ||
				w.Header().Get("Vary") != "Origin" || !strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "X-Tenant") {
				t.Errorf("preflight of a named origin: got %d %v; want 204 for that origin, varying by Origin, allowing X-Tenant", w.Code, w.Header())
			}
			w = send(e, http.MethodOptions, "https://evil.example", preflight...)
			if w.Code == http.StatusNoContent || w.Header().Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("preflight of another origin: got %d %v; want no CORS answer", w.Code, w.Header())
			}
			if w = send(e, http.MethodPost, "https://evil.example"); w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Vary") != "Origin" {
				t.Errorf("call from another origin: got Access-Control-Allow-Origin %q, Vary %q; want none, and Origin: a cache must not serve it to the named ones",
					w.Header().Get("Access-Control-Allow-Origin"), w.Header().Get("Vary"))
			}
		})
	}
}

func TestTheEndpointDrainsForItsShutdownTimeoutWhateverTheCallerGives(t *testing.T) {
	e := service.NewEndpoint()
	if err := e.Configure(container.Config{"connection": map[string]any{"host": "127.0.0.1", "port": 0},
		"options": map[string]any{"shutdown_timeout": 5000}}); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	e.Router().Post("/slow", func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		time.Sleep(500 * time.Millisecond)
		w.Write([]byte("done")) //nolint:errcheck // the test reads it
	})
	if err := e.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	answered := make(chan error, 1)
	go func() {
		resp, err := http.Post("http://"+e.Addr().String()+"/slow", "application/json", nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		answered <- err
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.Close(ctx); err != nil {
		t.Errorf("close with a caller's 100 ms and a shutdown_timeout of 5 s: %v", err)
	}
	if err := <-answered; err != nil {
		t.Errorf("the request in flight at shutdown: %v; want it answered", err)
	}
}

// A path whose unreserved characters are percent-encoded is the same path
// (RFC 3986), as the Node service takes it; a path that names no route is
// told with its other escapes as they were sent.
func TestAPathWithEncodedUnreservedCharactersIsTheSamePath(t *testing.T) {
	base := startService(t)
	post := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(`{"user_id":"u1"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Message
	}
	for _, path := range []string{"/v1/sessions/%6fpen_session", "/v1/sessions/open%5Fsession", "/v1/%73essions/open_session"} {
		if status, msg := post(path); status != http.StatusOK {
			t.Errorf("POST %s: got %d %s; want 200, an open", path, status, msg)
		}
	}
	if status, msg := post("/v1/sessions/open%20session"); status != http.StatusNotFound || msg != "POST /v1/sessions/open%20session is not found" {
		t.Errorf("POST an encoded space: got %d %q; want 404 naming the path as sent", status, msg)
	}
}

// hiddenLength hides a reader's length, so the client sends it chunked.
type hiddenLength struct{ io.Reader }

// request makes a request with a body and headers (name, value, ...) and
// returns its status and error code.
func request(t *testing.T, method, url string, body io.Reader, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Code string }
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Code
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A command's body is JSON, or nothing: a chunked body that turns out
// empty is nothing, whatever its type says. Only a POST's body is looked
// at: a probe's GET with a body is answered.
func TestAnEmptyBodyNeedsNoTypeAndOnlyAPostsBodyIsLookedAt(t *testing.T) {
	base := startService(t)
	for _, tc := range []struct {
		why          string
		method, path string
		body         io.Reader
		header       []string
		status       int
		code         string
	}{
		{"an empty chunked body with no type", http.MethodPost, "/v1/sessions/close_expired_sessions", hiddenLength{strings.NewReader("")}, nil, http.StatusNoContent, ""},
		{"a chunked body with no type", http.MethodPost, "/v1/sessions/close_expired_sessions", hiddenLength{strings.NewReader("{}")}, nil, http.StatusUnsupportedMediaType, sessions.CodeNotJSON},
		{"a chunked text body", http.MethodPost, "/v1/sessions/close_expired_sessions", hiddenLength{strings.NewReader("{}")}, []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType, sessions.CodeNotJSON},
		{"a GET with a body", http.MethodGet, "/v1/sessions/swagger", strings.NewReader("x"), nil, http.StatusOK, ""},
		{"a GET with a body over the limit", http.MethodGet, "/v1/sessions/swagger", bytes.NewReader(make([]byte, sessions.DefaultMaxBodySize+1)), nil, http.StatusOK, ""},
		{"a Cloudstate GET with a body", http.MethodGet, "/devices/d1", strings.NewReader("x"), nil, http.StatusNotFound, sessions.CodeDeviceNotRegistered},
	} {
		if status, code := request(t, tc.method, base+tc.path, tc.body, tc.header...); status != tc.status || code != tc.code {
			t.Errorf("%s: got %d %s; want %d %s", tc.why, status, code, tc.status, tc.code)
		}
	}
}

// A gzip body is inflated, as the Node service inflates it, within the
// body limit; an encoding the endpoint does not know is refused, never
// read as if the body were plain.
func TestABodyMayBeGzippedAndNoOtherEncodingIsIgnored(t *testing.T) {
	base := startService(t)
	open := base + "/v1/sessions/open_session"
	zipped := gzipped(t, []byte(`{"user_id":"gz1"}`))
	bomb := gzipped(t, []byte(`{"user_id":"gz2","data":"`+strings.Repeat("x", sessions.DefaultMaxBodySize)+`"}`))
	for _, tc := range []struct {
		why    string
		body   io.Reader
		header []string
		status int
		code   string
	}{
		{"gzip", bytes.NewReader(zipped), []string{"Content-Encoding", "gzip"}, http.StatusOK, ""},
		{"gzip, chunked", hiddenLength{bytes.NewReader(zipped)}, []string{"Content-Encoding", "GZIP"}, http.StatusOK, ""},
		{"identity", strings.NewReader(`{"user_id":"id1"}`), []string{"Content-Encoding", "identity"}, http.StatusOK, ""},
		{"gzip said, plain sent", strings.NewReader(`{"user_id":"gz3"}`), []string{"Content-Encoding", "gzip"}, http.StatusBadRequest, sessions.CodeBadJSON},
		{"inflated past the body limit", bytes.NewReader(bomb), []string{"Content-Encoding", "gzip"}, http.StatusRequestEntityTooLarge, sessions.CodeBodyTooLarge},
		{"brotli", strings.NewReader(`{"user_id":"br1"}`), []string{"Content-Encoding", "br"}, http.StatusUnsupportedMediaType, sessions.CodeNotJSON},
		{"gzip twice", bytes.NewReader(zipped), []string{"Content-Encoding", "gzip, gzip"}, http.StatusUnsupportedMediaType, sessions.CodeNotJSON},
	} {
		header := append([]string{"Content-Type", "application/json"}, tc.header...)
		if status, code := request(t, http.MethodPost, open, tc.body, header...); status != tc.status || code != tc.code {
			t.Errorf("%s: got %d %s; want %d %s", tc.why, status, code, tc.status, tc.code)
		}
	}
	// Every Content-Encoding line counts: identity on the first does not
	// hide brotli on the second.
	req, err := http.NewRequest(http.MethodPost, open, strings.NewReader(`{"user_id":"br2"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("Content-Encoding", "identity")
	req.Header.Add("Content-Encoding", "br")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("identity, then br on a second line: got %d; want 415", resp.StatusCode)
	}
}
