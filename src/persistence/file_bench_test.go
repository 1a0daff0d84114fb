package persistence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
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

// BenchmarkFileReload measures Open on a store of a million sessions: from
// a snapshot alone (after a clean Close), and with a journal of changes on
// top (after a crash).
func BenchmarkFileReload(b *testing.B) {
	const n = 1_000_000
	base := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	list := make([]*record, n)
	for i := range list {
		list[i] = pack(benchSession(i, base))
	}
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
