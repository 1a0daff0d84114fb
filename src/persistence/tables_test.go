package persistence

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// The file store snapshots the tables while their journal goes on, then
// replays the journal over the snapshot. Whatever point of the history the
// snapshot caught, the replay ends where the history ended: the same
// places held, and each session's own list of its places.
func TestReplayingSlotChangesOverAnySnapshotConverges(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	a, b, c := sessions.NewSlot("h", 0, "a", now), sessions.NewSlot("h", 0, "b", now), sessions.NewSlot("h", 1, "c", now)
	moved := sessions.NewSlot("h", 0, "c", now) // c moves down from place 1
	back := sessions.NewSlot("h", 1, "a", now)
	// A history the store could have written: no change takes a held place.
	history := []change{
		{TakeSlot: &a}, {TakeSlot: &c}, {ReleaseSlot: a.ID}, {TakeSlot: &b},
		{ReleaseSlot: b.ID}, {TakeSlot: &moved}, {ReleaseSlot: c.ID}, {TakeSlot: &back},
	}
	want := newTables()
	for _, ch := range history {
		want.apply(ch)
	}
	for snap := range len(history) + 1 {
		for from := range snap + 1 {
			got := newTables()
			for _, ch := range history[:snap] {
				got.apply(ch)
			}
			snapshot := got.state()
			got.reset()
			for _, ch := range snapshot {
				got.apply(ch)
			}
			for _, ch := range history[from:] {
				got.apply(ch)
			}
			got.reindex()
			if g, w := slotsOf(got), slotsOf(want); !reflect.DeepEqual(g, w) {
				t.Errorf("snapshot after %d changes, journal from %d: got %v; want %v", snap, from, g, w)
			}
		}
	}
}

// slotsOf lists every place and every session's places, in order.
func slotsOf(t *tables) []string {
	ctx := context.Background()
	var out []string
	held, _ := t.GetSlots(ctx, "h")
	for _, s := range held {
		out = append(out, "place "+s.ID)
		mine, _ := t.GetSessionSlots(ctx, s.SessionID)
		for _, m := range mine {
			out = append(out, s.SessionID+" holds "+m.ID)
		}
	}
	for id := range t.sessionSlots {
		if !slices.ContainsFunc(held, func(s sessions.Slot) bool { return s.SessionID == id }) {
			out = append(out, id+" listed without a place")
		}
	}
	slices.SortFunc(out, strings.Compare)
	return out
}

func TestSlotSessionIDReadsTheHolderFromTheID(t *testing.T) {
	s := sessions.NewSlot("acct", 12, "sess:with:colons", time.Time{})
	if got, ok := sessions.SlotSessionID(s.ID); !ok || got != "sess:with:colons" {
		t.Errorf("SlotSessionID(%q) = %q, %v; want the session id", s.ID, got, ok)
	}
	if _, ok := sessions.SlotSessionID("no-index"); ok {
		t.Errorf("SlotSessionID of an id without an index: ok; want not ok")
	}
}

// A home's limit and the whole home set at the same moment: whichever
// lands last, the home keeps the policy and lease the whole one gave it,
// and one of the two limits.
func TestSettingTheLimitAndTheHomeAtOnceKeepsTheHomesSettings(t *testing.T) {
	whole := sessions.Home{ID: "h", MaxSessions: 1, LeaseTimeout: 60_000, Policy: sessions.PolicyEvictOldest}
	for round := range 500 {
		tb := newTables()
		if round%2 == 1 { // the home exists before, with the defaults
			tb.SetHome(t.Context(), &sessions.Home{ID: "h", MaxSessions: 2, Policy: sessions.PolicyDeny})
		}
		var wg sync.WaitGroup
		wg.Go(func() { tb.SetHome(t.Context(), &whole) })
		wg.Go(func() { tb.SetMaxSessions(t.Context(), "h", 5) })
		wg.Wait()
		h, _ := tb.GetHome(t.Context(), "h")
		if h.Policy != whole.Policy || h.LeaseTimeout != whole.LeaseTimeout || h.MaxSessions != 1 && h.MaxSessions != 5 {
			t.Fatalf("round %d: got %+v; want the policy and lease of %+v, and a limit of 1 or 5", round, *h, whole)
		}
	}
}
