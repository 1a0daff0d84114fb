package persistence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// benchSession returns a session with small data, as the product targets
// are stated for.
func benchSession(n int, base time.Time) *sessions.Session {
	rt := base.Add(time.Duration(n) * time.Millisecond)
	return &sessions.Session{
		ID: fmt.Sprintf("%032x", n*7919+1), UserID: fmt.Sprintf("user-%d", n/3), UserName: fmt.Sprintf("User %d", n/3),
		Active: true, OpenTime: rt, RequestTime: rt, Address: "203.0.113.7", Client: "web",
		User:     json.RawMessage(fmt.Sprintf(`{"id":"user-%d","name":"User %d"}`, n/3, n/3)),
		Data:     json.RawMessage(`{"theme":"dark"}`),
		DeviceID: fmt.Sprintf("device-%d", n),
	}
}

// benchBase is the time the benchmarks' sessions are opened from.
var benchBase = time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)

// benchRecords returns the records of n sessions made by benchSession.
func benchRecords(n int) []*record {
	list := make([]*record, n)
	for i := range list {
		list[i] = pack(benchSession(i, benchBase))
	}
	return list
}

// BenchmarkFileReload measures Open on a store of a million sessions: from
// a snapshot alone (after a clean Close), and with a journal of changes on
// top (after a crash).
func BenchmarkFileReload(b *testing.B) {
	const n = 1_000_000
	list := benchRecords(n)
	mem := NewMemory()
	mem.load(list)
	list = mem.snapshot()

	for _, journaled := range []int{0, 200_000} {
		b.Run(fmt.Sprintf("sessions=%d/journaled=%d", n, journaled), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "sessions.json")
			size, err := writeSnapshot(path, 0, list, nil)
			if err != nil {
				b.Fatal(err)
			}
			if journaled > 0 {
				writeJournal(b, path, list[:journaled])
			}
			runtime.GC()
			b.ResetTimer()
			for range b.N {
				f := NewFile(path)
				// Never compact, so every iteration reloads the same files.
				f.compactMin = 1 << 62
				if err := f.Open(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if got := f.mem.Len(); got != n {
					b.Fatalf("sessions: got %d; want %d", got, n)
				}
				stopAsACrash(b, f) // a Close would fold the journal into the snapshot
				f = nil
				runtime.GC()
				b.StartTimer()
			}
			b.ReportMetric(float64(size)/n, "snapshot-B/session")
		})
	}
}

// writeJournal renews the given sessions through a store, as 64 writers
// would, and leaves the journal behind as a crash would.
func writeJournal(b *testing.B, path string, renew []*record) {
	b.Helper()
	f := NewFile(path)
	f.compactMin = 1 << 62
	if err := f.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	work := make(chan *record)
	for range 64 {
		wg.Go(func() {
			for r := range work {
				if _, err := f.Update(context.Background(), r.id(), sessions.Update{RequestTime: fromMillis(r.request).Add(time.Hour)}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for _, r := range renew {
		work <- r
	}
	close(work)
	wg.Wait()
	stopAsACrash(b, f)
}

// stopAsACrash stops f without the compaction of Close, leaving its files
// as a crash would, and releases its lock.
func stopAsACrash(b *testing.B, f *File) {
	b.Helper()
	f.mu.Lock()
	f.closed = true
	f.signal()
	f.mu.Unlock()
	<-f.stopped
	if err := errors.Join(f.journal.close(), f.lock.Close()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFileCompactionLatency measures what a compaction of a store of
// 600 000 sessions does to the changes and reads beside it: 8 writers,
// each opening a session, reading another and pausing 2 ms, while the
// journal is folded into a new snapshot. It reports the p99 and the
// worst of their latencies during the compactions; run it with
// GOMAXPROCS=1 too, as in a container of one CPU.
func BenchmarkFileCompactionLatency(b *testing.B) {
	const n = 600_000
	list := benchRecords(n)
	path := filepath.Join(b.TempDir(), "sessions.json")
	if _, err := writeSnapshot(path, 0, list, nil); err != nil {
		b.Fatal(err)
	}
	list = nil
	f := NewFile(path)
	f.compactMin = 1 << 62 // only the compactions below
	if err := f.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer f.Close(context.Background())

	var (
		mu         sync.Mutex
		compacting bool
		during     []time.Duration
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
				start := time.Now()
				if _, err := f.Create(context.Background(), benchSession(n+w*10_000_000+i, benchBase)); err != nil {
					b.Error(err)
					return
				}
				if _, err := f.GetOneByID(context.Background(), fmt.Sprintf("%032x", i%n*7919+1)); err != nil {
					b.Error(err)
					return
				}
				lat := time.Since(start)
				mu.Lock()
				if compacting {
					during = append(during, lat)
				}
				mu.Unlock()
			}
		})
	}
	time.Sleep(time.Second) // the writers under way
	b.ResetTimer()
	for range b.N {
		mu.Lock()
		compacting = true
		mu.Unlock()
		if err := f.compact(); err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		compacting = false
		mu.Unlock()
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	if len(during) == 0 {
		b.Fatal("no change ran during the compactions")
	}
	slices.Sort(during)
	b.ReportMetric(float64(during[len(during)*99/100])/1e6, "p99-ms")
	b.ReportMetric(float64(during[len(during)-1])/1e6, "max-ms")
}
