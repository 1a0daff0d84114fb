package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/client"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// fast reconnects in a few milliseconds whatever retry the server sends.
var fast = client.WithReconnectDelay(5*time.Millisecond, 20*time.Millisecond)

// sseServer serves f as an event stream; attempt counts the requests from 1.
func sseServer(t *testing.T, f func(w http.ResponseWriter, r *http.Request, attempt int)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var attempts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f(w, r, int(attempts.Add(1)))
	}))
	t.Cleanup(srv.Close)
	return srv, &attempts
}

// send starts the stream (when it has not) and writes and flushes text.
func send(w http.ResponseWriter, text string) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
	}
	io.WriteString(w, text)
	w.(http.Flusher).Flush()
}

// eventText is an event message as the service writes it.
func eventText(id int64, typ, sessionID string) string {
	return fmt.Sprintf("id: %d\nevent: %s\ndata: {\"id\":%d,\"type\":%q,\"time\":\"2026-11-21T10:00:00.000Z\",\"session\":{\"id\":%q,\"user_id\":\"u1\",\"active\":true}}\n\n",
		id, typ, id, typ, sessionID)
}

// errorBody writes the service's error body.
func errorBody(w http.ResponseWriter, status int, category, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"category":%q,"code":%q,"status":%d,"message":"refused"}`, category, code, status)
}

// wantEvent reads the next message and checks it is the event id of typ.
func wantEvent(t *testing.T, s *client.EventStream, id int64, typ string) *sessions.Event {
	t.Helper()
	m, err := s.Next()
	if err != nil {
		t.Fatalf("next: got error %v; want event %d", err, id)
	}
	if m.Event == nil || m.Reset != nil {
		t.Fatalf("next: got %+v; want event %d only", m, id)
	}
	if m.Event.ID != id || m.Event.Type != typ {
		t.Fatalf("next: got event %d %s; want %d %s", m.Event.ID, m.Event.Type, id, typ)
	}
	return m.Event
}

func TestEventStreamReadsTypedEventsAndResets(t *testing.T) {
	var seen atomic.Pointer[http.Request]
	srv, _ := sseServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		seen.Store(r.Clone(context.Background()))
		send(w, "retry: 2000\n\n")
		send(w, "event: reset\ndata: {\"last_id\":90}\n\n")
		send(w, eventText(100, sessions.EventOpened, "s1"))
		send(w, ": keep-alive\n\n")
		send(w, "event: future\ndata: {\"what\":1}\n\n") // a kind this client does not know
		send(w, eventText(101, sessions.EventClosed, "s1"))
		<-r.Context().Done()
	})
	api := client.NewHTTP(srv.URL+"/", client.WithAPIKey("k-1"))
	ctx := sessions.WithCorrelationID(context.Background(), "c 1")
	s, err := api.SubscribeEvents(ctx, client.EventFilter{UserID: "u1", Client: "web",
		Types: []string{sessions.EventOpened, sessions.EventClosed}}, client.WithLastEventID(42))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	r := seen.Load()
	for _, tc := range []struct{ name, got, want string }{
		{"method", r.Method, http.MethodGet},
		{"path", r.URL.Path, "/v1/sessions/events"},
		{"user_id", r.URL.Query().Get("user_id"), "u1"},
		{"client", r.URL.Query().Get("client"), "web"},
		{"types", r.URL.Query().Get("types"), "opened,closed"},
		{"correlation_id", r.URL.Query().Get("correlation_id"), "c 1"},
		{"Last-Event-ID", r.Header.Get("Last-Event-ID"), "42"},
		{"Authorization", r.Header.Get("Authorization"), "Bearer k-1"},
		{"Accept", r.Header.Get("Accept"), "text/event-stream"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q; want %q", tc.name, tc.got, tc.want)
		}
	}
	if got := s.LastEventID(); got != 42 {
		t.Errorf("last event id before any: got %d; want 42", got)
	}

	m, err := s.Next()
	if err != nil || m.Reset == nil || m.Event != nil || m.Reset.LastID != 90 {
		t.Fatalf("next: got %+v, %v; want a reset with last id 90", m, err)
	}
	if got := s.LastEventID(); got != 90 {
		t.Errorf("last event id after the reset: got %d; want 90", got)
	}
	e := wantEvent(t, s, 100, sessions.EventOpened)
	want := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	if !e.Time.Equal(want) || e.Session == nil || e.Session.ID != "s1" || e.Session.UserID != "u1" || !e.Session.Active {
		t.Errorf("event: got time %v session %+v; want %v and active session s1 of u1", e.Time, e.Session, want)
	}
	if got := s.LastEventID(); got != 100 {
		t.Errorf("last event id: got %d; want 100", got)
	}
	wantEvent(t, s, 101, sessions.EventClosed)
}

func TestEventStreamReconnectsWithTheLastEventID(t *testing.T) {
	lastIDs := make(chan string, 10)
	srv, attempts := sseServer(t, func(w http.ResponseWriter, r *http.Request, attempt int) {
		lastIDs <- r.Header.Get("Last-Event-ID")
		switch attempt {
		case 1:
			send(w, "retry: 10\n\n"+eventText(1, sessions.EventOpened, "s1")+eventText(2, sessions.EventRenewed, "s1"))
			// and the service cuts the subscriber off: EOF
		case 2:
			errorBody(w, http.StatusServiceUnavailable, sessions.CategoryNoResponse, sessions.CodeServiceStopping)
		case 3:
			send(w, "event: reset\ndata: {\"last_id\":7}\n\n")
			send(w, ": the service is stopping\n\n")
		case 4:
			send(w, eventText(8, sessions.EventClosed, "s1"))
			<-r.Context().Done()
		}
	})
	type hookCall struct {
		cause error
		wait  time.Duration
	}
	var mu sync.Mutex
	var calls []hookCall
	hook := client.WithReconnectHook(func(cause error, wait time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, hookCall{cause, wait})
	})
	s, err := client.NewHTTP(srv.URL).SubscribeEvents(context.Background(), client.EventFilter{}, fast, hook)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	wantEvent(t, s, 1, sessions.EventOpened)
	wantEvent(t, s, 2, sessions.EventRenewed)
	if m, err := s.Next(); err != nil || m.Reset == nil || m.Reset.LastID != 7 {
		t.Fatalf("next: got %+v, %v; want a reset with last id 7", m, err)
	}
	wantEvent(t, s, 8, sessions.EventClosed)

	if n := attempts.Load(); n != 4 {
		t.Errorf("connections: got %d; want 4", n)
	}
	for i, want := range []string{"", "2", "2", "7"} {
		if got := <-lastIDs; got != want {
			t.Errorf("connection %d: Last-Event-ID got %q; want %q", i+1, got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 3 {
		t.Fatalf("reconnect hook: got %d calls; want 3", len(calls))
	}
	var e *sessions.Error
	if !errors.Is(calls[0].cause, io.EOF) || !errors.As(calls[1].cause, &e) || e.Code != sessions.CodeServiceStopping || !errors.Is(calls[2].cause, io.EOF) {
		t.Errorf("reconnect causes: got %v, %v, %v; want EOF, SERVICE_STOPPING, EOF", calls[0].cause, calls[1].cause, calls[2].cause)
	}
	// The service's retry (10ms) is the first wait; a failure doubles it.
	for i, max := range []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 10 * time.Millisecond} {
		if w := calls[i].wait; w < max/2 || w > max {
			t.Errorf("wait %d: got %v; want between %v and %v", i+1, w, max/2, max)
		}
	}
}

func TestEventStreamEndsWhenTheServiceRefusesToResume(t *testing.T) {
	srv, attempts := sseServer(t, func(w http.ResponseWriter, r *http.Request, attempt int) {
		if attempt == 1 {
			send(w, eventText(1, sessions.EventOpened, "s1"))
			return
		}
		errorBody(w, http.StatusUnauthorized, sessions.CategoryUnauthorized, sessions.CodeUnauthorized)
	})
	s, err := client.NewHTTP(srv.URL).SubscribeEvents(context.Background(), client.EventFilter{}, fast)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	wantEvent(t, s, 1, sessions.EventOpened)
	for range 2 { // and again on every later call
		_, err := s.Next()
		var e *sessions.Error
		if !errors.As(err, &e) || e.Status != http.StatusUnauthorized || e.Code != sessions.CodeUnauthorized {
			t.Fatalf("next: got error %v; want the service's 401 %s", err, sessions.CodeUnauthorized)
		}
	}
	if n := attempts.Load(); n != 2 {
		t.Errorf("connections: got %d; want 2 (no retry of a refusal)", n)
	}
}

func TestEventStreamReconnectsPastAPageThatIsNoEventStream(t *testing.T) {
	srv, attempts := sseServer(t, func(w http.ResponseWriter, r *http.Request, attempt int) {
		switch attempt {
		case 1:
			send(w, eventText(1, sessions.EventOpened, "s1"))
		case 2: // a proxy's page while the service restarts
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>down for maintenance</html>")
		case 3:
			w.WriteHeader(http.StatusNoContent)
		default:
			send(w, eventText(2, sessions.EventClosed, "s1"))
			<-r.Context().Done()
		}
	})
	s, err := client.NewHTTP(srv.URL).SubscribeEvents(context.Background(), client.EventFilter{}, fast)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	wantEvent(t, s, 1, sessions.EventOpened)
	wantEvent(t, s, 2, sessions.EventClosed)
	if n := attempts.Load(); n != 4 {
		t.Errorf("connections: got %d; want 4", n)
	}
}

func TestSubscribeEventsReturnsAFailedFirstAttempt(t *testing.T) {
	for _, tc := range []struct {
		name     string
		serve    func(w http.ResponseWriter)
		wantCode string
	}{
		{"refusal", func(w http.ResponseWriter) {
			errorBody(w, http.StatusBadRequest, sessions.CategoryBadRequest, sessions.CodeInvalidData)
		}, sessions.CodeInvalidData},
		{"server failure", func(w http.ResponseWriter) {
			errorBody(w, http.StatusServiceUnavailable, sessions.CategoryNoResponse, sessions.CodeServiceStopping)
		}, sessions.CodeServiceStopping},
		{"not an event stream", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>a login page</html>")
		}, client.CodeUnexpectedResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, attempts := sseServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) { tc.serve(w) })
			ctx := sessions.WithCorrelationID(context.Background(), "c-2")
			s, err := client.NewHTTP(srv.URL).SubscribeEvents(ctx, client.EventFilter{Types: []string{"born"}}, fast)
			var e *sessions.Error
			if s != nil || !errors.As(err, &e) || e.Code != tc.wantCode || e.CorrelationID != "c-2" {
				t.Fatalf("got %v, %v; want no stream and a %s error of correlation c-2", s, err, tc.wantCode)
			}
			if n := attempts.Load(); n != 1 {
				t.Errorf("attempts: got %d; want 1", n)
			}
		})
	}
}

func TestStreamOutlivesTheClientTimeout(t *testing.T) {
	srv, _ := sseServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		send(w, "retry: 2000\n\n")
		time.Sleep(4 * time.Second) // well past the timeout
		send(w, eventText(1, sessions.EventOpened, "s1"))
		<-r.Context().Done()
	})
	// Long enough for the headers to arrive within it on a loaded machine:
	// the stream must outlive it, not its start.
	const timeout = time.Second
	for _, tc := range []struct {
		name string
		opt  client.Option
	}{
		{"WithTimeout", client.WithTimeout(timeout)},
		{"http.Client.Timeout", client.WithHTTPClient(&http.Client{Timeout: timeout})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := client.NewHTTP(srv.URL, tc.opt).SubscribeEvents(context.Background(), client.EventFilter{}, client.WithoutReconnect())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			wantEvent(t, s, 1, sessions.EventOpened)
		})
	}
}

func TestStreamTimesOutWaitingForTheService(t *testing.T) {
	srv, _ := sseServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select { // never answers
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	for _, tc := range []struct {
		name string
		opt  client.Option
	}{
		{"WithTimeout", client.WithTimeout(50 * time.Millisecond)},
		{"http.Client.Timeout", client.WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := client.NewHTTP(srv.URL, tc.opt).ListenNotifications(context.Background(), "s1")
			if !errors.Is(err, context.DeadlineExceeded) || sessions.AsError(err) != nil {
				t.Errorf("got error %v; want a transport error wrapping context.DeadlineExceeded", err)
			}
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("took %v; want about 50ms", elapsed)
			}
		})
	}
}

func TestStreamIdleTimeoutReconnects(t *testing.T) {
	lastIDs := make(chan string, 10)
	srv, attempts := sseServer(t, func(w http.ResponseWriter, r *http.Request, attempt int) {
		lastIDs <- r.Header.Get("Last-Event-ID")
		if attempt == 1 {
			send(w, "retry: 10\n\n"+eventText(4, sessions.EventOpened, "s1")) // and silence: a dead link
			<-r.Context().Done()
			return
		}
		send(w, eventText(5, sessions.EventClosed, "s1"))
		<-r.Context().Done()
	})
	var cause atomic.Pointer[error]
	s, err := client.NewHTTP(srv.URL).SubscribeEvents(context.Background(), client.EventFilter{}, fast,
		client.WithIdleTimeout(50*time.Millisecond),
		client.WithReconnectHook(func(err error, _ time.Duration) { cause.Store(&err) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	wantEvent(t, s, 4, sessions.EventOpened)
	wantEvent(t, s, 5, sessions.EventClosed)
	if n := attempts.Load(); n != 2 {
		t.Errorf("connections: got %d; want 2", n)
	}
	if first, second := <-lastIDs, <-lastIDs; first != "" || second != "4" {
		t.Errorf("Last-Event-ID: got %q then %q; want none then 4", first, second)
	}
	if c := cause.Load(); c == nil || !errors.Is(*c, context.DeadlineExceeded) {
		t.Errorf("reconnect cause: got %v; want an idle timeout", c)
	}
}

func TestEventStreamResetsWhenItReconnectsWithoutAnID(t *testing.T) {
	lastIDs := make(chan string, 10)
	srv, _ := sseServer(t, func(w http.ResponseWriter, r *http.Request, attempt int) {
		lastIDs <- r.Header.Get("Last-Event-ID")
		if attempt == 1 {
			send(w, "retry: 10\n\n") // and EOF before any event
			return
		}
		send(w, eventText(9, sessions.EventOpened, "s1"))
		<-r.Context().Done()
	})
	s, err := client.NewHTTP(srv.URL).SubscribeEvents(context.Background(), client.EventFilter{}, fast)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if m, err := s.Next(); err != nil || m.Reset == nil || m.Reset.LastID != 0 {
		t.Fatalf("next: got %+v, %v; want a reset without a last id", m, err)
	}
	wantEvent(t, s, 9, sessions.EventOpened)
	if first, second := <-lastIDs, <-lastIDs; first != "" || second != "" {
		t.Errorf("Last-Event-ID: got %q then %q; want none", first, second)
	}
}

func TestEventStreamTakesAResetWhoseDataItCannotRead(t *testing.T) {
	srv, _ := sseServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		send(w, eventText(3, sessions.EventOpened, "s1")+"event: reset\ndata: {\"last_id\":\n\n"+eventText(4, sessions.EventClosed, "s1"))
		<-r.Context().Done()
	})
	s, err := client.NewHTTP(srv.URL).SubscribeEvents(context.Background(), client.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	wantEvent(t, s, 3, sessions.EventOpened)
	if m, err := s.Next(); err != nil || m.Reset == nil || m.Reset.LastID != 0 {
		t.Fatalf("next: got %+v, %v; want a reset without a last id", m, err)
	}
	if got := s.LastEventID(); got != 3 {
		t.Errorf("last event id: got %d; want 3, kept", got)
	}
	wantEvent(t, s, 4, sessions.EventClosed)
}

func TestStreamWithoutReconnectEndsWithEOF(t *testing.T) {
	srv, attempts := sseServer(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		send(w, eventText(1, sessions.EventOpened, "s1")+"id: 2\nevent: renewed\ndata: {\"id\":2") // cut short
	})
	s, err := client.NewHTTP(srv.URL).SubscribeEvents(context.Background(), client.EventFilter{}, client.WithoutReconnect())
	if err != nil {
		t.Fatal(err)
	}
	wantEvent(t, s, 1, sessions.EventOpened)
	if _, err := s.Next(); err != io.EOF {
		t.Errorf("next: got error %v; want io.EOF", err)
	}
	if got := s.LastEventID(); got != 1 {
		t.Errorf("last event id: got %d; want 1, not the id of the unfinished message", got)
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("connections: got %d; want 1", n)
	}
}

func TestStreamCloseAndContextEndNext(t *testing.T) {
	srv, _ := sseServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		send(w, "retry: 2000\n\n")
		<-r.Context().Done()
	})
	api := client.NewHTTP(srv.URL)

	t.Run("Close", func(t *testing.T) {
		s, err := api.SubscribeEvents(context.Background(), client.EventFilter{})
		if err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(20*time.Millisecond, func() { s.Close() })
		for range 2 {
			if _, err := s.Next(); !errors.Is(err, client.ErrStreamClosed) {
				t.Errorf("next: got error %v; want ErrStreamClosed", err)
			}
		}
	})
	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		s, err := api.ListenNotifications(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		time.AfterFunc(20*time.Millisecond, cancel)
		if _, err := s.Next(); !errors.Is(err, context.Canceled) {
			t.Errorf("next: got error %v; want context.Canceled", err)
		}
	})
	t.Run("Close while waiting to reconnect", func(t *testing.T) {
		srv, _ := sseServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			send(w, "retry: 60000\n\n") // and EOF: the wait is a minute
		})
		s, err := client.NewHTTP(srv.URL).SubscribeEvents(context.Background(), client.EventFilter{})
		if err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(20*time.Millisecond, func() { s.Close() })
		start := time.Now()
		if _, err := s.Next(); !errors.Is(err, client.ErrStreamClosed) || time.Since(start) > 5*time.Second {
			t.Errorf("next: got error %v after %v; want ErrStreamClosed at once", err, time.Since(start))
		}
	})
}

func TestStreamRejectsAMessageItCannotDecode(t *testing.T) {
	srv, _ := sseServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		send(w, "id: 1\nevent: opened\ndata: [1, 2]\n\n")
		<-r.Context().Done()
	})
	s, err := client.NewHTTP(srv.URL).SubscribeEvents(context.Background(), client.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Next(); err == nil || !strings.Contains(err.Error(), "decode opened event 1") {
		t.Errorf("next: got error %v; want a decoding error", err)
	}
}

func TestNotificationStreamEndsWithTheSessionsReason(t *testing.T) {
	var seen atomic.Pointer[http.Request]
	srv, attempts := sseServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		seen.Store(r.Clone(context.Background()))
		send(w, "retry: 10\n\n")
		send(w, "event: notification\ndata: {\"method\":\"chat\",\"params\":{\"text\":\"hi\"},\"time\":\"2026-11-21T10:00:00.000Z\"}\n\n")
		send(w, "event: end\ndata: {\"session_id\":\"s 1\",\"reason\":\"evicted\"}\n\n")
	})
	s, err := client.NewHTTP(srv.URL).ListenNotifications(context.Background(), "s 1", fast)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if r := seen.Load(); r.URL.Path != "/v1/sessions/notifications" || r.URL.Query().Get("session_id") != "s 1" {
		t.Errorf("request: got %s; want /v1/sessions/notifications?session_id=s+1", r.URL)
	}

	n, err := s.Next()
	if err != nil || n.Method != "chat" || string(n.Params) != `{"text":"hi"}` ||
		!time.Time(n.Time).Equal(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("next: got %+v, %v; want the chat notification", n, err)
	}
	for range 2 { // and again on every later call
		n, err := s.Next()
		var ended *client.SessionEndedError
		if n != nil || !errors.As(err, &ended) || ended.SessionID != "s 1" || ended.Reason != sessions.ReasonEvicted {
			t.Fatalf("next: got %v, %v; want the session's end, evicted", n, err)
		}
	}
	time.Sleep(50 * time.Millisecond) // time enough for a reconnection it must not make
	if n := attempts.Load(); n != 1 {
		t.Errorf("connections: got %d; want 1", n)
	}
}

func TestNotificationStreamReconnectsUntilTheSessionIsGone(t *testing.T) {
	lastIDs := make(chan string, 10)
	srv, attempts := sseServer(t, func(w http.ResponseWriter, r *http.Request, attempt int) {
		lastIDs <- r.Header.Get("Last-Event-ID")
		switch attempt {
		case 1:
			send(w, "retry: 10\n\nevent: notification\ndata: {\"method\":\"a\",\"time\":\"2026-11-21T10:00:00.000Z\"}\n\n")
			send(w, ": the service is stopping\n\n")
		case 2:
			send(w, "event: notification\ndata: {\"method\":\"b\",\"time\":\"2026-11-21T10:00:00.000Z\"}\n\n")
		default:
			errorBody(w, http.StatusNotFound, sessions.CategoryNotFound, sessions.CodeSessionNotFound)
		}
	})
	s, err := client.NewHTTP(srv.URL).ListenNotifications(context.Background(), "s1", fast)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, want := range []string{"a", "b"} {
		if n, err := s.Next(); err != nil || n.Method != want {
			t.Fatalf("next: got %+v, %v; want notification %s", n, err, want)
		}
	}
	_, err = s.Next()
	var e *sessions.Error
	if !errors.As(err, &e) || e.Code != sessions.CodeSessionNotFound || e.Status != http.StatusNotFound {
		t.Fatalf("next: got error %v; want the service's 404 %s", err, sessions.CodeSessionNotFound)
	}
	if n := attempts.Load(); n != 3 {
		t.Errorf("connections: got %d; want 3", n)
	}
	for i := range 3 {
		if got := <-lastIDs; got != "" {
			t.Errorf("connection %d: Last-Event-ID got %q; want none", i+1, got)
		}
	}
}

func ExampleHTTP_SubscribeEvents() {
	// A stand-in for the service: two events of user u1.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		send(w, "retry: 2000\n\n"+eventText(1, sessions.EventOpened, "s1")+eventText(2, sessions.EventClosed, "s1"))
		<-r.Context().Done()
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	api := client.NewHTTP(srv.URL)
	events, err := api.SubscribeEvents(ctx, client.EventFilter{UserID: "u1", Types: []string{sessions.EventOpened, sessions.EventClosed}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer events.Close()
	for range 2 {
		m, err := events.Next()
		switch {
		case err != nil:
			fmt.Println(err)
			return
		case m.Reset != nil:
			fmt.Println("some events were lost: re-read the sessions")
		default:
			fmt.Println(m.Event.ID, m.Event.Type, m.Event.Session.ID)
		}
	}
	fmt.Println("resume after", events.LastEventID())
	// Output:
	// 1 opened s1
	// 2 closed s1
	// resume after 2
}
