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
