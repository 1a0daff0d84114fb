package test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/events"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// logRecords returns n event records from origin.
func logRecords(origin string, n int) []events.Record {
	now := time.Now().UTC().Truncate(time.Millisecond)
	recs := make([]events.Record, n)
	for i := range recs {
		s := &sessions.Session{ID: origin + "-session", UserID: "u1", Active: true, OpenTime: now, RequestTime: now}
		recs[i] = events.Record{Origin: origin, Event: &sessions.Event{Type: sessions.EventOpened, Time: now, Session: s}}
	}
	return recs
}

// readLog returns the ids and origins of every record of the log after after.
func readLog(t *testing.T, m *persistence.MongoDB, after int64) (ids []int64, origins []string) {
	t.Helper()
	recs, err := m.ReadRecords(context.Background(), after, 1000)
	if err != nil {
		t.Fatalf("ReadRecords: %v", err)
	}
	for _, r := range recs {
		ids = append(ids, r.ID)
		origins = append(origins, r.Origin)
	}
	return ids, origins
}

func TestTheSharedEventLogNumbersRecordsConsecutivelyAcrossInstances(t *testing.T) {
	uri := mongoURI(t)
	cfg := mongoSettings(uri, mongoDatabase(t, uri))
	a, b := openMongoDB(t, cfg), openMongoDB(t, cfg)
	ctx := context.Background()

	for _, step := range []struct {
		on        *persistence.MongoDB
		origin    string
		n         int
		wantFirst int64
	}{
		{a, "a", 1, 1},
		{b, "b", 2, 2},
		// a appends after b's batch, not where its own left off.
		{a, "a", 1, 4},
		{b, "b", 3, 5},
	} {
		first, err := step.on.AppendRecords(ctx, logRecords(step.origin, step.n))
		if err != nil {
			t.Fatalf("AppendRecords on %s: %v", step.origin, err)
		}
		if first != step.wantFirst {
			t.Errorf("%s appended %d records at %d; want at %d", step.origin, step.n, first, step.wantFirst)
		}
	}

	ids, origins := readLog(t, a, 0)
	if want := []int64{1, 2, 3, 4, 5, 6, 7}; !slices.Equal(ids, want) {
		t.Errorf("ids %v; want %v", ids, want)
	}
	if want := []string{"a", "b", "b", "a", "b", "b", "b"}; !slices.Equal(origins, want) {
		t.Errorf("origins %v; want %v", origins, want)
	}
	if ids, _ := readLog(t, b, 3); !slices.Equal(ids, []int64{4, 5, 6, 7}) {
		t.Errorf("after 3: ids %v; want [4 5 6 7]", ids)
	}
	if last, err := b.LastRecordID(ctx); err != nil || last != 7 {
		t.Errorf("LastRecordID = %d, %v; want 7", last, err)
	}
}

func TestInstancesAppendingAtOnceGetConsecutiveIdsAndKeepTheirBatchesWhole(t *testing.T) {
	uri := mongoURI(t)
	cfg := mongoSettings(uri, mongoDatabase(t, uri))
	const instances, batches, size = 3, 10, 2
	var wg sync.WaitGroup
	errs := make(chan error, instances*batches)
	for i := range instances {
		m, origin := openMongoDB(t, cfg), string(rune('a'+i))
		wg.Go(func() {
			for n := range batches {
				recs := logRecords(origin, size)
				for j := range recs {
					recs[j].Batch = origin + strconv.Itoa(n)
				}
				if _, err := m.AppendRecords(context.Background(), recs); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("AppendRecords: %v", err)
	}

	recs, err := openMongoDB(t, cfg).ReadRecords(context.Background(), 0, 1000)
	if err != nil {
		t.Fatalf("ReadRecords: %v", err)
	}
	if len(recs) != instances*batches*size {
		t.Fatalf("got %d records; want %d", len(recs), instances*batches*size)
	}
	for i, r := range recs {
		if r.ID != int64(i+1) {
			t.Fatalf("record %d has id %d; want consecutive ids from 1", i, r.ID)
		}
		// Each batch's records are stored together, under its name.
		if first := recs[i-i%size]; r.Batch != first.Batch || r.Origin != first.Origin {
			t.Errorf("record %d is of batch %s of %s; want %s of %s", r.ID, r.Batch, r.Origin, first.Batch, first.Origin)
		}
	}
}

func TestTrimmingTheSharedEventLogRemovesOnlyWholeBatchesBelowTheMark(t *testing.T) {
	m := newMongoDB(t)
	ctx := context.Background()
	for _, n := range []int{2, 2, 2} { // batches 1–2, 3–4, 5–6
		if _, err := m.AppendRecords(ctx, logRecords("a", n)); err != nil {
			t.Fatalf("AppendRecords: %v", err)
		}
	}

	// The batch 3–4 holds a record at the mark, so it stays whole.
	if err := m.TrimRecords(ctx, 4); err != nil {
		t.Fatalf("TrimRecords: %v", err)
	}
	if ids, _ := readLog(t, m, 0); !slices.Equal(ids, []int64{3, 4, 5, 6}) {
		t.Errorf("after trimming below 4: ids %v; want [3 4 5 6]", ids)
	}

	// Trimming never renumbers: the next record still follows the last.
	if err := m.TrimRecords(ctx, 5); err != nil {
		t.Fatalf("TrimRecords: %v", err)
	}
	first, err := m.AppendRecords(ctx, logRecords("a", 1))
	if err != nil || first != 7 {
		t.Fatalf("AppendRecords after the trim = %d, %v; want 7", first, err)
	}
	if ids, _ := readLog(t, m, 0); !slices.Equal(ids, []int64{5, 6, 7}) {
		t.Errorf("after trimming below 5: ids %v; want [5 6 7]", ids)
	}
}

func TestAnInstanceAppendsAfterWhatOthersAppendedAndTrimmedMeanwhile(t *testing.T) {
	uri := mongoURI(t)
	cfg := mongoSettings(uri, mongoDatabase(t, uri))
	a, b := openMongoDB(t, cfg), openMongoDB(t, cfg)
	ctx := context.Background()
	if _, err := a.AppendRecords(ctx, logRecords("a", 1)); err != nil { // 1
		t.Fatalf("AppendRecords on a: %v", err)
	}
	for range 2 { // 2–3, 4–5
		if _, err := b.AppendRecords(ctx, logRecords("b", 2)); err != nil {
			t.Fatalf("AppendRecords on b: %v", err)
		}
	}
	// b trims 1 and 2–3: the ids a last appended after are free again.
	if err := b.TrimRecords(ctx, 5); err != nil {
		t.Fatalf("TrimRecords: %v", err)
	}

	first, err := a.AppendRecords(ctx, logRecords("a", 1))
	if err != nil || first != 6 {
		t.Fatalf("a appended at %d, %v; want at 6, after b's last record", first, err)
	}
	if ids, origins := readLog(t, b, 5); !slices.Equal(ids, []int64{6}) || !slices.Equal(origins, []string{"a"}) {
		t.Errorf("after 5: ids %v from %v; want [6] from [a]", ids, origins)
	}
}

// A reader at the end of what it read finds the next batches by id, a few
// one by one, then the rest by range: either way it gets every record
// another instance appended meanwhile, in order.
func TestAReaderBehindByManyBatchesGetsThemAllInOrder(t *testing.T) {
	uri := mongoURI(t)
	cfg := mongoSettings(uri, mongoDatabase(t, uri))
	writer, reader := openMongoDB(t, cfg), openMongoDB(t, cfg)
	ctx := context.Background()
	if _, err := writer.AppendRecords(ctx, logRecords("w", 1)); err != nil {
		t.Fatal(err)
	}
	if ids, _ := readLog(t, reader, 0); !slices.Equal(ids, []int64{1}) { // now at a batch's end
		t.Fatalf("first read: ids %v; want [1]", ids)
	}
	var want []int64
	for i := range 12 {
		if _, err := writer.AppendRecords(ctx, logRecords("w", 1+i%2)); err != nil {
			t.Fatal(err)
		}
	}
	for id := int64(2); id <= 19; id++ {
		want = append(want, id)
	}
	if ids, _ := readLog(t, reader, 1); !slices.Equal(ids, want) {
		t.Errorf("ids %v; want %v", ids, want)
	}
}

func TestTheDeviceStreamsOfInstancesGoneAreCountedUntilStaleAndForgottenLater(t *testing.T) {
	uri := mongoURI(t)
	m := openMongoDB(t, mongoSettings(uri, mongoDatabase(t, uri)))
	ctx := context.Background()
	now := time.Now()
	for instance, seen := range map[string]time.Time{"gone": now.Add(-time.Hour), "alive": now, "quiet": now.Add(-time.Minute)} {
		if err := m.PutStreams(ctx, instance, []string{"s1", "s2"}, seen); err != nil {
			t.Fatal(err)
		}
	}
	count := func(freshAfter time.Time) int {
		t.Helper()
		n, err := m.CountStreams(ctx, "me", []string{"s1"}, freshAfter)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(now.Add(-10 * time.Second)); n != 1 {
		t.Errorf("streams of s1 seen in the last 10 s: got %d; want 1, the live instance's", n)
	}
	if n := count(now.Add(-2 * time.Hour)); n != 3 {
		t.Errorf("streams of s1 seen in the last 2 h: got %d; want 3", n)
	}

	if err := m.ForgetStreams(ctx, now.Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := count(now.Add(-2 * time.Hour)); n != 2 {
		t.Errorf("after forgetting the instances not seen for 10 min: got %d streams of s1; want 2", n)
	}
}

// An event log that cannot be reached when it is first watched is retried,
// rather than taken for a server without change streams: the reader is
// woken every second meanwhile, and learns only from the server's own
// answer that it must poll (the test server has no change streams).
func TestWatchingTheEventLogRetriesWhileTheDatabaseIsDown(t *testing.T) {
	t.Parallel()
	server := startMongoServer(t)
	cfg := mongoSettings(server.URI(), "watch")
	cfg["options"] = map[string]any{"connect_timeout": "5000", "operation_timeout": "500"}
	m := openMongoDB(t, cfg)
	server.Stop(t)

	watch := m.WatchRecords(t.Context())
	if watch == nil {
		t.Fatal("WatchRecords while the database is down: got nil, which means polling for good; want a channel")
	}
	wakes := 0
	for deadline := time.After(3 * time.Second); wakes >= 0; {
		select {
		case _, ok := <-watch:
			if !ok {
				t.Fatalf("the watch was given up after %d wakes while the database was down; want it retried", wakes)
			}
			wakes++
		case <-deadline:
			if wakes == 0 {
				t.Fatal("no wake in 3 s while the database was down; want one every second, as polling would")
			}
			wakes = -1
		}
	}

	server.Start(t)
	for deadline := time.After(20 * time.Second); ; {
		select {
		case _, ok := <-watch:
			if !ok {
				return // the server answered that it has no change streams
			}
		case <-deadline:
			t.Fatal("the watch still runs 20 s after the database came back; want it closed, the server having no change streams")
		}
	}
}

// After the log is emptied under instances at different positions, an
// instance filling the log up to its position and another appending race
// as any two appends do: batches stay consecutive, and a reader from the
// start reads each id once, in order.
func TestAnEmptiedEventLogIsFilledWithoutOverlaps(t *testing.T) {
	uri := mongoURI(t)
	ctx := t.Context()
	for round := range 10 {
		db := mongoDatabase(t, uri)
		cfg := mongoSettings(uri, db)
		a, b, reader := openMongoDB(t, cfg), openMongoDB(t, cfg), openMongoDB(t, cfg)
		if _, err := a.AppendRecords(ctx, logRecords("a", 10)); err != nil {
			t.Fatal(err)
		}
		readLog(t, a, 10) // a is at 10, b behind at 6
		readLog(t, b, 6)
		if err := mongoCollection(t, uri, db).Database().Collection("sessions_events").Drop(ctx); err != nil {
			t.Fatal(err)
		}
		readLog(t, a, 0) // a's next read after 10 is by range
		var wg sync.WaitGroup
		wg.Go(func() { readLog(t, a, 10) }) // fills the log up to 10
		wg.Go(func() {
			if _, err := b.AppendRecords(ctx, logRecords("b", 6)); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if _, err := a.AppendRecords(ctx, logRecords("a", 3)); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
		ids, origins := readLog(t, reader, 0)
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Fatalf("round %d: a reader from the start read ids %v (origins %v); want each once, rising", round, ids, origins)
			}
		}
		count := func(origin string) int {
			return len(slices.DeleteFunc(slices.Clone(origins), func(o string) bool { return o != origin }))
		}
		if count("a") != 3 || count("b") != 6 {
			t.Fatalf("round %d: read ids %v, origins %v; want a's 3 records and b's 6", round, ids, origins)
		}
	}
}

// An instance whose reader is behind its own appends when the log is
// emptied fills the log up to them at its next append. Its reader, at a
// batch's end inside the filled ids, finds the filler and what follows it
// at its next read, not only at the next periodic read by range.
func TestAReaderInsideTheIDsItsInstanceFilledReadsOnAtOnce(t *testing.T) {
	uri := mongoURI(t)
	db := mongoDatabase(t, uri)
	a := openMongoDB(t, mongoSettings(uri, db))
	ctx := t.Context()
	if _, err := a.AppendRecords(ctx, logRecords("a", 5)); err != nil {
		t.Fatal(err)
	}
	if ids, _ := readLog(t, a, 0); len(ids) != 5 {
		t.Fatalf("read ids %v; want 1 to 5", ids)
	}
	if _, err := a.AppendRecords(ctx, logRecords("a", 5)); err != nil { // 6 to 10, not read yet
		t.Fatal(err)
	}
	if err := mongoCollection(t, uri, db).Database().Collection("sessions_events").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	first, err := a.AppendRecords(ctx, logRecords("a", 1))
	if err != nil {
		t.Fatal(err)
	}
	if first != 11 {
		t.Fatalf("the append after the drop took id %d; want 11, above the 10 this instance appended", first)
	}
	// 6 to 10 are gone with the drop: the filler's one id stands for them.
	if ids, _ := readLog(t, a, 5); !slices.Equal(ids, []int64{10, 11}) {
		t.Fatalf("read ids %v after 5; want [10 11], the filler's end and the append after it", ids)
	}
}
