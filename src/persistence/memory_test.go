package persistence

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
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

// The ordered index stays in newer order, forwards and backwards, through
// any mix of inserts, moves and removals, and seeks as a scan would.
func TestSkiplistKeepsTheOrder(t *testing.T) {
	base := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	rnd := rand.New(rand.NewPCG(1, 2))
	list := newSkiplist()
	live := map[string]*entry{}
	at := func() time.Time { return base.Add(time.Duration(rnd.IntN(500)) * time.Millisecond) }
	for step := range 20_000 {
		id := fmt.Sprintf("s%03d", rnd.IntN(300))
		e := live[id]
		switch {
		case e == nil:
			e = newEntry(pack(&sessions.Session{ID: id, RequestTime: at()}))
			list.insert(e)
			live[id] = e
		case rnd.IntN(3) == 0:
			list.remove(e)
			delete(live, id)
		default:
			list.remove(e)
			e.r = pack(&sessions.Session{ID: id, RequestTime: at()})
			e.request = e.r.request
			list.insert(e)
		}
		if step%500 != 0 {
			continue
		}
		want := make([]*record, 0, len(live))
		for _, e := range live {
			want = append(want, e.r)
		}
		slices.SortFunc(want, newer)
		for level := range list.height {
			var got []*record
			prev := &list.head
			for x := list.head.next(level); x != nil; x = x.next(level) {
				if x.prev(level) != prev {
					t.Fatalf("step %d, level %d: the entry before %s links back to another", step, level, x.r.id())
				}
				got = append(got, x.r)
				prev = x
			}
			if level == 0 && !slices.Equal(got, want) {
				t.Fatalf("step %d: the order has %d entries, out of newer order or missing some of %d", step, len(got), len(want))
			}
			if !slices.IsSortedFunc(got, newer) {
				t.Fatalf("step %d, level %d: out of order", step, level)
			}
		}
		seekAt := at()
		var wantFirst *record
		for _, r := range want {
			if fromMillis(r.request).Before(seekAt) {
				wantFirst = r
				break
			}
		}
		if got := list.seek(seekAt); (got == nil) != (wantFirst == nil) || (got != nil && got.r != wantFirst) {
			t.Fatalf("step %d: seek(%v) is not the newest entry before it", step, seekAt)
		}
	}
}
