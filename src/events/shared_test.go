package events

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// memLog is a shared Log in memory, for hubs in one test.
type memLog struct {
	mu      sync.Mutex
	recs    []Record
	streams map[string][]string
	seen    map[string]time.Time // when each instance recorded its streams
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
func (l *memLog) PutStreams(_ context.Context, instance string, ids []string, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.streams == nil {
		l.streams, l.seen = map[string][]string{}, map[string]time.Time{}
	}
	l.streams[instance], l.seen[instance] = ids, now
	return nil
}

func (l *memLog) ForgetStreams(_ context.Context, seenBefore time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for instance, seen := range l.seen {
		if seen.Before(seenBefore) {
			delete(l.streams, instance)
			delete(l.seen, instance)
		}
	}
	return nil
}

// instances returns the instances whose device streams the log holds.
func (l *memLog) instances() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for instance := range l.streams {
		out = append(out, instance)
	}
	slices.Sort(out)
	return out
}

func (l *memLog) CountStreams(_ context.Context, except string, ids []string, seenAfter time.Time) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for instance, list := range l.streams {
		for _, id := range list {
			if instance != except && l.seen[instance].After(seenAfter) && slices.Contains(ids, id) {
				n++
			}
		}
	}
	return n, nil
}

// A device stream on an instance whose clock runs behind, by as much as
// instances' clocks may differ, is counted by the others.
func TestAStreamOnAnInstanceWhoseClockIsBehindIsCounted(t *testing.T) {
	log := &memLog{}
	behind := func() time.Time { return time.Now().Add(-maxClockSkew + time.Second) }
	a, b := NewHub(Options{}, nil), NewHub(Options{}, behind)
	for _, h := range []*Hub{a, b} {
		share(t, h, log, SharedOptions{PollInterval: 10 * time.Millisecond})
	}
	st, _ := b.Listen("s1")
	defer st.Close()
	deadline := time.Now().Add(5 * time.Second)
	for n := 0; n != 1; n, _ = a.Notify(context.Background(), []string{"s1"}, sessions.Notification{Method: "ping"}) {
		if time.Now().After(deadline) {
			t.Fatal("A never counted the stream on B")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHubsSharingALogSeeEachOthersEventsAndNotifications(t *testing.T) {
	log := &memLog{}
	a, b := NewHub(Options{}, nil), NewHub(Options{}, nil)
	for _, h := range []*Hub{a, b} {
		share(t, h, log, SharedOptions{PollInterval: 10 * time.Millisecond})
	}
	onB, _ := b.Subscribe(t.Context(), Filter{}, Resume{})
	a.Publish(t.Context(), sessions.EventOpened, session("s1", "u"))
	first := receive(t, onB)
	b.Publish(t.Context(), sessions.EventRenewed, session("s1", "u"))
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
	a.Publish(t.Context(), sessions.EventClosed, session("s1", "u"))
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
	sub, _ := h.Subscribe(t.Context(), Filter{}, Resume{})
	for range 5 {
		h.Publish(t.Context(), sessions.EventOpened, session("s1", "u"))
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

// openShared returns an opened hub sharing log, closed when the test ends.
func openShared(t *testing.T, log Log, opts SharedOptions) *Hub {
	t.Helper()
	return share(t, NewHub(Options{}, nil), log, opts)
}

// share has h share log and opens it until the test ends.
func share(t *testing.T, h *Hub, log Log, opts SharedOptions) *Hub {
	t.Helper()
	h.Share(log, opts)
	if err := h.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// appendEvents appends n events to log as another instance would.
func appendEvents(t *testing.T, log Log, n int) {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Origin: "other-instance", Event: &sessions.Event{Type: sessions.EventOpened, Session: session("s", "u")}}
	}
	if _, err := log.AppendRecords(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

// gapLog is a memLog whose reader cannot see some records, as if another
// instance had trimmed them before this one read them.
type gapLog struct {
	*memLog
	hmu    sync.Mutex
	hidden func(id int64) bool
}

func (l *gapLog) ReadRecords(ctx context.Context, after int64, limit int) ([]Record, error) {
	recs, err := l.memLog.ReadRecords(ctx, after, limit)
	l.hmu.Lock()
	defer l.hmu.Unlock()
	if l.hidden == nil {
		return recs, err
	}
	out := recs[:0]
	for _, r := range recs {
		if !l.hidden(r.ID) {
			out = append(out, r)
		}
	}
	return out, err
}

// wantResetThenReadTo waits for the live subscriber to end with a reset
// and for the hub to read the log up to id.
func wantResetThenReadTo(t *testing.T, h *Hub, live *Subscription, id int64) {
	t.Helper()
	select {
	case e, ok := <-live.Events():
		if ok || live.Reason() != EndReset {
			t.Fatalf("live subscriber: got event %d (open %v, reason %q); want ended with a reset", e.ID, ok, live.Reason())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("live subscriber: not ended within 5s; want ended with a reset")
	}
	for deadline := time.Now().Add(5 * time.Second); h.LastID() != id; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the hub read up to %d; want %d", h.LastID(), id)
		}
	}
}

// A subscriber gets what it missed or a reset: events trimmed from the log
// before this instance read them are missed for good, so the subscribers
// that should have had them, live or resuming, are told with a reset.
func TestResumingAcrossAGapInTheSharedLogGetsAReset(t *testing.T) {
	log := &gapLog{memLog: &memLog{}}
	h := openShared(t, log, SharedOptions{PollInterval: 5 * time.Millisecond})
	live, _ := h.Subscribe(t.Context(), Filter{}, Resume{})
	appendEvents(t, log, 3) // 1–3, read by this hub
	for range 3 {
		receive(t, live)
	}

	// 4–6 are trimmed away before this hub reads them.
	log.hmu.Lock()
	log.hidden = func(id int64) bool { return id >= 4 && id <= 6 }
	log.hmu.Unlock()
	appendEvents(t, log, 5) // 4–8
	wantResetThenReadTo(t, h, live, 8)

	for _, tt := range []struct {
		name      string
		after     int64
		wantReset bool
		want      []int64
	}{
		{"from before the gap", 3, true, nil},
		{"from its end", 6, false, []int64{7, 8}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sub, got := resumeAfter(t, h, tt.after)
			if sub.Reset != tt.wantReset || !slices.Equal(got, tt.want) {
				t.Errorf("after %d: got reset %v, replay %v; want reset %v, replay %v", tt.after, sub.Reset, got, tt.wantReset, tt.want)
			}
		})
	}
}

// fillerLog stands for ids 4–6 with one record of neither an event nor a
// notification, as a log emptied under its readers is filled up to where
// the furthest of them was.
type fillerLog struct{ *memLog }

func (l fillerLog) ReadRecords(ctx context.Context, after int64, limit int) ([]Record, error) {
	recs, err := l.memLog.ReadRecords(ctx, after, limit)
	var out []Record
	for _, r := range recs {
		switch {
		case r.ID < 4 || r.ID > 6:
			out = append(out, r)
		case r.ID == 6:
			out = append(out, Record{ID: 6})
		}
	}
	return out, err
}

// The ids a log emptied under its readers was filled with held records a
// reader that had not reached them may have lost: its subscribers are told
// with a reset, as across a gap, and the reader goes on after them.
func TestIDsTheSharedLogWasFilledWithResetTheSubscribersBehind(t *testing.T) {
	log := fillerLog{&memLog{}}
	h := openShared(t, log, SharedOptions{PollInterval: 5 * time.Millisecond})
	live, _ := h.Subscribe(t.Context(), Filter{}, Resume{})
	appendEvents(t, log, 8)
	for range 3 {
		receive(t, live)
	}
	wantResetThenReadTo(t, h, live, 8)
	if sub, _ := resumeAfter(t, h, 3); !sub.Reset {
		t.Error("resume after 3: got no reset; want one, the records after 3 being lost")
	}
	if sub, replay := resumeAfter(t, h, 6); sub.Reset || !slices.Equal(replay, []int64{7, 8}) {
		t.Errorf("resume after 6: got reset %v, replay %v; want 7 and 8", sub.Reset, replay)
	}
}

// A start over a log that was emptied and filled before it cost this
// instance nothing, and is told at info; a filler a running reader had not
// reached cost it the records the ids held, and is a warning.
func TestAFillerIsAWarningOnlyToAReaderItCostRecords(t *testing.T) {
	for _, tt := range []struct {
		name   string
		before bool // the log is filled before the hub starts
		want   zapcore.Level
	}{
		{"filled before the start", true, zapcore.InfoLevel},
		{"filled under a running reader", false, zapcore.WarnLevel},
	} {
		t.Run(tt.name, func(t *testing.T) {
			log := fillerLog{&memLog{}}
			if tt.before {
				appendEvents(t, log, 8)
			}
			core, logs := observer.New(zapcore.InfoLevel)
			h := NewHub(Options{}, nil)
			h.SetLogger(zap.New(core))
			h.Share(log, SharedOptions{PollInterval: 5 * time.Millisecond})
			if err := h.Open(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h.Close(context.Background()) })
			if !tt.before {
				appendEvents(t, log, 8)
			}
			for deadline := time.Now().Add(5 * time.Second); h.LastID() != 8; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the hub read up to %d; want 8", h.LastID())
				}
			}
			told := logs.FilterField(zap.Int64("to", 6)).All()
			if len(told) != 1 || told[0].Level != tt.want {
				t.Errorf("logged about the filler: %v; want one entry at %v", told, tt.want)
			}
		})
	}
}

func TestResumingFromAnIDBeyondTheSharedLogGetsAReset(t *testing.T) {
	log := &memLog{}
	appendEvents(t, log, 1)
	h := openShared(t, log, SharedOptions{})
	for _, tt := range []struct {
		name  string
		after int64
	}{
		// A single-process hub counts from the clock in µs.
		{"an id of a single-process hub", NewHub(Options{}, nil).LastID()},
		{"one past the log's last record", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := h.Subscribe(t.Context(), Filter{}, Resume{From: true, AfterID: tt.after})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if !sub.Reset || sub.Position != 1 {
				t.Errorf("after %d on a log at 1: got reset %v, position %d; want a reset at 1", tt.after, sub.Reset, sub.Position)
			}
		})
	}
}

func TestResumingFromAnIDAnotherInstanceAppendedWaitsForIt(t *testing.T) {
	log := &memLog{}
	// This hub reads the log only when it appends, so another instance's
	// records stay unread until then.
	h := openShared(t, log, SharedOptions{PollInterval: time.Hour})
	appendEvents(t, log, 3) // 1–3, and the client saw 2 on that instance

	sub, err := h.Subscribe(t.Context(), Filter{}, Resume{From: true, AfterID: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if sub.Reset || len(sub.Replay) != 0 || sub.Position != 2 {
		t.Fatalf("got reset %v, replay %d events, position %d; want to wait after 2", sub.Reset, len(sub.Replay), sub.Position)
	}
	h.Publish(t.Context(), sessions.EventOpened, session("s1", "u1"))
	if first, second := receive(t, sub), receive(t, sub); first.ID != 3 || second.ID != 4 {
		t.Errorf("got events %d and %d; want 3 and 4", first.ID, second.ID)
	}
}

// ambiguousLog stores the first batch but answers with an error, as an
// insert whose answer timed out after the database committed it.
type ambiguousLog struct {
	*memLog
	mu       sync.Mutex
	answered bool
}

func (l *ambiguousLog) AppendRecords(ctx context.Context, recs []Record) (int64, error) {
	first, err := l.memLog.AppendRecords(ctx, recs)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.answered {
		l.answered = true
		return 0, context.DeadlineExceeded
	}
	return first, err
}

func TestAnAppendRetriedAfterAnAmbiguousFailureIsStoredOnce(t *testing.T) {
	log := &ambiguousLog{memLog: &memLog{}}
	h := openShared(t, log, SharedOptions{PollInterval: 5 * time.Millisecond})
	sub, _ := h.Subscribe(t.Context(), Filter{}, Resume{})

	h.Publish(t.Context(), sessions.EventClosed, session("s1", "u1"))
	first := receive(t, sub) // read from the log before the append's retry
	// The next batch goes out only once the first is settled, retry and
	// all, so a copy of the first would come before it.
	h.Publish(t.Context(), sessions.EventClosed, session("s2", "u1"))
	second := receive(t, sub)
	if last, _ := log.LastRecordID(context.Background()); first.Session.ID != "s1" || second.Session.ID != "s2" || last != 2 {
		t.Errorf("two closes published: got %s then %s, %d records in the log; want s1 then s2, and 2", first.Session.ID, second.Session.ID, last)
	}
}

// stuckLog is a memLog whose database, once the hub is open, never
// answers a read of its last id.
type stuckLog struct {
	*memLog
	opened atomic.Bool
}

func (l *stuckLog) LastRecordID(ctx context.Context) (int64, error) {
	if !l.opened.Swap(true) {
		return l.memLog.LastRecordID(ctx)
	}
	<-ctx.Done()
	return 0, ctx.Err()
}

func TestAResumeAheadOfTheHubWaitsForTheLogNoLongerThanTheRequest(t *testing.T) {
	h := openShared(t, &stuckLog{memLog: &memLog{}}, SharedOptions{PollInterval: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()

	begin := time.Now()
	sub, err := h.Subscribe(ctx, Filter{}, Resume{From: true, AfterID: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// Without the request's end it would wait the 5 s it allows the log.
	if took := time.Since(begin); took > 4*time.Second {
		t.Errorf("Subscribe took %v; want it back when the request ends", took)
	}
	if !sub.Reset {
		t.Error("a resume the log could not confirm: got no reset; want a reset, which loses nothing")
	}
}

// sizeLog is a memLog that refuses, every time, an append whose sessions
// take more than limit bytes of JSON, as MongoDB refuses a batch document
// over 16 MiB.
type sizeLog struct {
	*memLog
	limit int
}

func (l *sizeLog) AppendRecords(ctx context.Context, recs []Record) (int64, error) {
	size := 0
	for _, r := range recs {
		size += len(r.Event.Session.AppendSummaryJSON(nil))
	}
	if size > l.limit {
		return 0, fmt.Errorf("batch of %d bytes is over the limit of %d", size, l.limit)
	}
	return l.memLog.AppendRecords(ctx, recs)
}

// detailedSession returns a session with n details of 256-byte keys and
// values, about 520 bytes of JSON each.
func detailedSession(id string, n int) *sessions.Session {
	s := session(id, "u")
	s.Details = make(map[string]string, n)
	for i := range n {
		s.Details[fmt.Sprintf("%0256d", i)] = strings.Repeat("v", 256)
	}
	return s
}

// openWithQueued shares log and opens h after publishing the sessions, so
// that the writer takes them all in its first batch.
func openWithQueued(t *testing.T, h *Hub, log Log, opts SharedOptions, queued ...*sessions.Session) {
	t.Helper()
	h.Share(log, opts)
	for _, s := range queued {
		h.Publish(t.Context(), sessions.EventOpened, s)
	}
	if err := h.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
}

// appendedIDs waits until the hub has read want records from log and
// returns the session ids of the log's records.
func appendedIDs(t *testing.T, h *Hub, log *memLog, want int64) []string {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); h.LastID() != want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the hub read up to %d; want %d", h.LastID(), want)
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	var ids []string
	for _, r := range log.recs {
		ids = append(ids, r.Event.Session.ID)
	}
	return ids
}

// A batch is bounded by size as well as by count: twenty events with the
// most details a session may have are appended in several batches, each
// of which the log takes.
func TestAppendsAreBoundedBySize(t *testing.T) {
	log := &sizeLog{memLog: &memLog{}, limit: 256 << 10}
	var queued []*sessions.Session
	var want []string
	for i := range 20 {
		want = append(want, fmt.Sprintf("s%d", i))
		queued = append(queued, detailedSession(want[i], 100))
	}
	h := NewHub(Options{}, nil)
	openWithQueued(t, h, log, SharedOptions{PollInterval: 5 * time.Millisecond, BatchBytes: 128 << 10}, queued...)
	if got := appendedIDs(t, h, log.memLog, 20); !slices.Equal(got, want) {
		t.Errorf("got %v in the log; want %v", got, want)
	}
}

// An event too large for any append is dropped, and logged as an error,
// rather than retried forever ahead of every event after it.
func TestAnEventTooLargeForTheLogIsDropped(t *testing.T) {
	log := &sizeLog{memLog: &memLog{}, limit: 256 << 10}
	core, logs := observer.New(zapcore.ErrorLevel)
	h := NewHub(Options{}, nil)
	h.SetLogger(zap.New(core))
	openWithQueued(t, h, log, SharedOptions{PollInterval: 5 * time.Millisecond, BatchBytes: 128 << 10},
		session("before", "u"), detailedSession("huge", 600), session("after", "u"))
	if got, want := appendedIDs(t, h, log.memLog, 2), []string{"before", "after"}; !slices.Equal(got, want) {
		t.Errorf("got %v in the log; want %v", got, want)
	}
	if n := logs.FilterField(zap.String("session_id", "huge")).Len(); n != 1 {
		t.Errorf("got %d errors logged for the dropped event; want 1", n)
	}
}

// shortLog is a memLog that returns at most two records a read, as a log
// reading a bounded number of batches does.
type shortLog struct{ *memLog }

func (l shortLog) ReadRecords(ctx context.Context, after int64, _ int) ([]Record, error) {
	return l.memLog.ReadRecords(ctx, after, 2)
}

func TestAnInstanceStartedOverALongLogReplaysAllOfIt(t *testing.T) {
	log := shortLog{&memLog{}}
	appendEvents(t, log, 10) // 1–10, before this instance starts
	h := openShared(t, log, SharedOptions{PollInterval: 5 * time.Millisecond})
	sub, got := resumeAfter(t, h, 3)
	if want := []int64{4, 5, 6, 7, 8, 9, 10}; sub.Reset || !slices.Equal(got, want) {
		t.Errorf("resume after 3: got reset %v, replay %v; want %v", sub.Reset, got, want)
	}
}

// slowLog is a memLog whose appends take delay, as over a slow link.
type slowLog struct {
	*memLog
	delay time.Duration
}

func (l slowLog) AppendRecords(ctx context.Context, recs []Record) (int64, error) {
	time.Sleep(l.delay)
	return l.memLog.AppendRecords(ctx, recs)
}

func TestAChangeAnsweredAfterAnotherIsLoggedAfterItWhateverItsInstance(t *testing.T) {
	log := &memLog{}
	slow := openShared(t, slowLog{log, 20 * time.Millisecond}, SharedOptions{})
	fast := openShared(t, log, SharedOptions{})

	for i := range 10 {
		id := fmt.Sprint("s", i)
		slow.Await(t.Context(), slow.Publish(t.Context(), sessions.EventOpened, session(id, "u1")))
		fast.Await(t.Context(), fast.Publish(t.Context(), sessions.EventClosed, session(id, "u1")))
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if last, _ := log.LastRecordID(t.Context()); last == 20 {
			break
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	var got []string
	for _, r := range log.recs {
		got = append(got, r.Event.Session.ID+" "+r.Event.Type)
	}
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprint("s", i, " opened"), fmt.Sprint("s", i, " closed"))
	}
	if !slices.Equal(got, want) {
		t.Errorf("log %v; want each open before its close", got)
	}
}

// failingLog is a memLog that cannot append.
type failingLog struct{ *memLog }

func (failingLog) AppendRecords(context.Context, []Record) (int64, error) {
	return 0, fmt.Errorf("database unreachable")
}

func TestAwaitingAnEventGivesUpWhileTheLogFails(t *testing.T) {
	h := openShared(t, failingLog{&memLog{}}, SharedOptions{MaxAwait: time.Minute})
	done := make(chan struct{})
	go func() {
		h.Await(t.Context(), h.Publish(t.Context(), sessions.EventOpened, session("s1", "u1")))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Await still waiting 5 s for a log that fails")
	}
}

// hangingLog is a memLog whose appends hang until released.
type hangingLog struct {
	*memLog
	release chan struct{}
}

func (l hangingLog) AppendRecords(ctx context.Context, recs []Record) (int64, error) {
	<-l.release
	return l.memLog.AppendRecords(ctx, recs)
}

func TestAwaitingAnEventEndsWithTheRequest(t *testing.T) {
	log := hangingLog{&memLog{}, make(chan struct{})}
	h := openShared(t, log, SharedOptions{})
	t.Cleanup(func() { close(log.release) })
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() {
		h.Await(ctx, h.Publish(t.Context(), sessions.EventOpened, session("s1", "u1")))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second): // well under the default MaxAwait
		t.Fatal("Await still waiting 3 s after its request ended")
	}
}

func TestADeviceGetsNotificationsSentThroughTwoInstancesInTheOrderTheyWereSent(t *testing.T) {
	log := &memLog{}
	a := openShared(t, log, SharedOptions{})
	b := openShared(t, log, SharedOptions{PollInterval: time.Hour}) // reads only when it appends
	st, _ := b.Listen("s1")

	for _, step := range []struct {
		via    *Hub
		method string
	}{{a, "first"}, {b, "second"}} {
		if _, err := step.via.Notify(t.Context(), []string{"s1"}, sessions.Notification{Method: step.method}); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"first", "second"} {
		select {
		case n := <-st.Notifications():
			if n.Method != want {
				t.Errorf("got %q; want %q: the device must see the notifications in the order they were sent", n.Method, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q notification within 5 s", want)
		}
	}
}

// healingLog fails every append until healed, counting the failures.
type healingLog struct {
	*memLog
	healed atomic.Bool
	fails  atomic.Int32
}

func (l *healingLog) AppendRecords(ctx context.Context, recs []Record) (int64, error) {
	if !l.healed.Load() {
		l.fails.Add(1)
		return 0, fmt.Errorf("database unreachable")
	}
	return l.memLog.AppendRecords(ctx, recs)
}

// Events whose append is being retried when the hub closes are appended at
// the close, before the events queued after them.
func TestEventsBeingRetriedAtCloseAreAppendedFirst(t *testing.T) {
	log := &healingLog{memLog: &memLog{}}
	h := NewHub(Options{}, nil)
	h.Share(log, SharedOptions{})
	if err := h.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.Publish(t.Context(), sessions.EventOpened, session("e1", "u"))
	for log.fails.Load() == 0 { // the writer now waits to retry e1
		time.Sleep(time.Millisecond)
	}
	h.Publish(t.Context(), sessions.EventOpened, session("e2", "u"))
	h.Publish(t.Context(), sessions.EventOpened, session("e3", "u"))
	log.healed.Store(true)
	if err := h.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range log.recs {
		got = append(got, r.Event.Session.ID)
	}
	if want := []string{"e1", "e2", "e3"}; !slices.Equal(got, want) {
		t.Errorf("log: got %v; want %v", got, want)
	}
}

// gatedLog, once armed, holds the next read until the gate opens and
// counts the reads; it never answers an append.
type gatedLog struct {
	*memLog
	armed         atomic.Bool
	reading, gate chan struct{}
	once          sync.Once
	reads         atomic.Int64
}

func (l *gatedLog) AppendRecords(ctx context.Context, _ []Record) (int64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

func (l *gatedLog) ReadRecords(ctx context.Context, after int64, limit int) ([]Record, error) {
	if !l.armed.Load() {
		return l.memLog.ReadRecords(ctx, after, limit)
	}
	l.once.Do(func() {
		close(l.reading)
		<-l.gate
	})
	l.reads.Add(1)
	return l.memLog.ReadRecords(ctx, after, limit)
}

// A read under way when a close gives up waiting ends there: a closed hub
// delivers nothing, so reading on would fetch the same records forever.
func TestAReadUnderWayWhenACloseGivesUpEnds(t *testing.T) {
	log := &gatedLog{memLog: &memLog{}, reading: make(chan struct{}), gate: make(chan struct{})}
	h := NewHub(Options{}, nil)
	h.Share(log, SharedOptions{PollInterval: time.Millisecond})
	if err := h.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, log.memLog, 1) // another instance's event, to read
	log.armed.Store(true)
	<-log.reading
	h.Publish(t.Context(), sessions.EventOpened, session("e1", "u")) // its append hangs
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	h.Close(ctx) // gives up on the writer
	close(log.gate)
	time.Sleep(200 * time.Millisecond)
	if n := log.reads.Load(); n > 3 {
		t.Errorf("the log was read %d times after the close; want the read to end", n)
	}
}

func TestANotificationWhoseAppendFailedButWasStoredReachesTheDevicesHereToo(t *testing.T) {
	log := &ambiguousLog{memLog: &memLog{}}
	h := openShared(t, log, SharedOptions{PollInterval: 5 * time.Millisecond})
	st, _ := h.Listen("s1")

	if _, err := h.Notify(t.Context(), []string{"s1"}, sessions.Notification{Method: "ping"}); err == nil {
		t.Fatal("the append's answer was lost: got no error; want the caller told")
	}
	select {
	case n := <-st.Notifications():
		if n.Method != "ping" {
			t.Errorf("got %q; want ping", n.Method)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stored notification never reached the device connected here")
	}
	select {
	case n := <-st.Notifications():
		t.Errorf("got %q a second time; want it once", n.Method)
	case <-time.After(50 * time.Millisecond):
	}
}

// uncountableLog is a memLog whose device streams cannot be counted.
type uncountableLog struct{ *memLog }

func (uncountableLog) CountStreams(context.Context, string, []string, time.Time) (int, error) {
	return 0, fmt.Errorf("database unreachable")
}

func TestANotificationSentIsNotAnErrorWhenTheStreamsElsewhereCannotBeCounted(t *testing.T) {
	h := openShared(t, uncountableLog{&memLog{}}, SharedOptions{})
	st, _ := h.Listen("s1")

	n, err := h.Notify(t.Context(), []string{"s1"}, sessions.Notification{Method: "ping"})
	if err != nil || n != 1 {
		t.Errorf("got %d, %v; want 1 stream (this instance's) and no error, since the notification went out", n, err)
	}
	if got := <-st.Notifications(); got.Method != "ping" {
		t.Errorf("got %q; want ping", got.Method)
	}
}

// slowCountLog is a memLog whose device streams are counted only when the
// count's context ends: a database that does not answer.
type slowCountLog struct{ *memLog }

func (slowCountLog) CountStreams(ctx context.Context, _ string, _ []string, _ time.Time) (int, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

// Once a notification is stored, waiting for the reader and counting the
// other instances' streams take MaxAwait at most in all.
func TestANotificationStoredIsAnsweredWithinTheWaitWhateverTheCount(t *testing.T) {
	h := openShared(t, slowCountLog{&memLog{}}, SharedOptions{PollInterval: 5 * time.Millisecond, MaxAwait: 200 * time.Millisecond})
	st, _ := h.Listen("s1")
	defer st.Close()
	answered := make(chan int, 1)
	go func() {
		n, _ := h.Notify(context.Background(), []string{"s1"}, sessions.Notification{Method: "ping"})
		answered <- n
	}()
	select {
	case n := <-answered:
		if n != 1 {
			t.Errorf("got %d streams; want 1, this instance's", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("send_notification still waits on a count the database does not answer; want the answer within MaxAwait")
	}
}

func TestTheDeviceStreamsOfAnInstanceGoneAreForgotten(t *testing.T) {
	log := &memLog{}
	now := time.Now()
	log.PutStreams(t.Context(), "crashed-an-hour-ago", []string{"s1"}, now.Add(-time.Hour))
	log.PutStreams(t.Context(), "seen-a-minute-ago", []string{"s2"}, now.Add(-time.Minute))
	openShared(t, log, SharedOptions{TrimInterval: 10 * time.Millisecond})

	deadline := time.Now().Add(5 * time.Second)
	for slices.Contains(log.instances(), "crashed-an-hour-ago") {
		if time.Now().After(deadline) {
			t.Fatalf("instances recorded: %v; want the one not seen for an hour forgotten", log.instances())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !slices.Contains(log.instances(), "seen-a-minute-ago") {
		t.Errorf("instances recorded: %v; want the one seen a minute ago kept", log.instances())
	}
}

// unwatchableLog is a memLog whose server, asked to be watched, answers
// that it cannot be: the channel it returns is closed. It counts reads.
type unwatchableLog struct {
	*memLog
	reads atomic.Int32
}

func (l *unwatchableLog) WatchRecords(context.Context) <-chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

func (l *unwatchableLog) ReadRecords(ctx context.Context, after int64, limit int) ([]Record, error) {
	l.reads.Add(1)
	return l.memLog.ReadRecords(ctx, after, limit)
}

func TestALogThatTurnsOutUnwatchableIsPolledAtThePollInterval(t *testing.T) {
	log := &unwatchableLog{memLog: &memLog{}}
	h := openShared(t, log, SharedOptions{PollInterval: 50 * time.Millisecond})
	sub, _ := h.Subscribe(t.Context(), Filter{}, Resume{})
	start := log.reads.Load()

	appendEvents(t, log.memLog, 1) // by another instance
	select {
	case <-sub.Events():
	case <-time.After(time.Second): // the watched interval would be 500 ms
		t.Fatal("another instance's event not delivered within 1 s; want it polled for every 50 ms")
	}
	time.Sleep(500 * time.Millisecond)
	if reads := log.reads.Load() - start; reads > 40 {
		t.Errorf("%d reads in about 500 ms; want about 10, one per poll interval", reads)
	}
}

// outageLog is a memLog whose reads, while down is set, fail as a database
// that does not answer does: at the end of a timeout.
type outageLog struct {
	*memLog
	down  atomic.Bool
	reads atomic.Int64
}

func (l *outageLog) ReadRecords(ctx context.Context, after int64, limit int) ([]Record, error) {
	l.reads.Add(1)
	if l.down.Load() {
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
		return nil, errors.New("server selection timeout")
	}
	return l.memLog.ReadRecords(ctx, after, limit)
}

// A read that timed out says nothing of how fast the log answers: once
// the database is back, what other instances appended arrives within a
// moment, not after four times the timeout, as a slow log's next poll
// would wait.
func TestOnceTheLogAnswersAgainItsEventsArriveWithinAMoment(t *testing.T) {
	log := &outageLog{memLog: &memLog{}}
	h := openShared(t, log, SharedOptions{PollInterval: 10 * time.Millisecond})
	sub, _ := h.Subscribe(t.Context(), Filter{}, Resume{})
	log.down.Store(true)
	for reads := log.reads.Load(); log.reads.Load() < reads+3; { // three timed out
		time.Sleep(10 * time.Millisecond)
	}
	log.down.Store(false)
	appendEvents(t, log.memLog, 1) // by another instance
	select {
	case <-sub.Events():
	case <-time.After(3 * time.Second): // a slow log's pace would be 4 s after the last failure
		t.Fatal("another instance's event not delivered within 3 s of the log's return")
	}
}

// stalledLog is a memLog whose reads, once armed, wait for their context,
// as reads of a database that stopped answering do until they time out.
type stalledLog struct {
	*memLog
	armed   atomic.Bool
	reading chan struct{} // closed when a stalled read starts
	once    sync.Once
}

func (l *stalledLog) ReadRecords(ctx context.Context, after int64, limit int) ([]Record, error) {
	if !l.armed.Load() {
		return l.memLog.ReadRecords(ctx, after, limit)
	}
	l.once.Do(func() { close(l.reading) })
	<-ctx.Done()
	return nil, ctx.Err()
}

// A read under way when the hub closes ends then, rather than hold the
// stop until it times out.
func TestACloseEndsTheReadUnderWay(t *testing.T) {
	log := &stalledLog{memLog: &memLog{}, reading: make(chan struct{})}
	h := NewHub(Options{}, nil)
	h.Share(log, SharedOptions{PollInterval: time.Millisecond})
	if err := h.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	log.armed.Store(true)
	<-log.reading
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second) // a read times out after 10 s
	defer cancel()
	started := time.Now()
	if err := h.Close(ctx); err != nil {
		t.Fatalf("close: %v after %v; want it done once the read ended", err, time.Since(started))
	}
}

// laggingLog is a memLog whose reads each take delay, as a slow
// database's do; armed, the next read alone takes a second, as one that
// waited for a database coming back does, and closes waited as it returns.
type laggingLog struct {
	*memLog
	delay  time.Duration
	reads  atomic.Int64
	armed  atomic.Bool
	waited chan struct{}
}

func (l *laggingLog) ReadRecords(ctx context.Context, after int64, limit int) ([]Record, error) {
	l.reads.Add(1)
	wait := l.delay
	if l.armed.CompareAndSwap(true, false) {
		wait = time.Second
		defer close(l.waited)
	}
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return l.memLog.ReadRecords(ctx, after, limit)
}

func TestASlowLogIsPolledLessOften(t *testing.T) {
	log := &laggingLog{memLog: &memLog{}, delay: 50 * time.Millisecond}
	openShared(t, log, SharedOptions{PollInterval: time.Millisecond})
	start := log.reads.Load()
	time.Sleep(time.Second)
	// Back to back, reads of 50 ms would be 20 a second; paced, a read
	// and four times its length: 4.
	if reads := log.reads.Load() - start; reads > 10 {
		t.Errorf("%d reads of 50 ms in a second; want about 4, each followed by a pause four times its length", reads)
	}
}

func TestOneReadThatWaitedDoesNotHoldBackTheNext(t *testing.T) {
	log := &laggingLog{memLog: &memLog{}, waited: make(chan struct{})}
	h := openShared(t, log, SharedOptions{PollInterval: 10 * time.Millisecond})
	sub, _ := h.Subscribe(t.Context(), Filter{}, Resume{})
	for log.reads.Load() < 3 { // some quick reads first
		time.Sleep(5 * time.Millisecond)
	}
	log.armed.Store(true)
	<-log.waited
	appendEvents(t, log.memLog, 1) // by another instance, after the read that waited
	select {
	case <-sub.Events():
	case <-time.After(2 * time.Second): // paced by that read alone, the next would come after 4 s
		t.Fatal("another instance's event not delivered within 2 s of a read that waited")
	}
}

// downStreamsLog is a memLog whose device streams cannot be recorded, as
// during a database outage; it counts the tries.
type downStreamsLog struct {
	*memLog
	puts atomic.Int32
}

func (l *downStreamsLog) PutStreams(context.Context, string, []string, time.Time) error {
	l.puts.Add(1)
	return errors.New("server selection timeout")
}

// An outage is told once when the records of the device streams start
// failing, not at every beat.
func TestDeviceStreamsThatCannotBeRecordedAreToldOfOnce(t *testing.T) {
	log := &downStreamsLog{memLog: &memLog{}}
	core, logs := observer.New(zapcore.DebugLevel)
	h := NewHub(Options{}, nil)
	h.SetLogger(zap.New(core))
	share(t, h, log, SharedOptions{})
	for range 5 { // each change of the streams is a beat
		before := log.puts.Load()
		st, err := h.Listen("s1")
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); log.puts.Load() == before; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no try to record the device streams within 5 s of a change")
			}
		}
		st.Close()
	}
	warned := logs.FilterMessageSnippet("record device streams failed").FilterLevelExact(zapcore.WarnLevel).Len()
	if tries := log.puts.Load(); warned != 1 || tries < 5 {
		t.Errorf("%d failed records told of in %d warnings; want at least 5 tries and 1 warning", tries, warned)
	}
}

// brokenLog is a memLog that, once broken, cannot count the other
// instances' device streams nor tell its last record, as a database that
// does not answer.
type brokenLog struct {
	*memLog
	broken atomic.Bool
}

func (l *brokenLog) CountStreams(ctx context.Context, except string, ids []string, seenAfter time.Time) (int, error) {
	if l.broken.Load() {
		return 0, errors.New("server selection timeout")
	}
	return l.memLog.CountStreams(ctx, except, ids, seenAfter)
}

func (l *brokenLog) LastRecordID(ctx context.Context) (int64, error) {
	if l.broken.Load() {
		return 0, errors.New("server selection timeout")
	}
	return l.memLog.LastRecordID(ctx)
}

// What a request's call into the log fails at is told with the request's
// correlation id.
func TestALogFailureOfARequestCarriesItsCorrelationID(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	h := NewHub(Options{}, nil)
	h.SetLogger(zap.New(core))
	log := &brokenLog{memLog: &memLog{}}
	share(t, h, log, SharedOptions{MaxAwait: 100 * time.Millisecond})
	log.broken.Store(true)

	ctx := sessions.WithCorrelationID(t.Context(), "req-9")
	if _, err := h.Notify(ctx, []string{"s1"}, sessions.Notification{Method: "m"}); err != nil {
		t.Fatal(err)
	}
	sub, err := h.Subscribe(ctx, Filter{}, Resume{From: true, AfterID: h.LastID() + 1000}) // ahead of this hub
	if err != nil {
		t.Fatal(err)
	}
	sub.Close()
	for _, msg := range []string{"count the device streams of other instances failed", "read the event log's last id failed"} {
		told := logs.FilterMessageSnippet(msg).All()
		if len(told) != 1 || told[0].ContextMap()["correlation_id"] != "req-9" {
			t.Errorf("%q: got %v; want one line with correlation_id req-9", msg, told)
		}
	}
}

func TestAnEventDroppedForAFullQueueIsToldWithItsRequest(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	h := NewHub(Options{}, nil)
	h.SetLogger(zap.New(core))
	h.Share(&gatedLog{memLog: &memLog{}}, SharedOptions{QueueSize: 1}) // every append hangs
	if err := h.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		h.Close(ctx) // gives up on the hung writer
	}()

	ctx := sessions.WithCorrelationID(t.Context(), "req-7")
	dropped := false
	for i := 0; i < 100 && !dropped; i++ {
		dropped = h.Publish(ctx, sessions.EventOpened, session(fmt.Sprint("s", i), "u")) == 0
	}
	if !dropped {
		t.Fatal("100 events queued behind a hung append; want the queue of 1 to overflow")
	}
	told := logs.FilterMessage("event queue full: event dropped").All()
	if len(told) != 1 || told[0].ContextMap()["correlation_id"] != "req-7" || told[0].ContextMap()["session_id"] == "" {
		t.Errorf("got %v; want one line with correlation_id req-7 and the session id", told)
	}
}
