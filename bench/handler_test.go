package main

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/build"
	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/service"
)

// BenchmarkHandler measures, in process, what each side does above the
// connection for one open_session: the ceiling's chi handler, and the
// service's router over memory persistence with every middleware, each
// given the bodies the load generator sends and a response writer that
// discards. Whatever the service costs beyond this in the benchmark's
// tables is spent outside its handler: in net/http, the kernel and the
// runtime.
func BenchmarkHandler(b *testing.B) {
	b.Run("ceiling", func(b *testing.B) { serveOpens(b, ceilingHandler()) })
	b.Run("memory", func(b *testing.B) { serveOpens(b, memoryRouter(b)) })
}

// memoryRouter boots the shipped config over memory persistence in process
// and returns the endpoint's router.
func memoryRouter(b *testing.B) http.Handler {
	b.Helper()
	text, err := os.ReadFile("../config/config.yml")
	if err != nil {
		b.Fatal(err)
	}
	params := map[string]string{"MEMORY_ENABLED": "true", "HTTP_PORT": "0", "LOG_LEVEL": "none"}
	p, err := container.Build(build.Factories(), string(text), params)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			b.Error(err)
		}
	})
	ep, err := container.Required[*service.Endpoint](p.References(), service.EndpointLocator)
	if err != nil {
		b.Fatal(err)
	}
	return ep.Router()
}

// serveOpens sends h one open_session per iteration, cycling through 1 024
// bodies of the ceiling's load, and fails on any status but 200.
func serveOpens(b *testing.B, h http.Handler) {
	rng := rand.New(rand.NewPCG(1, 2))
	bodies := make([][]byte, 1024)
	for i := range bodies {
		bodies[i] = ceilingOp.body(rng, nil)
	}
	req := httptest.NewRequest(http.MethodPost, ceilingOp.path, nil)
	req.Header.Set("Content-Type", "application/json")
	body := bytes.NewReader(nil)
	w := &discard{header: http.Header{}}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		raw := bodies[i%len(bodies)]
		i++
		body.Reset(raw)
		req.Body, req.ContentLength = io.NopCloser(body), int64(len(raw))
		clear(w.header)
		w.status = http.StatusOK
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// discard is a response writer that keeps the status and drops the body.
type discard struct {
	header http.Header
	status int
}

func (w *discard) Header() http.Header         { return w.header }
func (w *discard) WriteHeader(status int)      { w.status = status }
func (w *discard) Write(p []byte) (int, error) { return len(p), nil }
