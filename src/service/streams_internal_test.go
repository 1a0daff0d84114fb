package service

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/events"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// hubSource is an EventSource of a bare hub.
type hubSource struct{ hub *events.Hub }

func (s hubSource) Events() *events.Hub { return s.hub }
func (hubSource) LiveSession(context.Context, string) (*sessions.Session, error) {
	return nil, nil
}
func (hubSource) ExpireLapsed(context.Context, string) (time.Time, error) {
	return time.Time{}, nil
}

// writeRecorder records the size of each write a handler makes.
type writeRecorder struct {
	header http.Header
	mu     sync.Mutex
	writes []int
	total  int
}

func (w *writeRecorder) Header() http.Header { return w.header }
func (w *writeRecorder) WriteHeader(int)     {}
func (w *writeRecorder) Flush()              {}
func (w *writeRecorder) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes, w.total = append(w.writes, len(b)), w.total+len(b)
	return len(b), nil
}

func (w *writeRecorder) sizes() (writes []int, total int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]int(nil), w.writes...), w.total
}

// A replay of many large events is written as it is encoded, never held
// whole, so that clients resuming far back cannot each hold a copy of the
// whole buffer encoded.
func TestAReplayIsWrittenInPiecesOfBoundedSize(t *testing.T) {
	hub := events.NewHub(events.Options{}, nil)
	if err := hub.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close(context.Background()) })
	details := map[string]string{}
	for i := range 100 {
		details["key"+strconv.Itoa(i)] = strings.Repeat("x", 250)
	}
	const n = 200 // over 25 KiB each: 5 MiB in all
	before := hub.LastID()
	for i := range n {
		hub.Publish(t.Context(), sessions.EventOpened, &sessions.Session{ID: strconv.Itoa(i), UserID: "u1", Active: true, Details: details})
	}
	s := &streams{source: hubSource{hub}, endpoint: NewEndpoint(), keepAlive: time.Hour, writeTimeout: time.Second}
	ctx, cancel := context.WithCancel(t.Context())
	r := httptest.NewRequest(http.MethodGet, "/v1/sessions/events", nil).WithContext(ctx)
	r.Header.Set("Last-Event-ID", strconv.FormatInt(before, 10))
	w := &writeRecorder{header: http.Header{}}
	done := make(chan struct{})
	go func() { defer close(done); s.events(w, r) }()

	deadline := time.Now().Add(5 * time.Second)
	for _, total := w.sizes(); total < n*25<<10; _, total = w.sizes() {
		if time.Now().After(deadline) {
			t.Fatalf("replay wrote %d bytes in 5 s; want about %d", total, n*25<<10)
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	writes, _ := w.sizes()
	for _, size := range writes {
		if size > maxKeptBuffer+64<<10 {
			t.Fatalf("a write of %d bytes; want every write at most the buffer (%d) and one event more", size, maxKeptBuffer)
		}
	}
}

// A notification sent to many streams is encoded once, and each stream
// writes those same bytes rather than a copy of its own: a large one
// held by thousands of slow streams is held once.
func TestEveryStreamWritesTheOneEncodingOfANotification(t *testing.T) {
	hub := events.NewHub(events.Options{}, nil)
	params := `{"blob":"` + strings.Repeat("x", 64<<10) + `"}`
	var streams []*events.Stream
	for range 2 {
		st, err := hub.Listen("s1")
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, st)
	}
	if n, _ := hub.Notify(t.Context(), []string{"s1"}, sessions.Notification{Method: "m", Params: []byte(params)}); n != 2 {
		t.Fatalf("notify: got %d streams; want 2", n)
	}
	first, second := <-streams[0].Notifications(), <-streams[1].Notifications()
	if &first.JSON()[0] != &second.JSON()[0] {
		t.Error("the two streams got two encodings of the notification; want one, shared")
	}

	rec := httptest.NewRecorder()
	w := &sseWriter{w: rec, rc: http.NewResponseController(rec), timeout: time.Second, cutOff: func() {}}
	w.notification(&first)
	if len(w.parts) != 2 || &w.parts[1][0] != &first.JSON()[0] {
		t.Fatal("the stream copied the notification into its buffer; want it written as it is")
	}
	w.comment("after")
	if !w.flush() {
		t.Fatal("flush failed")
	}
	want := "event: notification\ndata: " + string(first.JSON()) + "\n\n: after\n\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("written: got %d bytes; want %d: the message, then the comment", len(got), len(want))
	}
	if len(w.parts) != 0 || w.size != 0 {
		t.Errorf("after the write: %d parts of %d bytes held; want none", len(w.parts), w.size)
	}
}
