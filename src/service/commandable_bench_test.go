package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logging"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/metrics"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/service"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// benchController locates the controller the benchmarks build.
var benchController = container.MustDescriptor("service-sessions:controller:default:default:1.0")

// newBenchHandler wires the memory store, the controller, both counters
// components, the endpoint and the commandable service the way the
// container does, and returns the endpoint's router: requests go through
// every middleware and the command handler, but no network.
func newBenchHandler(b *testing.B) http.Handler {
	b.Helper()
	ctx := context.Background()
	ctrl := logic.NewController(nil, nil)
	endpoint := service.NewEndpoint()
	api := service.NewCommandableHTTP(benchController)
	refs := container.NewReferences()
	refs.Put(container.MustDescriptor("service-sessions:persistence:memory:default:1.0"), persistence.NewMemory())
	refs.Put(container.MustDescriptor("pip-services:counters:log:default:1.0"), logging.NewCounters())
	refs.Put(container.MustDescriptor("pip-services:counters:prometheus:default:1.0"), metrics.NewCounters(benchController))
	refs.Put(benchController, ctrl)
	refs.Put(service.EndpointLocator, endpoint)
	refs.Put(container.MustDescriptor("service-sessions:service:commandable-http:default:1.0"), api)
	for _, c := range []container.Referenceable{ctrl, endpoint, api} {
		if err := c.SetReferences(refs); err != nil {
			b.Fatal(err)
		}
	}
	if err := ctrl.Open(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := ctrl.Close(ctx); err != nil {
			b.Error(err)
		}
	})
	return endpoint.Router()
}

// benchRequest is one POST of a command, reusable across iterations: its
// body is rewound before each.
type benchRequest struct {
	req  *http.Request
	body *bytes.Reader
	rc   io.ReadCloser
	raw  []byte
}

// rewindable is a request body the benchmark rewinds instead of rebuilding.
type rewindable struct{ *bytes.Reader }

func (rewindable) Close() error { return nil }

// newBenchRequest returns a request for command as the SDK sends it: a JSON
// body and the correlation id in the query string.
func newBenchRequest(command, body string) *benchRequest {
	raw := []byte(body)
	br := &benchRequest{raw: raw, body: bytes.NewReader(raw)}
	br.rc = rewindable{br.body}
	br.req = httptest.NewRequest(http.MethodPost, "/"+sessions.SessionsRoute+"/"+command+"?correlation_id=bench-42", nil)
	br.req.ContentLength = int64(len(raw))
	br.req.Header.Set("Content-Type", "application/json")
	return br
}

// serve sends the request through h and returns the recorded response. The
// endpoint wraps the body of the request it is given, so the body is put
// back each time; the recorder is new each time, as its state cannot be reset.
func (br *benchRequest) serve(b *testing.B, h http.Handler) *httptest.ResponseRecorder {
	br.body.Reset(br.raw)
	br.req.Body = br.rc
	w := httptest.NewRecorder()
	h.ServeHTTP(w, br.req)
	if w.Code != http.StatusOK {
		b.Fatalf("status: got %d; want 200: %s", w.Code, w.Body)
	}
	return w
}

// openBenchSession opens a session through h and returns its id.
func openBenchSession(b *testing.B, h http.Handler, userID string) string {
	b.Helper()
	w := newBenchRequest("open_session", `{"user_id":"`+userID+`","client":"bench"}`).serve(b, h)
	var s struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil {
		b.Fatal(err)
	}
	return s.ID
}

// BenchmarkCommandableHTTP measures the cost of one command request through
// the router, the middleware and the command handler over the memory store,
// with a recorder in place of the connection. The figures to watch are
// allocs/op and B/op: they are what the HTTP layer adds to the store's work.
// The recorder's own share (a new recorder, the header snapshot it takes and
// its body buffer) is about 7 allocations and 0.8 KB per request.
func BenchmarkCommandableHTTP(b *testing.B) {
	b.Run("get_session_by_id", func(b *testing.B) {
		h := newBenchHandler(b)
		id := openBenchSession(b, h, "u1")
		br := newBenchRequest("get_session_by_id", `{"session_id":"`+id+`"}`)
		b.ReportAllocs()
		for b.Loop() {
			br.serve(b, h)
		}
	})
	b.Run("get_sessions", func(b *testing.B) {
		h := newBenchHandler(b)
		for i := range 3 {
			openBenchSession(b, h, "u1")
			openBenchSession(b, h, fmt.Sprintf("other-%d", i))
		}
		br := newBenchRequest("get_sessions", `{"filter":{"user_id":"u1","active":"true"},"paging":{"skip":0,"take":"10","total":true}}`)
		b.ReportAllocs()
		for b.Loop() {
			br.serve(b, h)
		}
	})
	b.Run("open_session", func(b *testing.B) {
		h := newBenchHandler(b)
		br := newBenchRequest("open_session", `{"user_id":"u1","user_name":"Ann","client":"bench","user":{"id":"u1","roles":["admin"]},"data":{"cart":[1,2,3]}}`)
		b.ReportAllocs()
		for b.Loop() {
			br.serve(b, h)
		}
	})
}
