package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

func session(id, user string) *sessions.Session {
	return &sessions.Session{ID: id, UserID: user, Active: true, Data: []byte(`"secret"`)}
}

func receive(t *testing.T, sub *Subscription) sessions.Event {
	t.Helper()
	select {
	case e, ok := <-sub.Events():
		if !ok {
			t.Fatal("subscription closed; want an event")
		}
		return e.Event
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return sessions.Event{}
}

func TestPublishedEventsReachMatchingSubscribersWithoutPayloads(t *testing.T) {
	h := NewHub(Options{}, nil)
	all, _ := h.Subscribe(t.Context(), Filter{}, Resume{})
	closes, _ := h.Subscribe(t.Context(), Filter{UserID: "u1", Types: []string{sessions.EventClosed}}, Resume{})

	h.Publish(t.Context(), sessions.EventOpened, session("s1", "u1"))
	h.Publish(t.Context(), sessions.EventClosed, session("s2", "u2"))
	h.Publish(t.Context(), sessions.EventClosed, session("s1", "u1"))

	first, second := receive(t, all), receive(t, all)
	if first.Type != sessions.EventOpened || second.ID != first.ID+1 || first.Session.Data != nil {
		t.Errorf("got %+v then %+v; want consecutive ids and no data", first, second)
	}
	if e := receive(t, closes); e.Session.ID != "s1" || e.Type != sessions.EventClosed {
		t.Errorf("filtered: got %s of %s; want closed of s1", e.Type, e.Session.ID)
	}
}

// An event going to many streams is encoded once: each writes the same
// bytes, so a large event costs its encoding once however many streams
// follow it.
func TestAnEventIsEncodedOnceForEveryStream(t *testing.T) {
	h := NewHub(Options{}, nil)
	a, _ := h.Subscribe(t.Context(), Filter{}, Resume{})
	b, _ := h.Subscribe(t.Context(), Filter{UserID: "u1"}, Resume{})
	s := session("s1", "u1")
	s.Details = map[string]string{"device": "phone"}
	h.Publish(t.Context(), sessions.EventOpened, s)

	da, db := <-a.Events(), <-b.Events()
	if want := da.AppendJSON(nil); string(da.JSON) != string(want) {
		t.Errorf("JSON: got %s; want %s", da.JSON, want)
	}
	if &da.JSON[0] != &db.JSON[0] {
		t.Errorf("encodings: got one for each stream; want one, shared")
	}
}

func TestResumeReplaysFromTheBufferOrResets(t *testing.T) {
	h := NewHub(Options{Buffer: 3}, nil)
	var ids []int64
	for i := range 5 {
		h.Publish(t.Context(), sessions.EventOpened, session(string(rune('a'+i)), "u"))
		ids = append(ids, h.LastID())
	}
	// The buffer holds the last three: ids[2..4].
	for _, tt := range []struct {
		name      string
		after     int64
		wantReset bool
		want      []int64
	}{
		{"inside the buffer", ids[2], false, ids[3:]},
		{"just before the buffer", ids[1], false, ids[2:]},
		{"up to date", ids[4], false, nil},
		{"too old", ids[0], true, nil},
		{"from the future", ids[4] + 10, true, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sub, got := resumeAfter(t, h, tt.after)
			if sub.Reset != tt.wantReset || !slices.Equal(got, tt.want) || sub.Position != ids[4] {
				t.Errorf("got reset %v, replay %v, position %d; want reset %v, replay %v, position %d",
					sub.Reset, got, sub.Position, tt.wantReset, tt.want, ids[4])
			}
		})
	}
}

func TestAFullSubscriberIsCutOffAndCounted(t *testing.T) {
	h := NewHub(Options{SubscriberBuffer: 2}, nil)
	slow, _ := h.Subscribe(t.Context(), Filter{}, Resume{})
	for range 3 {
		h.Publish(t.Context(), sessions.EventOpened, session("s", "u"))
	}
	receive(t, slow)
	receive(t, slow)
	if _, ok := <-slow.Events(); ok || slow.Reason() != EndOverflow || h.Dropped() != 1 {
		t.Errorf("got open %v, reason %q, dropped %d; want closed for overflow, 1 dropped", ok, slow.Reason(), h.Dropped())
	}
	if n, _ := h.Subscribers(); n != 0 {
		t.Errorf("subscribers: got %d; want 0", n)
	}
}

func TestAClientThatStopsReadingIsCountedOnceWithTheCutOff(t *testing.T) {
	h := NewHub(Options{NotificationQueue: 1}, nil)
	st, _ := h.Listen("s1")
	ended, _ := h.Listen("s2")
	h.Publish(t.Context(), sessions.EventClosed, session("s2", "u"))
	<-ended.Done()
	sub, _ := h.Subscribe(t.Context(), Filter{}, Resume{})

	sub.CutOff()
	sub.CutOff()
	st.CutOff()
	st.CutOff()
	ended.CutOff() // it ended with its session: not a cut-off
	closed, _ := h.Listen("s3")
	closed.Close()
	closed.CutOff() // its client left: not a cut-off either
	if _, ok := <-sub.Events(); ok || sub.Reason() != EndOverflow {
		t.Errorf("subscription: got open %v, reason %q; want closed as cut off", ok, sub.Reason())
	}
	<-st.Done()
	if st.Reason() != EndOverflow || ended.Reason() != sessions.EventClosed {
		t.Errorf("streams: got reasons %q and %q; want overflow and closed", st.Reason(), ended.Reason())
	}
	if h.Dropped() != 2 {
		t.Errorf("dropped: got %d; want 2, the subscriber and the stream once each", h.Dropped())
	}
	if events, devices := h.Subscribers(); events != 0 || devices != 0 {
		t.Errorf("connected: got %d subscribers and %d streams; want none", events, devices)
	}
}

func TestAHubHoldsAtMostItsLimitOfSubscribersAndOfStreams(t *testing.T) {
	h := NewHub(Options{MaxSubscribers: 1, MaxStreams: 2}, nil)
	sub, err := h.Subscribe(t.Context(), Filter{}, Resume{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(t.Context(), Filter{}, Resume{}); !errors.Is(err, ErrFull) {
		t.Errorf("a second subscriber: got %v; want ErrFull", err)
	}
	sub.Close()
	if _, err := h.Subscribe(t.Context(), Filter{}, Resume{}); err != nil {
		t.Errorf("a subscriber after one left: got %v; want it connected", err)
	}

	h.Listen("s1")
	h.Listen("s1")
	if _, err := h.Listen("s2"); !errors.Is(err, ErrFull) {
		t.Errorf("a third device stream: got %v; want ErrFull", err)
	}
	h.Publish(t.Context(), sessions.EventClosed, session("s1", "u")) // ends both streams of s1
	for _, id := range []string{"s2", "s3"} {
		if _, err := h.Listen(id); err != nil {
			t.Errorf("a device stream after the first two ended: got %v; want it connected", err)
		}
	}
	if _, devices := h.Subscribers(); devices != 2 {
		t.Errorf("device streams: got %d; want 2", devices)
	}
}

func TestStreamsGetNotificationsAndEndWithTheirSession(t *testing.T) {
	h := NewHub(Options{NotificationQueue: 1}, nil)
	st, _ := h.Listen("s1")
	other, _ := h.Listen("s2")
	if n, _ := h.Notify(context.Background(), []string{"s1", "s3"}, sessions.Notification{Method: "m"}); n != 1 {
		t.Errorf("notify: got %d streams; want 1", n)
	}
	if n := <-st.Notifications(); n.Method != "m" || time.Time(n.Time).IsZero() {
		t.Errorf("got %+v; want method m with a time", n)
	}
	h.Publish(t.Context(), sessions.EventEvicted, session("s1", "u"))
	<-st.Done()
	if st.Reason() != sessions.EventEvicted || other.Reason() != "" {
		t.Errorf("got reasons %q and %q; want evicted and none", st.Reason(), other.Reason())
	}
	// A full queue cuts the device stream off.
	h.Notify(context.Background(), []string{"s2"}, sessions.Notification{Method: "1"})
	h.Notify(context.Background(), []string{"s2"}, sessions.Notification{Method: "2"})
	<-other.Done()
	if other.Reason() != EndOverflow {
		t.Errorf("full stream: got reason %q; want overflow", other.Reason())
	}
}

func TestAStreamIsToldOfTheChangesOfItsSessionOnceUntilItLooks(t *testing.T) {
	h := NewHub(Options{}, nil)
	st, _ := h.Listen("s1")
	changed := func() bool {
		select {
		case <-st.Changed():
			return true
		default:
			return false
		}
	}
	h.Publish(t.Context(), sessions.EventRenewed, session("s2", "u"))
	if changed() {
		t.Error("another session's renewal: got it told; want nothing")
	}
	h.Publish(t.Context(), sessions.EventRenewed, session("s1", "u"))
	h.Publish(t.Context(), sessions.EventUpdated, session("s1", "u"))
	if first, second := changed(), changed(); !first || second {
		t.Errorf("two changes, then two looks: got told %v, %v; want true, false", first, second)
	}
	h.Publish(t.Context(), sessions.EventUpdated, session("s1", "u"))
	if !changed() {
		t.Error("a change after the look: got nothing told; want it told")
	}
}

func TestCloseEndsEverySubscriptionAndStream(t *testing.T) {
	h := NewHub(Options{}, nil)
	sub, _ := h.Subscribe(t.Context(), Filter{}, Resume{})
	st, _ := h.Listen("s1")
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-sub.Events(); ok || sub.Reason() != EndShutdown {
		t.Errorf("subscription: got open %v, reason %q; want closed for shutdown", ok, sub.Reason())
	}
	<-st.Done()
	if st.Reason() != EndShutdown {
		t.Errorf("stream: got %q; want shutdown", st.Reason())
	}
	if _, err := h.Subscribe(t.Context(), Filter{}, Resume{}); err != ErrClosed {
		t.Errorf("subscribe after close: got %v; want ErrClosed", err)
	}
}

// resumeAfter subscribes to every event after id and returns the
// subscription, closed when the test ends, and the ids it replays.
func resumeAfter(t *testing.T, h *Hub, after int64) (*Subscription, []int64) {
	t.Helper()
	sub, err := h.Subscribe(t.Context(), Filter{}, Resume{From: true, AfterID: after})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	var ids []int64
	for _, e := range sub.Replay {
		ids = append(ids, e.ID)
	}
	return sub, ids
}

func TestAnIdleFilteredSubscriberKeepsAPositionItCanResumeFrom(t *testing.T) {
	h := NewHub(Options{Buffer: 3}, nil)
	sub, _ := h.Subscribe(t.Context(), Filter{UserID: "u1"}, Resume{})
	h.Publish(t.Context(), sessions.EventOpened, session("s1", "u1"))
	if _, ok := sub.CaughtUp(); ok {
		t.Fatal("caught up with an event of u1 still waiting; want not")
	}
	receive(t, sub)
	// Other accounts' events push the last of u1's out of the buffer.
	for i := range 5 {
		h.Publish(t.Context(), sessions.EventOpened, session(string(rune('a'+i)), "u2"))
	}
	at, ok := sub.CaughtUp()
	if !ok || at != h.LastID() {
		t.Fatalf("caught up: got %d, %v; want %d, true", at, ok, h.LastID())
	}
	again, err := h.Subscribe(t.Context(), Filter{UserID: "u1"}, Resume{From: true, AfterID: at})
	if err != nil {
		t.Fatal(err)
	}
	if again.Reset || len(again.Replay) != 0 {
		t.Errorf("resume from the caught-up position: got reset %v, replay %d; want neither", again.Reset, len(again.Replay))
	}
}

func TestTheReplayBufferIsBoundedByBytesAsWellAsByEvents(t *testing.T) {
	h := NewHub(Options{Buffer: 1000, BufferBytes: 64 << 10}, nil)
	big := session("s1", "u1")
	big.Details = map[string]string{}
	for i := range 100 {
		big.Details[fmt.Sprintf("key-%03d-%s", i, strings.Repeat("k", 240))] = strings.Repeat("v", 256)
	}
	for range 20 { // about 58 KiB each: one or two fit
		h.Publish(t.Context(), sessions.EventRenewed, big)
	}
	last := h.LastID()
	if sub, got := resumeAfter(t, h, last-1); sub.Reset || len(got) != 1 {
		t.Errorf("resume before the newest event: got reset %v, replay %v; want it replayed", sub.Reset, got)
	}
	if sub, _ := resumeAfter(t, h, last-10); !sub.Reset {
		t.Error("resume 10 events back: got a replay; want a reset, as those events no longer fit in 64 KiB")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bytes > 64<<10 || h.size < 1 {
		t.Errorf("buffer: %d events of %d bytes; want at least one, within 64 KiB", h.size, h.bytes)
	}
}
