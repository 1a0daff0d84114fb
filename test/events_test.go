package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

func TestEveryChangeOfASessionIsAnEventInOrder(t *testing.T) {
	base := startMemory(t)
	events := openStream(t, base+"/v1/sessions/events")

	s := openSession(t, base, map[string]any{"user_id": "u1", "client": "web", "data": map[string]any{"secret": 1}})
	id := s["id"].(string)
	wantStatus(t, command(t, base, "renew_session", map[string]any{"session_id": id}), http.StatusOK)
	wantStatus(t, command(t, base, "store_session_data", map[string]any{"session_id": id, "data": "d"}), http.StatusOK)
	wantStatus(t, command(t, base, "update_session_user", map[string]any{"session_id": id, "user": "u"}), http.StatusOK)
	wantStatus(t, command(t, base, "update_session_details", map[string]any{"session_id": id, "details": map[string]string{"k": "v"}}), http.StatusOK)
	wantStatus(t, command(t, base, "bind_push_address", map[string]any{"session_id": id, "address": "a1"}), http.StatusOK)
	wantStatus(t, command(t, base, "close_session", map[string]any{"session_id": id}), http.StatusOK)
	wantStatus(t, command(t, base, "close_session", map[string]any{"session_id": id}), http.StatusOK) // already closed: no event
	wantStatus(t, command(t, base, "delete_session_by_id", map[string]any{"session_id": id}), http.StatusOK)

	got := events.wantTypes(t, "opened", "renewed", "updated", "updated", "updated", "updated", "closed", "deleted")
	for _, e := range got {
		if e.Session == nil || e.Session.ID != id || e.Session.UserID != "u1" {
			t.Fatalf("%s event: got session %+v; want session %s of u1", e.Type, e.Session, id)
		}
		if e.Session.User != nil || e.Session.Data != nil {
			t.Errorf("%s event: got user %s, data %s; want neither", e.Type, e.Session.User, e.Session.Data)
		}
		if e.Time.IsZero() {
			t.Errorf("%s event: no time", e.Type)
		}
	}
	if got[4].Session.Details["k"] != "v" || got[5].Session.PushAddress != "a1" {
		t.Errorf("updated events: got details %v, push address %q; want the state after each change",
			got[4].Session.Details, got[5].Session.PushAddress)
	}
	if got[6].Session.Active || got[6].Session.CloseReason != "closed" {
		t.Errorf("closed event: got active %v reason %q; want the closed session", got[6].Session.Active, got[6].Session.CloseReason)
	}
}

func TestEventsAreFilteredByUserClientAndType(t *testing.T) {
	base := startMemory(t)
	byUser := openStream(t, base+"/v1/sessions/events?user_id=u1")
	byClient := openStream(t, base+"/v1/sessions/events?client=tv")
	byType := openStream(t, base+"/v1/sessions/events?types=closed,deleted")
	// A list may also be given as query builders write one: a key per value.
	byRepeatedType := openStream(t, base+"/v1/sessions/events?types=deleted&types=opened&client=web&client=web")

	a := openSession(t, base, map[string]any{"user_id": "u1", "client": "web"})["id"].(string)
	b := openSession(t, base, map[string]any{"user_id": "u2", "client": "tv"})["id"].(string)
	wantStatus(t, command(t, base, "close_session", map[string]any{"session_id": b}), http.StatusOK)
	wantStatus(t, command(t, base, "delete_session_by_id", map[string]any{"session_id": a}), http.StatusOK)

	for _, tt := range []struct {
		name   string
		stream *sseStream
		want   []string // type:session
	}{
		{"user_id", byUser, []string{"opened:" + a, "deleted:" + a}},
		{"client", byClient, []string{"opened:" + b, "closed:" + b}},
		{"types", byType, []string{"closed:" + b, "deleted:" + a}},
		{"types given twice", byRepeatedType, []string{"opened:" + a, "deleted:" + a}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, want := range tt.want {
				e := tt.stream.event(t)
				if got := e.Type + ":" + e.Session.ID; got != want {
					t.Fatalf("got %s; want %s", got, want)
				}
			}
		})
	}

	for _, query := range []string{
		"types=opened,exploded",
		"types=opened&types=exploded",
		"user_id=u1&user_id=u2", // one of them must not be dropped in silence
		"client=tv&client=web",
		"user_id=" + strings.Repeat("u", 1025), // longer than a filter value may be
		// A pair that cannot be read would be dropped, and its filter with it.
		"user_id=%zz",
		"user_id=carol;x",
		"types=closed;expired&user_id=u1",
	} {
		if s, r := tryStream(t, base+"/v1/sessions/events?"+query); s != nil || r.JSON(t)["code"] != sessions.CodeInvalidData {
			t.Errorf("%s: got status %d %s; want 400 INVALID_DATA", query, r.Status, r.Body)
		}
	}
	if s, r := tryStream(t, base+"/v1/sessions/notifications?session_id="+a+"&x=%zz"); s != nil || r.JSON(t)["code"] != sessions.CodeInvalidData {
		t.Errorf("a pair that cannot be read: got status %d %s; want 400 INVALID_DATA", r.Status, r.Body)
	}
	if s, r := tryStream(t, base+"/v1/sessions/notifications?session_id="+a+"&session_id="+b); s != nil || r.Status != http.StatusBadRequest {
		t.Errorf("two session ids: got status %d %s; want 400", r.Status, r.Body)
	}
	// As long as a command's session_id may be.
	if s, r := tryStream(t, base+"/v1/sessions/notifications?session_id="+strings.Repeat("s", 65)); s != nil || r.JSON(t)["code"] != sessions.CodeInvalidData {
		t.Errorf("a session id longer than any: got status %d %s; want 400 INVALID_DATA", r.Status, r.Body)
	}
	wantStatus(t, call(t, http.MethodGet, base+"/v1/sessions/events", nil, "Last-Event-ID", "yesterday"), http.StatusBadRequest)
}

func TestAReconnectingSubscriberGetsWhatItMissedOrAReset(t *testing.T) {
	base, _ := startText(t, eventsConfig("    event_buffer: 5", "    keep_alive: 15000"), nil)
	first := openStream(t, base+"/v1/sessions/events")
	id := openSession(t, base, map[string]any{"user_id": "u1"})["id"].(string)
	seen := first.event(t)

	// Missed while away: two events, well inside the buffer of 5.
	wantStatus(t, command(t, base, "renew_session", map[string]any{"session_id": id}), http.StatusOK)
	wantStatus(t, command(t, base, "close_session", map[string]any{"session_id": id}), http.StatusOK)
	resumed := openStream(t, base+"/v1/sessions/events", "Last-Event-ID", strconv.FormatInt(seen.ID, 10))
	resumed.wantTypes(t, "renewed", "closed")
	// The query parameter works as the header does, for clients that cannot set headers.
	byParam := openStream(t, base+"/v1/sessions/events?last_event_id="+strconv.FormatInt(seen.ID, 10))
	byParam.wantTypes(t, "renewed", "closed")

	// Six more events push the first ones out of the buffer of 5.
	for range 6 {
		openSession(t, base, map[string]any{"user_id": "u2"})
	}
	late := openStream(t, base+"/v1/sessions/events", "Last-Event-ID", strconv.FormatInt(seen.ID, 10))
	m := late.next(t)
	var reset struct {
		LastID int64 `json:"last_id"`
	}
	if err := json.Unmarshal([]byte(m.Data), &reset); err != nil || m.Event != sessions.StreamReset ||
		reset.LastID == 0 || m.ID != strconv.FormatInt(reset.LastID, 10) {
		t.Fatalf("got %+v (%v); want a reset message with its last_id as its id", m, err)
	}
	// After the reset the stream goes on live.
	openSession(t, base, map[string]any{"user_id": "u3"})
	if e := late.event(t); e.Type != "opened" || e.Session.UserID != "u3" {
		t.Errorf("after reset: got %s of %s; want opened of u3", e.Type, e.Session.UserID)
	}
}

// An idle event stream is kept alive with id-only messages that carry the
// newest position, so a subscriber whose filter matches little still
// resumes inside the replay buffer after others' events filled it.
func TestIdleStreamsKeepTheirPositionAlive(t *testing.T) {
	base, _ := startText(t, eventsConfig("    event_buffer: 2", "    keep_alive: 50"), nil)
	quiet := openStream(t, base+"/v1/sessions/events?user_id=u1")
	start := <-quiet.msgs // the position a new subscriber is given
	for range 3 {
		openSession(t, base, map[string]any{"user_id": "u2"})
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m := <-quiet.msgs:
			if m.Event != "" || m.Data != "" {
				t.Fatalf("the stream of u1 got %+v; want only positions", m)
			}
			if m.ID == "" || m.ID == start.ID {
				continue
			}
			resumed := openStream(t, base+"/v1/sessions/events?user_id=u1", "Last-Event-ID", m.ID)
			if first := <-resumed.msgs; first.Event == sessions.StreamReset {
				t.Errorf("resuming from the kept-alive position %s: got a reset; want none, nothing was missed", m.ID)
			}
			return
		case <-deadline:
			t.Fatalf("no new position within 5s; the stream started at %q", start.ID)
		}
	}
}

// TestASubscriberThatNeverReadsIsCutOffAndDoesNotSlowTheService opens 10
// 000 sessions at full speed while one subscriber never reads its stream:
// every open succeeds, the subscriber is cut off and counted, and a reading
// subscriber keeps getting events.
func TestASubscriberThatNeverReadsIsCutOffAndDoesNotSlowTheService(t *testing.T) {
	silentSubscriber(t, "    subscriber_buffer: 64", "    write_timeout: 500")
}

// TestASubscriberWhoseQueueHoldsAllIsCutOffByTheWriteTimeout is the same
// with a queue that holds every event: the write timeout, not the queue,
// cuts the subscriber off, and it is counted all the same.
func TestASubscriberWhoseQueueHoldsAllIsCutOffByTheWriteTimeout(t *testing.T) {
	silentSubscriber(t, "    subscriber_buffer: 65536", "    write_timeout: 200")
}

func silentSubscriber(t *testing.T, subscriberBuffer, writeTimeout string) {
	t.Helper()
	base, p := startText(t, eventsConfig(subscriberBuffer, writeTimeout), nil)
	hub := controllerOf(t, p).Events()

	// A raw connection with a tiny receive window that asks for the stream
	// and then never reads a byte.
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(1024)
	fmt.Fprintf(conn, "GET /v1/sessions/events HTTP/1.1\r\nHost: test\r\n\r\n")
	waitFor(t, "the silent subscriber to be connected", func() bool { n, _ := hub.Subscribers(); return n == 1 })

	details := map[string]string{}
	// 4 KB an event, 40 MB in all: more than any socket buffers hold.
	for k := range 16 {
		details[strconv.Itoa(k)] = strings.Repeat("x", 250)
	}
	const total, workers = 10000, 8
	var wg sync.WaitGroup
	var failed sync.Map
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for w := range workers {
		wg.Go(func() {
			for i := w; i < total; i += workers {
				body := fmt.Sprintf(`{"user_id":"u%d","details":%s}`, i, mustJSON(details))
				resp, err := client.Post(base+"/v1/sessions/open_session", "application/json", strings.NewReader(body))
				if err != nil {
					failed.Store(i, err.Error())
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Store(i, resp.Status)
				}
			}
		})
	}
	wg.Wait()
	failed.Range(func(k, v any) bool {
		t.Errorf("open %v failed: %v", k, v)
		return false
	})
	waitFor(t, "the silent subscriber to be cut off", func() bool { return hub.Dropped() == 1 })
	if n, _ := hub.Subscribers(); n != 0 {
		t.Errorf("subscribers after the cut: got %d; want 0", n)
	}
	// The service still serves subscribers that read.
	events := openStream(t, base+"/v1/sessions/events")
	openSession(t, base, map[string]any{"user_id": "after"})
	if e := events.event(t); e.Session.UserID != "after" {
		t.Errorf("got %s of %s; want opened of after", e.Type, e.Session.UserID)
	}
}

// An instance holds at most max_subscribers event streams and
// max_device_streams device streams; one more is 503 TOO_MANY_STREAMS,
// which a client retries later.
func TestStreamsPastTheLimitsAreRefusedForLater(t *testing.T) {
	base, _ := startText(t, eventsConfig("    max_subscribers: 1\n    max_device_streams: 1", ""), nil)
	id := openSession(t, base, map[string]any{"user_id": "u1"})["id"].(string)
	openStream(t, base+"/v1/sessions/events")
	openStream(t, base+"/v1/sessions/notifications?session_id="+id)
	for _, url := range []string{"/v1/sessions/events", "/v1/sessions/notifications?session_id=" + id} {
		s, r := tryStream(t, base+url)
		if s != nil {
			t.Fatalf("GET %s: got a stream; want it refused", url)
		}
		wantStatus(t, r, http.StatusServiceUnavailable)
		if code := r.JSON(t)["code"]; code != sessions.CodeTooManyStreams {
			t.Errorf("GET %s: code %v; want %s", url, code, sessions.CodeTooManyStreams)
		}
	}
}

// One session holds at most max_session_streams device streams, so that
// one client cannot take the places of every other device.
func TestOneSessionsStreamsAreLimited(t *testing.T) {
	base, _ := startText(t, eventsConfig("    max_session_streams: 2", ""), nil)
	crowded := openSession(t, base, map[string]any{"user_id": "u1"})["id"].(string)
	other := openSession(t, base, map[string]any{"user_id": "u2"})["id"].(string)
	openStream(t, base+"/v1/sessions/notifications?session_id="+crowded)
	openStream(t, base+"/v1/sessions/notifications?session_id="+crowded)
	s, r := tryStream(t, base+"/v1/sessions/notifications?session_id="+crowded)
	if s != nil || r.Status != http.StatusServiceUnavailable || r.JSON(t)["code"] != sessions.CodeTooManyStreams ||
		!strings.Contains(r.JSON(t)["message"].(string), "this session") {
		t.Errorf("a third stream of the session: got status %d %s; want 503 TOO_MANY_STREAMS naming the session's limit", r.Status, r.Body)
	}
	openStream(t, base+"/v1/sessions/notifications?session_id="+other)
}

// An idle device stream gets a keep-alive comment every keep_alive, so
// that proxies and the client see it is still there.
func TestAnIdleDeviceStreamGetsKeepAliveComments(t *testing.T) {
	base, _ := startText(t, eventsConfig("", "    keep_alive: 50"), nil)
	id := openSession(t, base, map[string]any{"user_id": "u1", "device_id": "tv"})["id"].(string)
	stream := openStream(t, base+"/v1/sessions/notifications?session_id="+id)
	deadline := time.After(5 * time.Second)
	for comments := 0; comments < 2; {
		select {
		case m := <-stream.msgs:
			switch {
			case m.Comment == "keep-alive":
				comments++
			case m.Event != "" || m.Data != "":
				t.Fatalf("the idle device stream got %+v; want keep-alive comments only", m)
			}
		case <-deadline:
			t.Fatalf("%d keep-alive comments within 5 s; want 2, one every 50 ms", comments)
		}
	}
}

func TestDeviceStreamsGetNotificationsAndTheEndOfTheirSession(t *testing.T) {
	base := startMemory(t)
	a := openSession(t, base, map[string]any{"user_id": "u1", "client": "phone"})["id"].(string)
	b := openSession(t, base, map[string]any{"user_id": "u1", "client": "laptop"})["id"].(string)
	other := openSession(t, base, map[string]any{"user_id": "u2"})["id"].(string)
	streamA := openStream(t, base+"/v1/sessions/notifications?session_id="+a)
	streamB := openStream(t, base+"/v1/sessions/notifications?session_id="+b)
	streamOther := openStream(t, base+"/v1/sessions/notifications?session_id="+other)

	r := command(t, base, "send_notification", map[string]any{"user_id": "u1", "method": "chat", "params": map[string]any{"text": "hi"}})
	wantStatus(t, r, http.StatusOK)
	if string(r.Body) != "2" {
		t.Errorf("send_notification to u1: got %s; want 2 streams", r.Body)
	}
	for _, s := range []*sseStream{streamA, streamB} {
		m := s.next(t)
		var n sessions.Notification
		if err := json.Unmarshal([]byte(m.Data), &n); err != nil || m.Event != sessions.StreamNotification ||
			n.Method != "chat" || string(n.Params) != `{"text":"hi"}` || time.Time(n.Time).IsZero() {
			t.Errorf("got %+v (%v); want the chat notification", m, err)
		}
	}

	// Logout from this device: a's stream ends, saying why.
	wantStatus(t, command(t, base, "close_session", map[string]any{"session_id": a}), http.StatusOK)
	wantEnding(t, streamA, a, "closed")

	// Push addresses group sessions of any account.
	for _, id := range []string{b, other} {
		wantStatus(t, command(t, base, "bind_push_address", map[string]any{"session_id": id, "address": "room-7"}), http.StatusOK)
	}
	r = command(t, base, "send_notification", map[string]any{"push_address": "room-7", "method": "ring"})
	if string(r.Body) != "2" {
		t.Errorf("send_notification to room-7: got %s; want 2", r.Body)
	}
	streamB.next(t)
	streamOther.next(t)
	// Given both, the sessions of that account bound to that address.
	r = command(t, base, "send_notification", map[string]any{"user_id": "u2", "push_address": "room-7", "method": "knock"})
	if string(r.Body) != "1" {
		t.Errorf("send_notification to u2 at room-7: got %s; want 1", r.Body)
	}
	if m := streamOther.next(t); !strings.Contains(m.Data, `"knock"`) {
		t.Errorf("u2's stream: got %+v; want the knock", m)
	}

	// Logout from every device of an address.
	r = command(t, base, "close_address_sessions", map[string]any{"address": "room-7"})
	if string(r.Body) != "2" {
		t.Errorf("close_address_sessions: got %s; want 2", r.Body)
	}
	wantEnding(t, streamB, b, "closed")
	wantEnding(t, streamOther, other, "closed")

	// A stream of a closed or unknown session is refused.
	_, resp := tryStream(t, base+"/v1/sessions/notifications?session_id="+a)
	wantStatus(t, resp, http.StatusNotFound)
	if d, _ := resp.JSON(t)["details"].(map[string]any); d["close_reason"] != "closed" {
		t.Errorf("stream of a closed session: got %s; want the close_reason in the details", resp.Body)
	}
	_, resp = tryStream(t, base+"/v1/sessions/notifications?session_id=nobody")
	wantStatus(t, resp, http.StatusNotFound)
	_, resp = tryStream(t, base+"/v1/sessions/notifications")
	wantStatus(t, resp, http.StatusBadRequest)
	r = command(t, base, "send_notification", map[string]any{"method": "x"})
	wantStatus(t, r, http.StatusBadRequest)
}

func TestADevicePushedOutByAnotherLearnsItAtOnce(t *testing.T) {
	base := startMemory(t)
	wantStatus(t, homes(t, base, "set_home", map[string]any{"home": map[string]any{"id": "acct", "max_sessions": 1, "policy": "evict_oldest"}}), http.StatusOK)
	first := openSession(t, base, map[string]any{"user_id": "acct", "device_id": "d1"})["id"].(string)
	stream := openStream(t, base+"/v1/sessions/notifications?session_id="+first)
	events := openStream(t, base+"/v1/sessions/events?user_id=acct")
	second := openSession(t, base, map[string]any{"user_id": "acct", "device_id": "d2"})["id"].(string)
	wantEnding(t, stream, first, "evicted")
	got := events.wantTypes(t, "evicted", "opened")
	if got[0].Session.ID != first || got[1].Session.ID != second {
		t.Errorf("got evicted %s, opened %s; want %s pushed out by %s", got[0].Session.ID, got[1].Session.ID, first, second)
	}
}

func TestExpiredSessionsAreEventsAndEndTheirStreams(t *testing.T) {
	base, _ := startText(t, eventsConfig("    expire_timeout: 1", "    keep_alive: 15000"), nil)
	id := openSession(t, base, map[string]any{"user_id": "u1"})["id"].(string)
	stream := openStream(t, base+"/v1/sessions/notifications?session_id="+id)
	events := openStream(t, base+"/v1/sessions/events")
	time.Sleep(5 * time.Millisecond)
	wantStatus(t, command(t, base, "close_expired_sessions", map[string]any{}), http.StatusNoContent)
	if e := events.event(t); e.Type != "expired" || e.Session.ID != id || e.Session.CloseReason != "expired" {
		t.Errorf("got %s of %s (%s); want expired of %s", e.Type, e.Session.ID, e.Session.CloseReason, id)
	}
	wantEnding(t, stream, id, "expired")
}

func TestCloseUserSessionsLogsOutEveryDevice(t *testing.T) {
	base := startMemory(t)
	for range 3 {
		openSession(t, base, map[string]any{"user_id": "u1"})
	}
	kept := openSession(t, base, map[string]any{"user_id": "u2"})["id"].(string)
	events := openStream(t, base+"/v1/sessions/events?types=closed")
	r := command(t, base, "close_user_sessions", map[string]any{"user_id": "u1"})
	wantStatus(t, r, http.StatusOK)
	if string(r.Body) != "3" {
		t.Errorf("close_user_sessions: got %s; want 3", r.Body)
	}
	events.wantTypes(t, "closed", "closed", "closed")
	if r := command(t, base, "close_user_sessions", map[string]any{"user_id": "u1"}); string(r.Body) != "0" {
		t.Errorf("again: got %s; want 0", r.Body)
	}
	page := command(t, base, "get_sessions", map[string]any{"filter": map[string]any{"active": true}}).JSON(t)
	if data := page["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != kept {
		t.Errorf("active sessions: got %v; want only %s", data, kept)
	}
	wantStatus(t, command(t, base, "close_user_sessions", map[string]any{}), http.StatusBadRequest)
	wantStatus(t, command(t, base, "close_address_sessions", map[string]any{}), http.StatusBadRequest)
}

func TestDetailsAndParentSessions(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			base := b.start(t)
			parent := openSession(t, base, map[string]any{"user_id": "u1", "details": map[string]string{"os": "ios", "app": "1.2", "empty": ""}})
			if got := parent["details"]; fmt.Sprint(got) != "map[app:1.2 os:ios]" {
				t.Errorf("details at open: got %v; want app and os", got)
			}
			pid := parent["id"].(string)
			r := command(t, base, "update_session_details", map[string]any{"session_id": pid, "details": map[string]string{"app": "1.3", "os": "", "lang": "en"}})
			wantStatus(t, r, http.StatusOK)
			if got := r.JSON(t)["details"]; fmt.Sprint(got) != "map[app:1.3 lang:en]" {
				t.Errorf("merged details: got %v; want app 1.3 and lang en, os deleted", got)
			}
			if got := command(t, base, "get_session_by_id", map[string]any{"session_id": pid}).JSON(t)["details"]; fmt.Sprint(got) != "map[app:1.3 lang:en]" {
				t.Errorf("stored details: got %v", got)
			}
			wantStatus(t, command(t, base, "update_session_details", map[string]any{"session_id": "nobody", "details": map[string]string{"a": "b"}}), http.StatusNoContent)
			wantStatus(t, command(t, base, "update_session_details", map[string]any{"session_id": pid}), http.StatusBadRequest)

			child := openSession(t, base, map[string]any{"user_id": "u1", "parent_id": pid})
			openSession(t, base, map[string]any{"user_id": "u1"})
			if child["parent_id"] != pid {
				t.Errorf("child: got parent_id %v; want %s", child["parent_id"], pid)
			}
			page := command(t, base, "get_sessions", map[string]any{"filter": map[string]any{"parent_id": pid}}).JSON(t)
			if data := page["data"].([]any); len(data) != 1 || data[0].(map[string]any)["id"] != child["id"] {
				t.Errorf("filter parent_id: got %v; want only the child", data)
			}
			r = command(t, base, "open_session", map[string]any{"user_id": "u1", "parent_id": "no-such-session"})
			wantStatus(t, r, http.StatusBadRequest)
			if r.JSON(t)["code"] != sessions.CodeParentNotFound {
				t.Errorf("unknown parent: got %s; want PARENT_NOT_FOUND", r.Body)
			}
		})
	}
}

func TestShutdownEndsEveryStreamCleanly(t *testing.T) {
	path := repoFile("config", "config.yml")
	base, p := startConfig(t, path, map[string]string{"MEMORY_ENABLED": "true"})
	id := openSession(t, base, map[string]any{"user_id": "u1"})["id"].(string)
	events := openStream(t, base+"/v1/sessions/events")
	device := openStream(t, base+"/v1/sessions/notifications?session_id="+id)
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("close with open streams: %v", err)
	}
	events.wantEnd(t)
	device.wantEnd(t)
}

// wantEnding expects the end message of a device stream, then its end.
func wantEnding(t *testing.T, s *sseStream, sessionID, reason string) {
	t.Helper()
	m := s.next(t)
	var end sessions.StreamEnding
	if err := json.Unmarshal([]byte(m.Data), &end); err != nil || m.Event != sessions.StreamEnd ||
		end.SessionID != sessionID || end.Reason != reason {
		t.Fatalf("got %+v; want the end of %s, %s", m, sessionID, reason)
	}
	s.wantEnd(t)
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestADeviceLearnsAtOnceThatItsLeaseLapsed(t *testing.T) {
	base := startMemory(t)
	wantStatus(t, homes(t, base, "set_home", map[string]any{"home": map[string]any{"id": "acct", "max_sessions": 2, "lease_timeout": 6000}}), http.StatusOK)
	renewed := openSession(t, base, map[string]any{"user_id": "acct", "device_id": "tv"})["id"].(string)
	lapsing := openSession(t, base, map[string]any{"user_id": "acct", "device_id": "phone"})["id"].(string)
	keeps := openStream(t, base+"/v1/sessions/notifications?session_id="+renewed)
	ends := openStream(t, base+"/v1/sessions/notifications?session_id="+lapsing)
	events := openStream(t, base+"/v1/sessions/events?types=expired")

	// The tv keeps renewing, a sixth of its lease apart (room for a loaded
	// machine), until the phone's lease has lapsed; the phone stops. No
	// sweep runs meanwhile (the shipped config sweeps every 15 minutes).
	for range 7 {
		time.Sleep(time.Second)
		wantStatus(t, command(t, base, "renew_session", map[string]any{"session_id": renewed}), http.StatusOK)
	}
	wantEnding(t, ends, lapsing, "expired")
	if e := events.event(t); e.Session.ID != lapsing {
		t.Errorf("expired event: got %s; want the phone's session %s", e.Session.ID, lapsing)
	}
	r := command(t, base, "send_notification", map[string]any{"user_id": "acct", "method": "ping"})
	if string(r.Body) != "1" {
		t.Errorf("send_notification after the phone's lease lapsed: got %s; want 1, the tv's stream", r.Body)
	}
	if m := keeps.next(t); m.Event != sessions.StreamNotification {
		t.Errorf("the renewed session's stream: got %+v; want the notification", m)
	}
}

func TestADeviceStreamFollowsALeaseGivenOrShortenedAfterItBegan(t *testing.T) {
	base := startMemory(t)
	// No sweep runs during the test (the shipped config sweeps every 15
	// minutes), and the first lease is a minute: an end within the stream
	// reader's 10 s is the watch of the lease as it is now.
	adopted := openSession(t, base, map[string]any{"user_id": "acct", "device_id": "tv"})["id"].(string)
	wantStatus(t, homes(t, base, "set_home", map[string]any{"home": map[string]any{"id": "short", "max_sessions": 2, "lease_timeout": 60000}}), http.StatusOK)
	shortened := openSession(t, base, map[string]any{"user_id": "short", "device_id": "phone"})["id"].(string)
	given := openStream(t, base+"/v1/sessions/notifications?session_id="+adopted)
	cut := openStream(t, base+"/v1/sessions/notifications?session_id="+shortened)

	// A home made after the session takes it in, with a lease of a second.
	wantStatus(t, homes(t, base, "set_home", map[string]any{"home": map[string]any{"id": "acct", "max_sessions": 2, "lease_timeout": 1000}}), http.StatusOK)
	// The other home's lease drops to a second; the renewal moves the end in.
	wantStatus(t, homes(t, base, "set_home", map[string]any{"home": map[string]any{"id": "short", "max_sessions": 2, "lease_timeout": 1000}}), http.StatusOK)
	wantStatus(t, command(t, base, "renew_session", map[string]any{"session_id": shortened}), http.StatusOK)

	wantEnding(t, given, adopted, "expired")
	wantEnding(t, cut, shortened, "expired")
}
