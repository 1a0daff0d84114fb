package test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/build"
	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// sseMessage is one message of a Server-Sent Events stream; a comment has
// only Comment set.
type sseMessage struct {
	ID, Event, Data, Comment string
}

// sseStream reads an event stream in the background.
type sseStream struct {
	resp *http.Response
	msgs chan sseMessage
	done chan error // the read error at the end: io.EOF for a clean end
}

// openStream GETs an event stream and fails the test unless it starts.
func openStream(t *testing.T, url string, header ...string) *sseStream {
	t.Helper()
	s, resp := tryStream(t, url, header...)
	if s == nil {
		t.Fatalf("GET %s: got status %d (%s); want an event stream", url, resp.Status, resp.Body)
	}
	return s
}

// tryStream GETs url: an event stream, or (nil, the error response).
func tryStream(t *testing.T, url string, header ...string) (*sseStream, response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	}
	s := &sseStream{resp: resp, msgs: make(chan sseMessage, 100000), done: make(chan error, 1)}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	go s.read()
	return s, response{Status: resp.StatusCode, Header: resp.Header}
}

func (s *sseStream) read() {
	r := bufio.NewReader(s.resp.Body)
	var m sseMessage
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			close(s.msgs)
			s.done <- err
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if m != (sseMessage{}) {
				s.msgs <- m
			}
			m = sseMessage{}
		case strings.HasPrefix(line, ":"):
			s.msgs <- sseMessage{Comment: strings.TrimSpace(line[1:])}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				m.ID = value
			case "event":
				m.Event = value
			case "data":
				m.Data += value
			}
		}
	}
}

// next returns the next message that is not a comment or retry hint.
func (s *sseStream) next(t *testing.T) sseMessage {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				t.Fatalf("stream ended (%v); want another message", <-s.done)
			}
			if m.Comment == "" && m.Event != "" {
				return m
			}
		case <-deadline:
			t.Fatal("no message within 10s")
		}
	}
}

// event returns the next message as a session event.
func (s *sseStream) event(t *testing.T) sessions.Event {
	t.Helper()
	m := s.next(t)
	var e sessions.Event
	if err := json.Unmarshal([]byte(m.Data), &e); err != nil {
		t.Fatalf("event data %q: %v", m.Data, err)
	}
	if m.Event != e.Type || m.ID == "" {
		t.Fatalf("message event %q id %q carries an event of type %q; want the same type and an id", m.Event, m.ID, e.Type)
	}
	return e
}

// wantTypes reads len(types) events and checks their types and order.
func (s *sseStream) wantTypes(t *testing.T, types ...string) []sessions.Event {
	t.Helper()
	var got []sessions.Event
	for _, want := range types {
		e := s.event(t)
		if e.Type != want {
			t.Fatalf("event %d: got %s of %s; want %s", len(got), e.Type, e.Session.ID, want)
		}
		if n := len(got); n > 0 && e.ID <= got[n-1].ID {
			t.Fatalf("event ids: %d after %d; want increasing", e.ID, got[n-1].ID)
		}
		got = append(got, e)
	}
	return got
}

// wantEnd waits for the stream to end cleanly, skipping what comes before.
func (s *sseStream) wantEnd(t *testing.T) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-s.msgs:
			if !ok {
				if err := <-s.done; !errors.Is(err, io.EOF) {
					t.Fatalf("stream ended with %v; want a clean end", err)
				}
				return
			}
		case <-timeout:
			t.Fatal("stream did not end within 5s")
		}
	}
}

// startText boots a config text, as startConfig boots a file.
func startText(t *testing.T, text string, params map[string]string) (string, *container.Process) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return startConfig(t, path, params)
}

// controllerOf returns the controller of a started process.
func controllerOf(t *testing.T, p *container.Process) *logic.Controller {
	t.Helper()
	c, err := container.Required[*logic.Controller](p.References(), build.ControllerLocator)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventsConfig is a small service over memory with the given controller and
// service options (YAML lines, indented by four spaces).
func eventsConfig(controllerOptions, serviceOptions string) string {
	return `
- descriptor: "service-sessions:persistence:memory:default:1.0"
- descriptor: "service-sessions:controller:default:default:1.0"
  options:
    cleanup_interval: 0
` + controllerOptions + `
- descriptor: "pip-services:endpoint:http:default:1.0"
  connection:
    port: 0
  options:
    shutdown_timeout: 10000
- descriptor: "service-sessions:service:commandable-http:default:1.0"
  options:
` + serviceOptions + `
`
}
