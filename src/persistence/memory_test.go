package persistence

import (
	"context"
	"fmt"
	"hash/maphash"
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
	const ids = 300
	recs := make([]*record, ids+1) // by handle, as the store keeps them
	list := newSkiplist(func(h handle) string { return recs[h].id() })
	at := func() time.Time { return base.Add(time.Duration(rnd.IntN(500)) * time.Millisecond) }
	for step := range 20_000 {
		h := handle(1 + rnd.IntN(ids))
		id := fmt.Sprintf("s%03d", h)
		switch {
		case recs[h] == nil:
			recs[h] = pack(&sessions.Session{ID: id, RequestTime: at()})
			list.insert(h, recs[h].request)
		case rnd.IntN(3) == 0:
			list.remove(h)
			recs[h] = nil
		default:
			list.remove(h)
			recs[h] = pack(&sessions.Session{ID: id, RequestTime: at()})
			list.insert(h, recs[h].request)
		}
		if step%500 != 0 {
			continue
		}
		var want []*record
		for _, r := range recs {
			if r != nil {
				want = append(want, r)
			}
		}
		slices.SortFunc(want, newer)
		for level := range list.height {
			var got []*record
			prev := handle(0)
			for x := list.next(0, level); x != 0; x = list.next(x, level) {
				if list.prev(x, level) != prev {
					t.Fatalf("step %d, level %d: the session before %s links back to another", step, level, recs[x].id())
				}
				got = append(got, recs[x])
				prev = x
			}
			if level == 0 && !slices.Equal(got, want) {
				t.Fatalf("step %d: the order has %d sessions, out of newer order or missing some of %d", step, len(got), len(want))
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
		if got := list.seek(seekAt); recs[got] != wantFirst { // recs[0] is nil
			t.Fatalf("step %d: seek(%v) is not the newest session before it", step, seekAt)
		}
	}
}

// A key's chain holds exactly the sessions added with that key and not
// removed, and counts them, through any mix of adds and removals.
func TestKeyIndexChains(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	x := newKeyIndex(maphash.MakeSeed(), 0)
	const handles = 200
	keys := make([]string, handles+1) // by handle; "" when not indexed
	for step := range 10_000 {
		h := handle(1 + rnd.IntN(handles))
		if keys[h] != "" {
			x.remove(keys[h], h)
			keys[h] = ""
		} else {
			keys[h] = fmt.Sprintf("user-%d", rnd.IntN(20)) // many sessions per key
			x.add(keys[h], h)
		}
		if step%100 != 0 {
			continue
		}
		for key := range 20 {
			k := fmt.Sprintf("user-%d", key)
			var want, got []handle
			for h, kh := range keys {
				if kh == k {
					want = append(want, handle(h))
				}
			}
			first, n := x.first(k)
			for h := first; h != 0; h = x.next(h) {
				got = append(got, h)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) || n != len(want) {
				t.Fatalf("step %d: %s has %v (count %d), want %v", step, k, got, n, want)
			}
		}
	}
}

// Ids whose hashes collide share a chain of the id index, and a lookup
// compares the id of what it finds: a session is found behind another that
// heads its chain, alone or among other ids.
func TestLookupWalksAChainOfCollidingIDs(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	m := NewMemory()
	var ids []string
	for i := range 3 {
		s, err := m.Create(ctx, benchSession(i, base))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	// Move the second session into the chain of the first, at its head, as
	// if the two ids had one hash.
	x := &m.byID
	moved := m.lookup(ids[1])
	x.remove(ids[1], moved)
	k := x.hash(ids[0])
	c := x.heads[k]
	x.links[moved] = link{next: c.first}
	x.links[c.first].prev = moved
	x.heads[k] = chain{first: moved, n: c.n + 1}

	if got := m.get(ids[0]); got == nil || got.id() != ids[0] {
		t.Fatalf("get(%s) found %v", ids[0], got)
	}
	states, err := m.GetStatesByIDs(ctx, []string{ids[2], ids[0], "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if states[0] == nil || states[0].ID != ids[2] || states[1] == nil || states[1].ID != ids[0] || states[2] != nil {
		t.Fatalf("states of %s, %s, missing: %v", ids[2], ids[0], states)
	}
}

// BenchmarkMemoryStatesByIDs reads the states of 4 sessions picked at
// random among a million, as an open into a full home of 4 places does:
// on a store this large every lookup misses the processor's caches, so the
// figure is mostly memory latency.
func BenchmarkMemoryStatesByIDs(b *testing.B) {
	const n = 1_000_000
	base := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	m := NewMemory()
	ids := make([]string, n)
	for i := range n {
		s := benchSession(i, base)
		ids[i] = s.ID
		if _, err := m.Create(context.Background(), s); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	batch := make([]string, 4)
	for b.Loop() {
		for i := range batch {
			batch[i] = ids[rng.IntN(n)]
		}
		states, err := m.GetStatesByIDs(context.Background(), batch)
		if err != nil || states[3] == nil || states[3].ID != batch[3] {
			b.Fatal(err, states)
		}
	}
}
