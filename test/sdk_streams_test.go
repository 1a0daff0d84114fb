package test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/client"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// sdkFast clamps the service's retry hint (2 s) so that reconnecting
// streams come back within milliseconds.
var sdkFast = client.WithReconnectDelay(5*time.Millisecond, 20*time.Millisecond)

// sdkStreamContext bounds a test's streams, so that a missing event fails
// the test instead of hanging it.
func sdkStreamContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// sdkStartMemoryWith boots the shipped config over the memory persistence,
// with options added to the component of descriptor.
func sdkStartMemoryWith(t *testing.T, descriptor, options string) (string, func()) {
	t.Helper()
	text, err := os.ReadFile(repoFile("config", "config.yml"))
	if err != nil {
		t.Fatal(err)
	}
	line := "- descriptor: \"" + descriptor + "\"\n"
	if !strings.Contains(string(text), line) {
		t.Fatalf("config.yml: got no %s component; want one", descriptor)
	}
	config := strings.Replace(string(text), line, line+"  options:\n"+options, 1)
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	base, p := startConfig(t, path, map[string]string{"MEMORY_ENABLED": "true"})
	return base, func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	}
}

// sdkEvent is an event as the tests expect it.
type sdkEvent struct{ Type, SessionID string }

// sdkWantEvents reads len(want) events and checks their types and
// sessions, that their ids increase, and that they carry no user or data.
func sdkWantEvents(t *testing.T, name string, s *client.EventStream, want ...sdkEvent) []*sessions.Event {
	t.Helper()
	var got []sdkEvent
	var events []*sessions.Event
	for range want {
		m, err := s.Next()
		if err != nil {
			t.Fatalf("%s: after %v: got error %v; want %v", name, got, err, want)
		}
		if m.Event == nil {
			t.Fatalf("%s: after %v: got %+v; want an event", name, got, m)
		}
		e := m.Event
		if e.Session == nil {
			t.Fatalf("%s: event %d %s: got no session", name, e.ID, e.Type)
		}
		if n := len(events); n > 0 && e.ID <= events[n-1].ID {
			t.Errorf("%s: event ids: got %d after %d; want them to increase", name, e.ID, events[n-1].ID)
		}
		if e.Session.User != nil || e.Session.Data != nil || e.Time.IsZero() {
			t.Errorf("%s: event %d: got user %s, data %s, time %v; want no user or data, and a time", name, e.ID, e.Session.User, e.Session.Data, e.Time)
		}
		if got := s.LastEventID(); got != e.ID {
			t.Errorf("%s: last event id: got %d; want %d", name, got, e.ID)
		}
		got = append(got, sdkEvent{e.Type, e.Session.ID})
		events = append(events, e)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\ngot  %v\nwant %v", name, got, want)
	}
	return events
}

func TestSDKStreamEventsInOrderWithFilters(t *testing.T) {
	base := startMemory(t)
	api := client.NewHTTP(base)
	ctx := sdkStreamContext(t)

	subscribe := func(f client.EventFilter) *client.EventStream {
		t.Helper()
		s, err := api.SubscribeEvents(ctx, f)
		if err != nil {
			t.Fatalf("subscribe %+v: %v", f, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	all := subscribe(client.EventFilter{})
	mine := subscribe(client.EventFilter{UserID: "u1", Types: []string{sessions.EventOpened, sessions.EventClosed}})
	web := subscribe(client.EventFilter{Client: "web"})

	s1, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "u1", Client: "web", User: map[string]string{"name": "Ann"}, Data: 1})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "u2", Client: "tv"})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { _, err := api.StoreSessionData(ctx, s1.ID, 2); return err },
		func() error { _, err := api.RenewSession(ctx, s1.ID); return err },
		func() error { _, err := api.CloseSession(ctx, s1.ID); return err },
		func() error { _, err := api.DeleteSessionByID(ctx, s2.ID); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	// A last event every stream gets shows that nothing else came before it.
	last, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "u1", Client: "web"})
	if err != nil {
		t.Fatal(err)
	}

	events := sdkWantEvents(t, "all", all,
		sdkEvent{sessions.EventOpened, s1.ID}, sdkEvent{sessions.EventOpened, s2.ID},
		sdkEvent{sessions.EventUpdated, s1.ID}, sdkEvent{sessions.EventRenewed, s1.ID},
		sdkEvent{sessions.EventClosed, s1.ID}, sdkEvent{sessions.EventDeleted, s2.ID},
		sdkEvent{sessions.EventOpened, last.ID})
	sdkWantEvents(t, "user_id=u1&types=opened,closed", mine,
		sdkEvent{sessions.EventOpened, s1.ID}, sdkEvent{sessions.EventClosed, s1.ID}, sdkEvent{sessions.EventOpened, last.ID})
	sdkWantEvents(t, "client=web", web,
		sdkEvent{sessions.EventOpened, s1.ID}, sdkEvent{sessions.EventUpdated, s1.ID}, sdkEvent{sessions.EventRenewed, s1.ID},
		sdkEvent{sessions.EventClosed, s1.ID}, sdkEvent{sessions.EventOpened, last.ID})

	if len(events) == 7 {
		opened, closed := events[0].Session, events[4].Session
		if opened.UserID != "u1" || opened.Client != "web" || !opened.Active || !opened.OpenTime.Equal(s1.OpenTime) {
			t.Errorf("opened: got %+v; want the active session of u1 on web, opened at %v", opened, s1.OpenTime)
		}
		if closed.Active || closed.CloseReason != sessions.ReasonClosed || closed.CloseTime.IsZero() {
			t.Errorf("closed: got active=%v reason=%q close_time=%v; want closed with a time", closed.Active, closed.CloseReason, closed.CloseTime)
		}
	}
}

func TestSDKStreamRefusesAnUnknownEventType(t *testing.T) {
	base := startMemory(t)
	ctx := sessions.WithCorrelationID(context.Background(), "types-1")
	s, err := client.NewHTTP(base).SubscribeEvents(ctx, client.EventFilter{Types: []string{sessions.EventOpened, "born"}})
	var e *sessions.Error
	if s != nil || !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != sessions.CodeInvalidData || e.CorrelationID != "types-1" {
		t.Fatalf("got %v, %v; want a 400 %s error of correlation types-1", s, err, sessions.CodeInvalidData)
	}
	if !strings.Contains(e.Message, `"born" is not an event type`) {
		t.Errorf("message: got %q; want it to name the type", e.Message)
	}
}

func TestSDKStreamResumesAfterTheLastEventID(t *testing.T) {
	base := startMemory(t)
	api := client.NewHTTP(base)
	ctx := sdkStreamContext(t)
	open := func(user string) *sessions.Session {
		t.Helper()
		s, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: user})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	first, err := api.SubscribeEvents(ctx, client.EventFilter{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	s1 := open("u1")
	sdkWantEvents(t, "before", first, sdkEvent{sessions.EventOpened, s1.ID})
	first.Close()

	// Missed while away; u2's are not for this subscriber.
	s2, _, s3 := open("u1"), open("u2"), open("u1")
	again, err := api.SubscribeEvents(ctx, client.EventFilter{UserID: "u1"}, client.WithLastEventID(first.LastEventID()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	s4 := open("u1")
	sdkWantEvents(t, "resumed", again,
		sdkEvent{sessions.EventOpened, s2.ID}, sdkEvent{sessions.EventOpened, s3.ID}, sdkEvent{sessions.EventOpened, s4.ID})
}

func TestSDKStreamResetsWhenTheBufferNoLongerReachesBack(t *testing.T) {
	base, _ := sdkStartMemoryWith(t, "service-sessions:controller:default:default:1.0", "    event_buffer: 2\n")
	api := client.NewHTTP(base)
	ctx := sdkStreamContext(t)

	first, err := api.SubscribeEvents(ctx, client.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var opened []*sessions.Session
	for range 4 {
		s, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "u1"})
		if err != nil {
			t.Fatal(err)
		}
		opened = append(opened, s)
	}
	events := sdkWantEvents(t, "before", first, sdkEvent{sessions.EventOpened, opened[0].ID}, sdkEvent{sessions.EventOpened, opened[1].ID},
		sdkEvent{sessions.EventOpened, opened[2].ID}, sdkEvent{sessions.EventOpened, opened[3].ID})
	first.Close()
	if len(events) != 4 {
		return
	}

	// The buffer keeps the last 2 events: not the one after events[0].
	again, err := api.SubscribeEvents(ctx, client.EventFilter{}, client.WithLastEventID(events[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	m, err := again.Next()
	if err != nil || m.Reset == nil {
		t.Fatalf("next: got %+v, %v; want a reset", m, err)
	}
	if m.Reset.LastID != events[3].ID || again.LastEventID() != events[3].ID {
		t.Errorf("reset: got last id %d, stream's last event id %d; want both %d", m.Reset.LastID, again.LastEventID(), events[3].ID)
	}
	s, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	sdkWantEvents(t, "after the reset", again, sdkEvent{sessions.EventOpened, s.ID})

	// A buffer that does reach back replays.
	replay, err := api.SubscribeEvents(ctx, client.EventFilter{}, client.WithLastEventID(events[3].ID))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replay.Close() })
	sdkWantEvents(t, "replayed", replay, sdkEvent{sessions.EventOpened, s.ID})
}

// sdkRelay forwards streams to the service and can cut them off and refuse
// new ones, as a restart or a network failure would.
type sdkRelay struct {
	*httptest.Server
	target string

	mu      sync.Mutex
	down    bool
	cut     chan struct{}
	lastIDs []string
}

func newSDKRelay(t *testing.T, target string) *sdkRelay {
	t.Helper()
	r := &sdkRelay{target: target, cut: make(chan struct{})}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (rl *sdkRelay) serve(w http.ResponseWriter, r *http.Request) {
	rl.mu.Lock()
	down, cut := rl.down, rl.cut
	rl.lastIDs = append(rl.lastIDs, r.Header.Get("Last-Event-ID"))
	rl.mu.Unlock()
	if down {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"category":"NoResponse","code":"RELAY_DOWN","status":503,"message":"down"}`)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, rl.target+r.URL.RequestURI(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	chunks := make(chan []byte)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 4096)
			n, err := resp.Body.Read(buf)
			if n > 0 {
				select {
				case chunks <- buf[:n]:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case <-cut:
			return
		case b, ok := <-chunks:
			if !ok {
				return
			}
			select {
			case <-cut: // a cut that came first wins over data that came since
				return
			default:
			}
			w.Write(b)
			w.(http.Flusher).Flush()
		}
	}
}

// interrupt ends every relayed stream and refuses new ones until resume.
func (rl *sdkRelay) interrupt() {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.down = true
	close(rl.cut)
	rl.cut = make(chan struct{})
}

func (rl *sdkRelay) resume() {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	rl.down = false
}

func (rl *sdkRelay) lastEventIDs() []string {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return slices.Clone(rl.lastIDs)
}

func TestSDKStreamReconnectsByItselfAndGetsWhatItMissed(t *testing.T) {
	base := startMemory(t)
	api := client.NewHTTP(base)
	rl := newSDKRelay(t, base)
	ctx := sdkStreamContext(t)

	var mu sync.Mutex
	var causes []error
	hook := client.WithReconnectHook(func(cause error, _ time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		causes = append(causes, cause)
		if e := sessions.AsError(cause); e != nil && e.Code == "RELAY_DOWN" && len(causes) == 3 {
			rl.resume() // after a few refused attempts
		}
	})
	s, err := client.NewHTTP(rl.URL).SubscribeEvents(ctx, client.EventFilter{UserID: "u1"}, sdkFast, hook)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s1, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	seen := sdkWantEvents(t, "before", s, sdkEvent{sessions.EventOpened, s1.ID})

	rl.interrupt()
	s2, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.CloseSession(ctx, s1.ID); err != nil {
		t.Fatal(err)
	}
	sdkWantEvents(t, "after", s, sdkEvent{sessions.EventOpened, s2.ID}, sdkEvent{sessions.EventClosed, s1.ID})

	ids := rl.lastEventIDs()
	if len(seen) == 1 && (len(ids) < 3 || ids[0] != "" || ids[len(ids)-1] != fmt.Sprint(seen[0].ID)) {
		t.Errorf("Last-Event-ID of the connections: got %q; want none, then %d on reconnection", ids, seen[0].ID)
	}
	mu.Lock()
	defer mu.Unlock()
	var e *sessions.Error
	if len(causes) < 2 || !errors.Is(causes[0], io.EOF) || !errors.As(causes[1], &e) || e.Code != "RELAY_DOWN" {
		t.Errorf("reconnect causes: got %v; want EOF, then the refusals", causes)
	}
}

func TestSDKStreamEndsCleanlyWhenTheServiceStops(t *testing.T) {
	base, stop := sdkStartMemoryWith(t, "pip-services:endpoint:http:default:1.0", "    shutdown_timeout: 5000\n")
	ctx := sdkStreamContext(t)
	api := client.NewHTTP(base)
	once, err := api.SubscribeEvents(ctx, client.EventFilter{}, client.WithoutReconnect())
	if err != nil {
		t.Fatal(err)
	}
	reconnecting := make(chan error, 1)
	again, err := api.SubscribeEvents(ctx, client.EventFilter{}, client.WithReconnectHook(func(cause error, _ time.Duration) {
		select {
		case reconnecting <- cause:
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	s, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	device, err := api.ListenNotifications(ctx, s.ID, client.WithoutReconnect())
	if err != nil {
		t.Fatal(err)
	}
	sdkWantEvents(t, "before", once, sdkEvent{sessions.EventOpened, s.ID})
	sdkWantEvents(t, "before", again, sdkEvent{sessions.EventOpened, s.ID})

	start := time.Now()
	stop()
	if _, err := once.Next(); err != io.EOF {
		t.Errorf("event stream: got error %v; want io.EOF", err)
	}
	if _, err := device.Next(); err != io.EOF {
		t.Errorf("device stream: got error %v; want io.EOF, without an end message", err)
	}
	errs := make(chan error, 1)
	go func() { _, err := again.Next(); errs <- err }()
	select {
	case cause := <-reconnecting:
		if !errors.Is(cause, io.EOF) {
			t.Errorf("reconnect cause: got %v; want io.EOF", cause)
		}
	case <-time.After(5 * time.Second):
		t.Error("a reconnecting stream did not try to reconnect")
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("streams ended %v after the stop; want at once", elapsed)
	}
	again.Close()
	if err := <-errs; !errors.Is(err, client.ErrStreamClosed) {
		t.Errorf("next after Close: got error %v; want ErrStreamClosed", err)
	}
}

// sdkWantEnd reads the end of a device stream.
func sdkWantEnd(t *testing.T, name string, s *client.NotificationStream, sessionID, reason string) {
	t.Helper()
	n, err := s.Next()
	var ended *client.SessionEndedError
	if n != nil || !errors.As(err, &ended) || ended.SessionID != sessionID || ended.Reason != reason {
		t.Errorf("%s: got %+v, %v; want the end of session %s, %s", name, n, err, sessionID, reason)
	}
}

func TestSDKDeviceStreamGetsNotificationsAndTheEnd(t *testing.T) {
	base := startMemory(t)
	api := client.NewHTTP(base)
	ctx := sdkStreamContext(t)
	listen := func(id string) *client.NotificationStream {
		t.Helper()
		s, err := api.ListenNotifications(ctx, id)
		if err != nil {
			t.Fatalf("listen to %s: %v", id, err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	send := func(args client.SendNotificationArgs, want int64) {
		t.Helper()
		if n, err := api.SendNotification(ctx, args); err != nil || n != want {
			t.Fatalf("send_notification %+v: got %d, %v; want %d", args, n, err, want)
		}
	}
	open := func(args client.OpenSessionArgs) *sessions.Session {
		t.Helper()
		s, err := api.OpenSession(ctx, args)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("closed", func(t *testing.T) {
		s := open(client.OpenSessionArgs{UserID: "u1", Client: "web"})
		device := listen(s.ID)
		before := time.Now().Add(-time.Second)
		send(client.SendNotificationArgs{UserID: "u1", Method: "chat", Params: map[string]string{"text": "hi"}}, 1)
		n, err := device.Next()
		if err != nil || n.Method != "chat" || string(n.Params) != `{"text":"hi"}` || time.Time(n.Time).Before(before) {
			t.Fatalf("next: got %+v, %v; want the chat notification, sent now", n, err)
		}
		if _, err := api.CloseSession(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		sdkWantEnd(t, "after close_session", device, s.ID, sessions.ReasonClosed)

		_, err = api.ListenNotifications(ctx, s.ID)
		var e *sessions.Error
		if !errors.As(err, &e) || e.Status != http.StatusNotFound || e.Code != sessions.CodeSessionNotFound {
			t.Errorf("listen to a closed session: got error %v; want 404 %s", err, sessions.CodeSessionNotFound)
		}
		_, err = api.ListenNotifications(ctx, strings.Repeat("0", 32))
		if !errors.As(err, &e) || e.Status != http.StatusNotFound || e.Code != sessions.CodeSessionNotFound {
			t.Errorf("listen to a missing session: got error %v; want 404 %s", err, sessions.CodeSessionNotFound)
		}
	})

	t.Run("evicted", func(t *testing.T) {
		if _, err := api.SetHome(ctx, &sessions.Home{ID: "family", MaxSessions: 1, Policy: sessions.PolicyEvictOldest}); err != nil {
			t.Fatal(err)
		}
		tv := open(client.OpenSessionArgs{UserID: "family", DeviceID: "tv"})
		device := listen(tv.ID)
		open(client.OpenSessionArgs{UserID: "family", DeviceID: "phone"})
		sdkWantEnd(t, "after an evicting open", device, tv.ID, sessions.ReasonEvicted)
	})

	t.Run("push address", func(t *testing.T) {
		a := open(client.OpenSessionArgs{UserID: "u2"})
		b := open(client.OpenSessionArgs{UserID: "u3"})
		for _, s := range []*sessions.Session{a, b} {
			if got, err := api.BindPushAddress(ctx, s.ID, "topic-1"); err != nil || got == nil || got.PushAddress != "topic-1" {
				t.Fatalf("bind_push_address: got %+v, %v; want topic-1", got, err)
			}
		}
		da, db := listen(a.ID), listen(b.ID)
		send(client.SendNotificationArgs{PushAddress: "topic-1", Method: "news"}, 2)
		for _, d := range []*client.NotificationStream{da, db} {
			if n, err := d.Next(); err != nil || n.Method != "news" {
				t.Errorf("next: got %+v, %v; want news", n, err)
			}
		}
		if n, err := api.CloseAddressSessions(ctx, "topic-1"); err != nil || n != 2 {
			t.Errorf("close_address_sessions: got %d, %v; want 2", n, err)
		}
		sdkWantEnd(t, "a after close_address_sessions", da, a.ID, sessions.ReasonClosed)
		sdkWantEnd(t, "b after close_address_sessions", db, b.ID, sessions.ReasonClosed)
		send(client.SendNotificationArgs{PushAddress: "topic-1", Method: "news"}, 0)
	})

	t.Run("deleted", func(t *testing.T) {
		s := open(client.OpenSessionArgs{UserID: "u4"})
		device := listen(s.ID)
		if _, err := api.DeleteSessionByID(ctx, s.ID); err != nil {
			t.Fatal(err)
		}
		sdkWantEnd(t, "after delete_session_by_id", device, s.ID, sessions.EventDeleted)
	})

	t.Run("reconnects until the session ends", func(t *testing.T) {
		rl := newSDKRelay(t, base)
		s := open(client.OpenSessionArgs{UserID: "u5"})
		device, err := client.NewHTTP(rl.URL).ListenNotifications(ctx, s.ID, sdkFast)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { device.Close() })
		rl.interrupt()
		got := make(chan error, 1)
		go func() {
			n, err := device.Next()
			if err == nil && n.Method != "back" {
				err = fmt.Errorf("got notification %s; want back", n.Method)
			}
			got <- err
		}()
		rl.resume()
		// The stream is back once a notification reaches it; until then
		// one may go to the connection that was cut, which the service
		// has not yet seen go.
		for back := false; !back; {
			if _, err := api.SendNotification(ctx, client.SendNotificationArgs{UserID: "u5", Method: "back"}); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-got:
				if err != nil {
					t.Fatal(err)
				}
				back = true
			case <-time.After(20 * time.Millisecond):
			}
		}
		if n, err := api.CloseUserSessions(ctx, "u5"); err != nil || n != 1 {
			t.Errorf("close_user_sessions: got %d, %v; want 1", n, err)
		}
		for { // past the notifications sent while it came back
			n, err := device.Next()
			if err == nil && n.Method == "back" {
				continue
			}
			var ended *client.SessionEndedError
			if !errors.As(err, &ended) || ended.SessionID != s.ID || ended.Reason != sessions.ReasonClosed {
				t.Errorf("after close_user_sessions: got %+v, %v; want the end of session %s, closed", n, err, s.ID)
			}
			break
		}
	})
}

func TestSDKStreamsNeedTheAPIKey(t *testing.T) {
	base, _ := sdkStartMemoryWith(t, "pip-services:endpoint:http:default:1.0", "    api_keys: \"k-1\"\n")
	ctx := sdkStreamContext(t)
	_, err := client.NewHTTP(base).SubscribeEvents(ctx, client.EventFilter{})
	var e *sessions.Error
	if !errors.As(err, &e) || e.Status != http.StatusUnauthorized {
		t.Errorf("without the key: got error %v; want 401", err)
	}
	api := client.NewHTTP(base, client.WithAPIKey("k-1"))
	events, err := api.SubscribeEvents(ctx, client.EventFilter{})
	if err != nil {
		t.Fatalf("with the key: %v", err)
	}
	t.Cleanup(func() { events.Close() })
	s, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	sdkWantEvents(t, "with the key", events, sdkEvent{sessions.EventOpened, s.ID})
	device, err := api.ListenNotifications(ctx, s.ID)
	if err != nil {
		t.Fatalf("device stream with the key: %v", err)
	}
	device.Close()
}
