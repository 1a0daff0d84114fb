package events

import (
	"context"
	"slices"
	"sync"
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
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return sessions.Event{}
}

func TestPublishedEventsReachMatchingSubscribersWithoutPayloads(t *testing.T) {
	h := NewHub(Options{}, nil)
	all, _ := h.Subscribe(Filter{}, Resume{})
	closes, _ := h.Subscribe(Filter{UserID: "u1", Types: []string{sessions.EventClosed}}, Resume{})

	h.Publish(sessions.EventOpened, session("s1", "u1"))
	h.Publish(sessions.EventClosed, session("s2", "u2"))
	h.Publish(sessions.EventClosed, session("s1", "u1"))

	first, second := receive(t, all), receive(t, all)
	if first.Type != sessions.EventOpened || second.ID != first.ID+1 || first.Session.Data != nil {
		t.Errorf("got %+v then %+v; want consecutive ids and no data", first, second)
	}
	if e := receive(t, closes); e.Session.ID != "s1" || e.Type != sessions.EventClosed {
		t.Errorf("filtered: got %s of %s; want closed of s1", e.Type, e.Session.ID)
	}
}

func TestResumeReplaysFromTheBufferOrResets(t *testing.T) {
	h := NewHub(Options{Buffer: 3}, nil)
	var ids []int64
	for i := range 5 {
		h.Publish(sessions.EventOpened, session(string(rune('a'+i)), "u"))
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
			sub, err := h.Subscribe(Filter{}, Resume{From: true, AfterID: tt.after})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			var got []int64
			for _, e := range sub.Replay {
				got = append(got, e.ID)
			}
			if sub.Reset != tt.wantReset || !slices.Equal(got, tt.want) || sub.Position != ids[4] {
				t.Errorf("got reset %v, replay %v, position %d; want reset %v, replay %v, position %d",
					sub.Reset, got, sub.Position, tt.wantReset, tt.want, ids[4])
			}
		})
	}
}

func TestAFullSubscriberIsCutOffAndCounted(t *testing.T) {
	h := NewHub(Options{SubscriberBuffer: 2}, nil)
	slow, _ := h.Subscribe(Filter{}, Resume{})
	for range 3 {
		h.Publish(sessions.EventOpened, session("s", "u"))
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
	h.Publish(sessions.EventEvicted, session("s1", "u"))
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

func TestCloseEndsEverySubscriptionAndStream(t *testing.T) {
	h := NewHub(Options{}, nil)
	sub, _ := h.Subscribe(Filter{}, Resume{})
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
	if _, err := h.Subscribe(Filter{}, Resume{}); err != ErrClosed {
		t.Errorf("subscribe after close: got %v; want ErrClosed", err)
	}
}

// memLog is a shared Log in memory, for hubs in one test.
type memLog struct {
	mu      sync.Mutex
	recs    []Record
	streams map[string][]string
	// trimmedBelow is the mark of the last TrimRecords; the records stay,
	// as ReadRecords finds them by position.
	trimmedBelow int64
}

func (l *memLog) AppendRecords(_ context.Context, recs []Record) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := int64(len(l.recs)) + 1
	for i, r := range recs {
		r.ID = first + int64(i)
		l.recs = append(l.recs, r)
	}
	return first, nil
}

func (l *memLog) ReadRecords(_ context.Context, after int64, limit int) ([]Record, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if after >= int64(len(l.recs)) {
		return nil, nil
	}
	out := l.recs[after:]
	return slices.Clone(out[:min(limit, len(out))]), nil
}

func (l *memLog) LastRecordID(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.recs)), nil
}

func (l *memLog) TrimRecords(_ context.Context, before int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.trimmedBelow = before
	return nil
}

func (l *memLog) WatchRecords(context.Context) <-chan struct{} { return nil }
func (l *memLog) PutStreams(_ context.Context, instance string, ids []string, _ time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.streams == nil {
		l.streams = map[string][]string{}
	}
	l.streams[instance] = ids
	return nil
}

func (l *memLog) CountStreams(_ context.Context, except string, ids []string, _ time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for instance, list := range l.streams {
		for _, id := range list {
			if instance != except && slices.Contains(ids, id) {
				n++
			}
		}
	}
	return n, nil
}

func TestHubsSharingALogSeeEachOthersEventsAndNotifications(t *testing.T) {
	log := &memLog{}
	a, b := NewHub(Options{}, nil), NewHub(Options{}, nil)
	for _, h := range []*Hub{a, b} {
		h.Share(log, SharedOptions{PollInterval: 10 * time.Millisecond})
		if err := h.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close(context.Background()) })
	}
	onB, _ := b.Subscribe(Filter{}, Resume{})
	a.Publish(sessions.EventOpened, session("s1", "u"))
	first := receive(t, onB)
	b.Publish(sessions.EventRenewed, session("s1", "u"))
	second := receive(t, onB)
	if first.Type != sessions.EventOpened || second.Type != sessions.EventRenewed || second.ID != first.ID+1 {
		t.Errorf("got %s %d, %s %d; want opened then renewed with consecutive ids", first.Type, first.ID, second.Type, second.ID)
	}

	st, _ := b.Listen("s1")
	deadline := time.Now().Add(5 * time.Second)
	for n := 0; n != 1; n, _ = a.Notify(context.Background(), []string{"s1"}, sessions.Notification{Method: "ping"}) {
		if time.Now().After(deadline) {
			t.Fatal("A never counted the stream on B")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := <-st.Notifications(); n.Method != "ping" {
		t.Errorf("got %+v; want ping", n)
	}
	a.Publish(sessions.EventClosed, session("s1", "u"))
	<-st.Done()
	if st.Reason() != sessions.EventClosed {
		t.Errorf("stream on B: got %q; want closed", st.Reason())
	}
}

func TestAHubTrimsTheSharedLogToTheRecordsItRetains(t *testing.T) {
	log := &memLog{}
	h := NewHub(Options{}, nil)
	h.Share(log, SharedOptions{PollInterval: 10 * time.Millisecond, Retain: 3, TrimInterval: 10 * time.Millisecond})
	if err := h.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	sub, _ := h.Subscribe(Filter{}, Resume{})
	for range 5 {
		h.Publish(sessions.EventOpened, session("s1", "u"))
	}
	for range 5 {
		receive(t, sub)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		log.mu.Lock()
		below := log.trimmedBelow
		log.mu.Unlock()
		if below == 5-3 {
			break
		}
		if below > 5-3 || time.Now().After(deadline) {
			t.Fatalf("trimmed below %d; want below 2, keeping the last 3 of 5 records", below)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
