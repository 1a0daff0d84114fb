package test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// tableStore is what a persistence keeps beside sessions.
type tableStore interface {
	logic.HomeStore
	logic.DeviceStore
	logic.SlotStore
}

func TestMemoryTables(t *testing.T) {
	testTables(t, func(t *testing.T) tableStore { return persistence.NewMemory() })
}

func TestFileTables(t *testing.T) {
	testTables(t, func(t *testing.T) tableStore {
		return openFile(t, filepath.Join(t.TempDir(), "sessions.json"))
	})
}

func TestMongoDBTables(t *testing.T) {
	uri := mongoURI(t)
	testTables(t, func(t *testing.T) tableStore {
		return openMongoDB(t, mongoSettings(uri, mongoDatabase(t, uri)))
	})
}

func openFile(t *testing.T, path string) *persistence.File {
	t.Helper()
	f := persistence.NewFile(path)
	if err := f.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(context.Background()) })
	return f
}

// testTables is the contract of the home, device and slot stores on every
// backend.
func testTables(t *testing.T, open func(t *testing.T) tableStore) {
	ctx := context.Background()
	all := sessions.Paging{Take: 100, Total: true}

	t.Run("homes are set, replaced, listed and deleted", func(t *testing.T) {
		s := open(t)
		for _, h := range []sessions.Home{{ID: "b", MaxSessions: 2, Policy: "deny"}, {ID: "a", MaxSessions: 1, LeaseTimeout: 5000, Policy: "evict_oldest"}} {
			if _, err := s.SetHome(ctx, &h); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.SetHome(ctx, &sessions.Home{ID: "b", MaxSessions: 5, Policy: "deny"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetHome(ctx, "b")
		if err != nil || got == nil || got.MaxSessions != 5 {
			t.Errorf("replaced home: got %+v, %v; want max_sessions 5", got, err)
		}
		page, err := s.GetHomes(ctx, "", all)
		if err != nil || len(page.Data) != 2 || page.Data[0].ID != "a" || *page.Total != 2 {
			t.Fatalf("homes: got %+v, %v; want a then b, total 2", page, err)
		}
		if page.Data[0].LeaseTimeout != 5000 || page.Data[0].Policy != "evict_oldest" {
			t.Errorf("home a: got %+v; want its lease and policy", page.Data[0])
		}
		if deleted, err := s.DeleteHome(ctx, "a"); err != nil || deleted == nil || deleted.ID != "a" {
			t.Errorf("delete: got %+v, %v; want home a", deleted, err)
		}
		if got, err := s.GetHome(ctx, "a"); got != nil || err != nil {
			t.Errorf("deleted home: got %+v, %v; want nil, nil", got, err)
		}
		if deleted, err := s.DeleteHome(ctx, "a"); deleted != nil || err != nil {
			t.Errorf("delete again: got %+v, %v; want nil, nil", deleted, err)
		}
	})

	t.Run("max_sessions is set alone, on a new home with the defaults", func(t *testing.T) {
		s := open(t)
		if _, err := s.SetHome(ctx, &sessions.Home{ID: "a", MaxSessions: 1, LeaseTimeout: 5000, Policy: "evict_oldest"}); err != nil {
			t.Fatal(err)
		}
		want := map[string]sessions.Home{
			"a": {ID: "a", MaxSessions: 3, LeaseTimeout: 5000, Policy: "evict_oldest"},
			"b": {ID: "b", MaxSessions: 2, Policy: "deny"},
		}
		for id, h := range want {
			set, err := s.SetMaxSessions(ctx, id, h.MaxSessions)
			if err != nil || set == nil || *set != h {
				t.Errorf("set max sessions of %s: got %+v, %v; want %+v", id, set, err, h)
			}
			if got, err := s.GetHome(ctx, id); err != nil || got == nil || *got != h {
				t.Errorf("home %s read back: got %+v, %v; want %+v", id, got, err, h)
			}
		}
	})

	t.Run("devices move between accounts and list by account", func(t *testing.T) {
		s := open(t)
		created := time.Date(2026, 11, 21, 10, 0, 0, 123_000_000, time.UTC)
		for _, d := range []sessions.Device{{ID: "tv", UserID: "u1", CreateTime: created}, {ID: "phone", UserID: "u1", CreateTime: created}} {
			if _, replaced, err := s.SetDevice(ctx, &d); err != nil || replaced != nil {
				t.Fatalf("register %s: replaced %+v, %v; want none replaced", d.ID, replaced, err)
			}
		}
		// A move returns the device it replaced: the account it left.
		_, replaced, err := s.SetDevice(ctx, &sessions.Device{ID: "tv", UserID: "u2", CreateTime: created})
		if err != nil || replaced == nil || replaced.UserID != "u1" || !replaced.CreateTime.Equal(created) {
			t.Fatalf("move tv to u2: replaced %+v, %v; want tv of u1", replaced, err)
		}
		got, err := s.GetDevice(ctx, "tv")
		if err != nil || got == nil || got.UserID != "u2" || !got.CreateTime.Equal(created) {
			t.Errorf("moved device: got %+v, %v; want user u2 created %v", got, err, created)
		}
		page, err := s.GetDevices(ctx, "u1", all)
		if err != nil || len(page.Data) != 1 || page.Data[0].ID != "phone" {
			t.Errorf("devices of u1: got %+v, %v; want only phone", page, err)
		}
		if d, err := s.DeleteDevice(ctx, "phone"); err != nil || d == nil {
			t.Errorf("delete device: got %+v, %v", d, err)
		}
		if got, err := s.GetDevice(ctx, "phone"); got != nil || err != nil {
			t.Errorf("deleted device: got %+v, %v; want nil, nil", got, err)
		}
	})

	t.Run("a place is taken by exactly one of many and freed by exactly one", func(t *testing.T) {
		s := open(t)
		now := time.Now().UTC().Truncate(time.Millisecond)
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := range 32 {
			wg.Go(func() {
				ok, err := s.TakeSlot(ctx, sessions.NewSlot("h", 0, id(i), now))
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					won++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("takers of one place: got %d winners; want 1", won)
		}
		slots, err := s.GetSlots(ctx, "h")
		if err != nil || len(slots) != 1 {
			t.Fatalf("slots: got %+v, %v; want one", slots, err)
		}
		holder := slots[0]
		if mine, err := s.GetSessionSlots(ctx, holder.SessionID); err != nil || len(mine) != 1 || mine[0].ID != holder.ID {
			t.Errorf("session slots: got %+v, %v; want %s", mine, err, holder.ID)
		}
		released := 0
		for range 8 {
			wg.Go(func() {
				ok, err := s.ReleaseSlot(ctx, holder.ID)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					released++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if released != 1 {
			t.Errorf("releasers of one slot: got %d successes; want 1", released)
		}
		if ok, err := s.TakeSlot(ctx, sessions.NewSlot("h", 0, id(99), now)); !ok || err != nil {
			t.Errorf("take the freed place: got %v, %v; want true", ok, err)
		}
	})
}

func TestFileTablesSurviveARestartAndACompaction(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sessions.json")
	now := time.Now().UTC().Truncate(time.Millisecond)

	f := persistence.NewFile(path)
	if err := f.Open(ctx); err != nil {
		t.Fatal(err)
	}
	f.SetHome(ctx, &sessions.Home{ID: "acct", MaxSessions: 2, Policy: "deny"})
	f.SetDevice(ctx, &sessions.Device{ID: "tv", UserID: "acct", CreateTime: now})
	storeSessions(t, f, now, id(1), id(2))
	f.TakeSlot(ctx, sessions.NewSlot("acct", 0, id(1), now))
	f.TakeSlot(ctx, sessions.NewSlot("acct", 1, id(2), now))
	f.ReleaseSlot(ctx, id(1)+":0")
	if err := f.Close(ctx); err != nil { // a clean close compacts into the snapshot
		t.Fatal(err)
	}

	check := func(f *persistence.File) {
		t.Helper()
		if h, _ := f.GetHome(ctx, "acct"); h == nil || h.MaxSessions != 2 {
			t.Errorf("home after reopen: got %+v; want max_sessions 2", h)
		}
		if d, _ := f.GetDevice(ctx, "tv"); d == nil || d.UserID != "acct" {
			t.Errorf("device after reopen: got %+v; want acct", d)
		}
		slots, _ := f.GetSlots(ctx, "acct")
		if len(slots) != 1 || slots[0].Index != 1 || slots[0].SessionID != id(2) {
			t.Errorf("slots after reopen: got %+v; want only place 1 of %s", slots, id(2))
		}
		if ok, _ := f.TakeSlot(ctx, sessions.NewSlot("acct", 1, id(3), now)); ok {
			t.Errorf("place 1 after reopen: taken again; want it still held")
		}
	}
	f = openFile(t, path)
	check(f)
	// Changes after the snapshot come back from the journal.
	f.SetHome(ctx, &sessions.Home{ID: "acct", MaxSessions: 3, Policy: "deny"})
	f.DeleteDevice(ctx, "tv")
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	f = openFile(t, path)
	if h, _ := f.GetHome(ctx, "acct"); h == nil || h.MaxSessions != 3 {
		t.Errorf("home after a journaled change: got %+v; want max_sessions 3", h)
	}
	if d, _ := f.GetDevice(ctx, "tv"); d != nil {
		t.Errorf("deleted device after reopen: got %+v; want nil", d)
	}
}

func TestFileTablesComeBackFromTheJournalAfterACrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := openFile(t, filepath.Join(dir, "sessions.json"))
	now := time.Now().UTC().Truncate(time.Millisecond)
	f.SetHome(ctx, &sessions.Home{ID: "acct", MaxSessions: 4, Policy: "evict_oldest"})
	f.SetDevice(ctx, &sessions.Device{ID: "tv", UserID: "acct", CreateTime: now})
	storeSessions(t, f, now, id(7))
	f.TakeSlot(ctx, sessions.NewSlot("acct", 2, id(7), now))

	g := openFile(t, filepath.Join(crashCopy(t, dir), "sessions.json"))
	if h, _ := g.GetHome(ctx, "acct"); h == nil || h.Policy != "evict_oldest" {
		t.Errorf("home from the journal: got %+v; want evict_oldest", h)
	}
	if d, _ := g.GetDevice(ctx, "tv"); d == nil || d.UserID != "acct" {
		t.Errorf("device from the journal: got %+v; want acct", d)
	}
	if slots, _ := g.GetSessionSlots(ctx, id(7)); len(slots) != 1 || slots[0].Index != 2 {
		t.Errorf("slot from the journal: got %+v; want place 2", slots)
	}
}

func TestFileStartUpFreesThePlaceOfAnOpenKilledBeforeItStoredItsSession(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := openFile(t, filepath.Join(dir, "sessions.json"))
	now := time.Now().UTC().Truncate(time.Millisecond)
	f.SetHome(ctx, &sessions.Home{ID: "acct", MaxSessions: 2, Policy: "deny"})
	storeSessions(t, f, now, id(1))
	f.TakeSlot(ctx, sessions.NewSlot("acct", 0, id(1), now))
	// An open takes its place, then stores its session: killed in between,
	// it leaves place 1 held for a session that is never stored.
	f.TakeSlot(ctx, sessions.NewSlot("acct", 1, id(2), now))

	g := openFile(t, filepath.Join(crashCopy(t, dir), "sessions.json"))
	slots, err := g.GetSlots(ctx, "acct")
	if err != nil || len(slots) != 1 || slots[0].SessionID != id(1) {
		t.Errorf("places after the restart: got %+v, %v; want only the stored session's", slots, err)
	}
	if ok, err := g.TakeSlot(ctx, sessions.NewSlot("acct", 1, id(3), now)); !ok || err != nil {
		t.Errorf("take the place the killed open held: got %v, %v; want it free at once", ok, err)
	}
}

// storeSessions stores an active session of account acct under each id.
func storeSessions(t *testing.T, f *persistence.File, now time.Time, ids ...string) {
	t.Helper()
	for _, id := range ids {
		s := &sessions.Session{ID: id, UserID: "acct", Active: true, OpenTime: now, RequestTime: now}
		if _, err := f.Create(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
}

// crashCopy copies the files of the store in dir to a new folder and
// returns it. Every acknowledged write is on disk, so the copy is what a
// crash at this moment would leave; a compaction that renames or removes
// files meanwhile makes it copy again.
func crashCopy(t *testing.T, dir string) string {
	t.Helper()
	for range 100 {
		crash := t.TempDir()
		if copied(t, dir, crash) {
			return crash
		}
	}
	t.Fatal("the store's files kept changing while they were copied")
	return ""
}

// copied copies the files in dir to crash and reports whether they stayed
// the same files meanwhile.
func copied(t *testing.T, dir, crash string) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crash, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	after, err := os.ReadDir(dir)
	return err == nil && slices.EqualFunc(entries, after, func(a, b os.DirEntry) bool { return a.Name() == b.Name() })
}
