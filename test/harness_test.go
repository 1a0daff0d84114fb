package test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/build"
	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/service"
)

// repoFile returns the path of a file of the repository from the test folder.
func repoFile(parts ...string) string {
	return filepath.Join(append([]string{".."}, parts...)...)
}

// startConfig boots a config file in-process with params (HTTP_PORT=0 is
// added so the endpoint takes a free port) and returns the base URL.
func startConfig(t *testing.T, configPath string, params map[string]string) (string, *container.Process) {
	t.Helper()
	text, err := os.ReadFile(configPath)
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]string{"HTTP_PORT": "0", "HTTP_ENABLED": "true", "LOG_LEVEL": "none"}
	for k, v := range params {
		all[k] = v
	}
	p, err := container.Build(build.Factories(), string(text), all)
	if err != nil {
		t.Fatalf("build %s: %v", configPath, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Open(ctx); err != nil {
		t.Fatalf("open %s: %v", configPath, err)
	}
	t.Cleanup(func() {
		// A connection the client dialed but never sent a request on would
		// hold the service's shutdown for net/http's 5 s: the client
		// closes its idle ones first, as a client that is done would.
		http.DefaultClient.CloseIdleConnections()
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	ep, err := container.Required[*service.Endpoint](p.References(), service.EndpointLocator)
	if err != nil {
		t.Fatal(err)
	}
	return ep.URL(), p
}

// endpointConfig is a config of the memory store and the sessions service
// whose endpoint has the options given (YAML lines indented by four).
func endpointConfig(options string) string {
	return `
- descriptor: "service-sessions:persistence:memory:default:1.0"
- descriptor: "service-sessions:controller:default:default:1.0"
- descriptor: "pip-services:endpoint:http:default:1.0"
  connection:
    port: 0
  options:
` + options + `
- descriptor: "service-sessions:service:commandable-http:default:1.0"
`
}

// startMemory boots the shipped config over the memory persistence.
func startMemory(t *testing.T) string {
	t.Helper()
	url, _ := startConfig(t, repoFile("config", "config.yml"), map[string]string{"MEMORY_ENABLED": "true"})
	return url
}

// response is what a call returned.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.Body, err)
	}
	return m
}

// call posts body (a string, bytes, a reader or a value to encode) to url + path.
func call(t *testing.T, method, url string, body any, header ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader: // of unknown length: the body is sent in chunks
		rd = b
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// command calls POST /v1/sessions/<name>.
func command(t *testing.T, base, name string, args any) response {
	t.Helper()
	return call(t, http.MethodPost, base+"/v1/sessions/"+name, args)
}

// wantStatus fails the test when r has another status.
func wantStatus(t *testing.T, r response, want int) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status: got %d; want %d (body %.500s)", r.Status, want, r.Body)
	}
}

// openSession opens a session and returns it as a map.
func openSession(t *testing.T, base string, args map[string]any) map[string]any {
	t.Helper()
	r := command(t, base, "open_session", args)
	wantStatus(t, r, http.StatusOK)
	return r.JSON(t)
}
