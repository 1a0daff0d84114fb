package persistence

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// BenchmarkMemoryFootprint reports the live heap per stored session for
// 100 000 sessions with small data, created as the controller would.
func BenchmarkMemoryFootprint(b *testing.B) {
	const n = 100_000
	base := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	input := make([]*sessions.Session, n)
	for i := range input {
		input[i] = benchSession(i, base)
	}
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m := NewMemory()
		for _, s := range input {
			if _, err := m.Create(context.Background(), s); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/session")
		runtime.KeepAlive(m)
	}
}

// BenchmarkMemoryListing measures get_sessions pages on 100 000 sessions
// while they are being renewed: unfiltered, by user, by time range.
func BenchmarkMemoryListing(b *testing.B) {
	const n = 100_000
	base := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	m := NewMemory()
	for i := range n {
		if _, err := m.Create(context.Background(), benchSession(i, base)); err != nil {
			b.Fatal(err)
		}
	}
	yes := true
	for _, bc := range []struct {
		name   string
		filter sessions.Filter
		paging sessions.Paging
	}{
		{"all", sessions.Filter{}, sessions.Paging{Take: 100}},
		{"all with total", sessions.Filter{}, sessions.Paging{Take: 100, Total: true}},
		{"user", sessions.Filter{UserID: "user-4242"}, sessions.Paging{Take: 100, Total: true}},
		{"active", sessions.Filter{Active: &yes, Now: base}, sessions.Paging{Take: 100}},
		{"time range", sessions.Filter{FromTime: base.Add(50 * time.Second), ToTime: base.Add(51 * time.Second)}, sessions.Paging{Take: 100}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				// A renewal between listings, as a live service has.
				i++
				if _, err := m.Update(context.Background(), benchSession(i%n, base).ID,
					sessions.Update{RequestTime: base.Add(time.Duration(n+i) * time.Millisecond)}); err != nil {
					b.Fatal(err)
				}
				if _, err := m.GetPageByFilter(context.Background(), bc.filter, bc.paging); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
