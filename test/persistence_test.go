package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

func TestMemoryPersistence(t *testing.T) {
	testPersistence(t, func(t *testing.T) logic.Persistence {
		t.Helper()
		store := persistence.NewMemory()
		if err := store.Open(t.Context()); err != nil {
			t.Fatalf("open memory persistence: %v", err)
		}
		t.Cleanup(func() {
			if err := store.Close(context.Background()); err != nil {
				t.Errorf("close memory persistence: %v", err)
			}
		})
		return store
	})
}

func TestFilePersistence(t *testing.T) {
	testPersistence(t, func(t *testing.T) logic.Persistence {
		t.Helper()
		store := persistence.NewFile(filepath.Join(t.TempDir(), "sessions.json"))
		if err := store.Open(t.Context()); err != nil {
			t.Fatalf("open file persistence: %v", err)
		}
		t.Cleanup(func() {
			if err := store.Close(context.Background()); err != nil {
				t.Errorf("close file persistence: %v", err)
			}
		})
		return store
	})
}

// The file store holds what any mix of changes left, when it is opened
// again after a close (from its snapshot) or after a crash (from its
// snapshot and journals), with compactions of its journal in between.
func TestFileHoldsWhatAnyMixOfChangesLeftAcrossRestarts(t *testing.T) {
	open := func(path string) *persistence.File {
		store := persistence.NewFile("")
		options := map[string]any{"compact_min_size": 4096, "compact_ratio": 1}
		if err := store.Configure(container.Config{"path": path, "options": options}); err != nil {
			t.Fatalf("configure: %v", err)
		}
		if err := store.Open(t.Context()); err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		t.Cleanup(func() { store.Close(context.Background()) })
		return store
	}
	dir := t.TempDir()
	store := open(filepath.Join(dir, "sessions.json"))
	run := newModelRun(t, store, 2)
	for round := range 8 {
		run.run(300)
		if round%2 == 0 {
			dir = crashCopy(t, dir)
		} else if err := store.Close(t.Context()); err != nil {
			t.Fatalf("close: %v", err)
		}
		store = open(filepath.Join(dir, "sessions.json"))
		run.use(store)
		run.checkAll()
	}
}

// t0 is the fixture's reference instant: UTC, millisecond precision.
var t0 = time.Date(2026, 11, 21, 21, 34, 17, 379_000_000, time.UTC)

// at returns t0 shifted by d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// testPersistence is the contract of logic.Persistence, run against every
// backend. open returns a fresh, opened, empty store and registers its
// cleanup; every subtest opens its own.
func testPersistence(t *testing.T, open func(t *testing.T) logic.Persistence) {
	t.Run("create and get by id round-trip every field", func(t *testing.T) {
		store := open(t)
		want := &sessions.Session{
			ID: id(1), UserID: "user-1", UserName: "Ann Lee", Active: true,
			OpenTime: at(-time.Hour), RequestTime: at(0),
			Address: "192.168.0.7", Client: "web",
			User:     json.RawMessage(`{"id":"user-1","name":"Ann","roles":["admin","viewer"],"n":1.5}`),
			Data:     json.RawMessage(`{"cart":[1,2,3],"theme":"dark","nested":{"a":null}}`),
			DeviceID: "device-1", ExpireTime: at(2 * time.Minute),
			Details:  map[string]string{"os": "linux", "app_version": "2.1"},
			ParentID: id(100), PushAddress: "push-1",
		}
		created, err := store.Create(t.Context(), want)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		assertSession(t, "created", created, want)

		got, err := store.GetOneByID(t.Context(), want.ID)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		assertSession(t, "got", got, want)
	})

	t.Run("times come back in UTC with millisecond precision", func(t *testing.T) {
		store := open(t)
		zone := time.FixedZone("UTC+3", 3*60*60)
		local := time.Date(2026, 11, 22, 0, 34, 17, 379_654_321, zone)
		s := session(id(1), "user-1", local)
		created, err := store.Create(t.Context(), s)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		got := mustGet(t, store, id(1))
		for name, v := range map[string]time.Time{
			"created open_time": created.OpenTime, "created request_time": created.RequestTime,
			"open_time": got.OpenTime, "request_time": got.RequestTime,
		} {
			if !v.Equal(t0) || v.Location() != time.UTC {
				t.Errorf("%s: got %v; want %v", name, v, t0)
			}
		}
	})

	t.Run("get a missing session returns nil", func(t *testing.T) {
		store := open(t)
		got, err := store.GetOneByID(t.Context(), id(404))
		if err != nil || got != nil {
			t.Fatalf("get missing: got %v, %v; want nil, nil", got, err)
		}
	})

	t.Run("get states by ids answers each id in order, nil when missing", func(t *testing.T) {
		store := open(t)
		leased := withFields(session(id(1), "user-1", at(0)), "app", "tv", "")
		leased.ExpireTime = at(2 * time.Minute)
		leased.User, leased.Data = json.RawMessage(`{"name":"Ann"}`), json.RawMessage(`{"step":1}`)
		leased.Details = map[string]string{"os": "linux"}
		mustCreate(t, store, leased)
		mustCreate(t, store, session(id(2), "user-1", at(time.Minute)))
		if _, err := store.Update(t.Context(), id(2), sessions.Update{
			Close: &sessions.Closing{Time: at(time.Hour), Reason: sessions.ReasonClosed}}); err != nil {
			t.Fatalf("close: %v", err)
		}
		mustCreate(t, store, session(id(3), "user-2", at(-time.Minute)))

		closed := &logic.SessionState{ID: id(2), Active: false, RequestTime: at(time.Hour), Client: "web"} // closing uses it
		live := &logic.SessionState{ID: id(1), Active: true, RequestTime: at(0), ExpireTime: at(2 * time.Minute), DeviceID: "tv", Client: "app"}
		assertStates(t, store, ids(2, 404, 1, 1), closed, nil, live, live)
		// One id at a time, as a home of one place asks.
		assertStates(t, store, ids(1), live)
		assertStates(t, store, ids(404), nil)

		got, err := store.GetStatesByIDs(t.Context(), nil)
		if err != nil || len(got) != 0 {
			t.Errorf("states of no ids: got %v, %v; want none", got, err)
		}
	})

	t.Run("update sets payloads, times and details", func(t *testing.T) {
		store := open(t)
		s := session(id(1), "user-1", at(0))
		s.User = json.RawMessage(`{"name":"Ann"}`)
		s.Data = json.RawMessage(`{"step":1}`)
		s.Details = map[string]string{"os": "linux", "lang": "en"}
		mustCreate(t, store, s)

		tests := []struct {
			name   string
			update sessions.Update
			check  func(t *testing.T, got *sessions.Session)
		}{
			{"data and request_time", sessions.Update{Data: json.RawMessage(`{"step":2}`), RequestTime: at(time.Minute)},
				func(t *testing.T, got *sessions.Session) {
					assertJSON(t, "data", got.Data, `{"step":2}`)
					assertJSON(t, "user", got.User, `{"name":"Ann"}`)
					assertTime(t, "request_time", got.RequestTime, at(time.Minute))
					assertTime(t, "open_time", got.OpenTime, at(0))
				}},
			{"user", sessions.Update{User: json.RawMessage(`{"name":"Bob"}`), RequestTime: at(2 * time.Minute)},
				func(t *testing.T, got *sessions.Session) {
					assertJSON(t, "user", got.User, `{"name":"Bob"}`)
					assertJSON(t, "data", got.Data, `{"step":2}`)
					assertTime(t, "request_time", got.RequestTime, at(2*time.Minute))
				}},
			{"expire_time and push address", sessions.Update{ExpireTime: at(time.Hour), PushAddress: "push-9"},
				func(t *testing.T, got *sessions.Session) {
					assertTime(t, "expire_time", got.ExpireTime, at(time.Hour))
					assertTime(t, "request_time", got.RequestTime, at(2*time.Minute))
					if got.PushAddress != "push-9" {
						t.Errorf("push_address: got %q; want %q", got.PushAddress, "push-9")
					}
				}},
			{"details merge and delete", sessions.Update{Details: map[string]string{"lang": "", "tz": "UTC"}},
				func(t *testing.T, got *sessions.Session) {
					assertDetails(t, got.Details, map[string]string{"os": "linux", "tz": "UTC"})
				}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := store.Update(t.Context(), id(1), tt.update)
				if err != nil || got == nil {
					t.Fatalf("update: got %v, %v; want the session", got, err)
				}
				tt.check(t, got)
				tt.check(t, mustGet(t, store, id(1)))
			})
		}
	})

	t.Run("update a missing session returns nil", func(t *testing.T) {
		store := open(t)
		got, err := store.Update(t.Context(), id(404), sessions.Update{Data: json.RawMessage(`1`)})
		if err != nil || got != nil {
			t.Fatalf("update missing: got %v, %v; want nil, nil", got, err)
		}
	})

	t.Run("update if active leaves a closed session alone", func(t *testing.T) {
		store := open(t)
		s := session(id(1), "user-1", at(0))
		s.Active, s.CloseTime, s.CloseReason = false, at(time.Minute), sessions.ReasonClosed
		mustCreate(t, store, s)
		got, err := store.Update(t.Context(), id(1), sessions.Update{
			Data: json.RawMessage(`{"late":true}`), RequestTime: at(time.Hour), IfActive: true})
		if err != nil || got != nil {
			t.Fatalf("update closed: got %v, %v; want nil, nil", got, err)
		}
		after := mustGet(t, store, id(1))
		assertTime(t, "request_time", after.RequestTime, at(0))
		if !isNull(after.Data) {
			t.Errorf("data: got %s; want null", after.Data)
		}
	})

	t.Run("close clears user and data and moves request_time to the close", func(t *testing.T) {
		store := open(t)
		s := session(id(1), "user-1", at(0))
		s.User, s.Data = json.RawMessage(`{"name":"Ann"}`), json.RawMessage(`{"x":1}`)
		mustCreate(t, store, s)
		got, err := store.Update(t.Context(), id(1), sessions.Update{
			IfActive: true, Close: &sessions.Closing{Time: at(time.Minute), Reason: sessions.ReasonClosed}})
		if err != nil || got == nil {
			t.Fatalf("close: got %v, %v; want the session", got, err)
		}
		for _, s := range []*sessions.Session{got, mustGet(t, store, id(1))} {
			assertClosed(t, s, at(time.Minute), sessions.ReasonClosed)
			assertTime(t, "request_time", s.RequestTime, at(time.Minute))
		}
	})

	t.Run("delete returns the session and then it is gone", func(t *testing.T) {
		store := open(t)
		s := session(id(1), "user-1", at(0))
		s.Data = json.RawMessage(`{"x":1}`)
		mustCreate(t, store, s)
		mustCreate(t, store, session(id(2), "user-1", at(time.Second)))

		got, err := store.DeleteByID(t.Context(), id(1))
		if err != nil || got == nil {
			t.Fatalf("delete: got %v, %v; want the session", got, err)
		}
		assertSession(t, "deleted", got, s)
		if again, err := store.GetOneByID(t.Context(), id(1)); err != nil || again != nil {
			t.Errorf("get deleted: got %v, %v; want nil, nil", again, err)
		}
		if again, err := store.DeleteByID(t.Context(), id(1)); err != nil || again != nil {
			t.Errorf("delete again: got %v, %v; want nil, nil", again, err)
		}
		assertIDs(t, listIDs(t, store, sessions.Filter{UserID: "user-1"}), []string{id(2)})
	})

	t.Run("filters", func(t *testing.T) {
		store := open(t)
		now := at(10 * time.Minute)
		seed := []*sessions.Session{
			withFields(session(id(1), "user-1", at(1*time.Minute)), "web", "device-1", ""),
			withFields(session(id(2), "user-1", at(2*time.Minute)), "mobile", "device-2", ""),
			withFields(session(id(3), "user-2", at(3*time.Minute)), "web", "device-3", id(1)),
			withFields(session(id(4), "user-2", at(4*time.Minute)), "web", "", ""),
			withFields(session(id(5), "user-3", at(5*time.Minute)), "tv", "device-5", ""),
			withFields(session(id(6), "user-3", at(6*time.Minute)), "", "", id(1)),
		}
		seed[3].Active, seed[3].CloseTime, seed[3].CloseReason = false, at(4*time.Minute), sessions.ReasonClosed
		seed[4].ExpireTime = at(-time.Hour)     // lapsed: counts as inactive
		seed[5].ExpireTime = now.Add(time.Hour) // leased and live
		seed[1].PushAddress, seed[4].PushAddress = "push-1", "push-1"
		for _, s := range seed {
			mustCreate(t, store, s)
		}
		yes, no := true, false
		tests := []struct {
			name   string
			filter sessions.Filter
			want   []string
		}{
			{"none", sessions.Filter{}, ids(6, 5, 4, 3, 2, 1)},
			{"id", sessions.Filter{ID: id(3)}, ids(3)},
			{"missing id", sessions.Filter{ID: id(404)}, nil},
			{"user_id", sessions.Filter{UserID: "user-1"}, ids(2, 1)},
			{"missing user_id", sessions.Filter{UserID: "nobody"}, nil},
			{"client", sessions.Filter{Client: "web"}, ids(4, 3, 1)},
			{"device_id", sessions.Filter{DeviceID: "device-2"}, ids(2)},
			{"parent_id", sessions.Filter{ParentID: id(1)}, ids(6, 3)},
			{"push_address", sessions.Filter{PushAddress: "push-1"}, ids(5, 2)},
			{"push_address and active", sessions.Filter{PushAddress: "push-1", Active: &yes}, ids(2)},
			{"active", sessions.Filter{Active: &yes}, ids(6, 3, 2, 1)},
			{"inactive incl. lapsed", sessions.Filter{Active: &no}, ids(5, 4)},
			{"from_time is inclusive", sessions.Filter{FromTime: at(3 * time.Minute)}, ids(6, 5, 4, 3)},
			{"to_time is exclusive", sessions.Filter{ToTime: at(3 * time.Minute)}, ids(2, 1)},
			{"from_time and to_time", sessions.Filter{FromTime: at(2 * time.Minute), ToTime: at(5 * time.Minute)}, ids(4, 3, 2)},
			{"user_id and active", sessions.Filter{UserID: "user-2", Active: &yes}, ids(3)},
			{"user_id and client", sessions.Filter{UserID: "user-1", Client: "mobile"}, ids(2)},
			{"user_id and device_id", sessions.Filter{UserID: "user-1", DeviceID: "device-1"}, ids(1)},
			{"user_id and from_time", sessions.Filter{UserID: "user-3", FromTime: at(6 * time.Minute)}, ids(6)},
			{"client and inactive", sessions.Filter{Client: "web", Active: &no}, ids(4)},
			{"active and to_time", sessions.Filter{Active: &yes, ToTime: at(6 * time.Minute)}, ids(3, 2, 1)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				f := tt.filter
				f.Now = now
				assertIDs(t, listIDs(t, store, f), tt.want)
			})
		}
		t.Run("active judged at the zero instant, before any lease ends", func(t *testing.T) {
			for active, want := range map[bool][]string{true: ids(6, 5, 3, 2, 1), false: ids(4)} {
				page, err := store.GetPageByFilter(t.Context(), sessions.Filter{Active: &active}, sessions.Paging{Take: 100})
				if err != nil {
					t.Fatalf("get page: %v", err)
				}
				assertIDs(t, pageIDs(page), want)
			}
		})
	})

	t.Run("paging", func(t *testing.T) {
		store := open(t)
		for i := 1; i <= 10; i++ {
			s := session(id(i), "user-1", at(time.Duration(i)*time.Second))
			s.Client = []string{"web", "tv"}[i%2]
			mustCreate(t, store, s)
		}
		total := func(n int64) *int64 { return &n }
		tests := []struct {
			name      string
			filter    sessions.Filter
			paging    sessions.Paging
			want      []string
			wantTotal *int64
		}{
			{"first page", sessions.Filter{}, sessions.Paging{Take: 3}, ids(10, 9, 8), nil},
			{"skip and take", sessions.Filter{}, sessions.Paging{Skip: 2, Take: 3}, ids(8, 7, 6), nil},
			{"with total", sessions.Filter{}, sessions.Paging{Skip: 2, Take: 3, Total: true}, ids(8, 7, 6), total(10)},
			{"past the end", sessions.Filter{}, sessions.Paging{Skip: 20, Take: 3, Total: true}, nil, total(10)},
			{"last partial page", sessions.Filter{}, sessions.Paging{Skip: 8, Take: 3}, ids(2, 1), nil},
			{"filtered total", sessions.Filter{Client: "web"}, sessions.Paging{Take: 2, Total: true}, ids(10, 8), total(5)},
			{"indexed total", sessions.Filter{UserID: "user-1"}, sessions.Paging{Skip: 1, Take: 2, Total: true}, ids(9, 8), total(10)},
			{"no match total", sessions.Filter{UserID: "nobody"}, sessions.Paging{Take: 2, Total: true}, nil, total(0)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, err := store.GetPageByFilter(t.Context(), tt.filter, tt.paging)
				if err != nil {
					t.Fatalf("get page: %v", err)
				}
				assertIDs(t, pageIDs(page), tt.want)
				switch {
				case tt.wantTotal == nil && page.Total != nil:
					t.Errorf("total: got %d; want nil (not asked)", *page.Total)
				case tt.wantTotal != nil && page.Total == nil:
					t.Errorf("total: got nil; want %d", *tt.wantTotal)
				case tt.wantTotal != nil && *page.Total != *tt.wantTotal:
					t.Errorf("total: got %d; want %d", *page.Total, *tt.wantTotal)
				}
			})
		}
	})

	t.Run("newest request_time first, ties by id", func(t *testing.T) {
		store := open(t)
		// Six sessions, two per request_time, created out of order.
		for _, i := range []int{3, 1, 5, 2, 6, 4} {
			mustCreate(t, store, session(id(i), "user-1", at(time.Duration((i+1)/2)*time.Minute)))
		}
		want := ids(6, 5, 4, 3, 2, 1)
		assertIDs(t, listIDs(t, store, sessions.Filter{}), want)
		assertIDs(t, listIDs(t, store, sessions.Filter{UserID: "user-1"}), want)

		var paged []string
		for skip := int64(0); skip < 6; skip += 4 {
			page, err := store.GetPageByFilter(t.Context(), sessions.Filter{}, sessions.Paging{Skip: skip, Take: 4})
			if err != nil {
				t.Fatalf("get page: %v", err)
			}
			paged = append(paged, pageIDs(page)...)
		}
		assertIDs(t, paged, want)

		// Renewing the oldest session moves it to the front.
		if _, err := store.Update(t.Context(), id(1), sessions.Update{RequestTime: at(time.Hour)}); err != nil {
			t.Fatalf("update: %v", err)
		}
		want = ids(1, 6, 5, 4, 3, 2)
		assertIDs(t, listIDs(t, store, sessions.Filter{}), want)
		assertIDs(t, listIDs(t, store, sessions.Filter{UserID: "user-1"}), want)
		assertIDs(t, listIDs(t, store, sessions.Filter{FromTime: at(time.Hour)}), ids(1))
	})

	t.Run("page items carry no user or data", func(t *testing.T) {
		store := open(t)
		s := session(id(1), "user-1", at(0))
		s.User, s.Data = json.RawMessage(`{"name":"Ann"}`), json.RawMessage(`{"x":1}`)
		s.Details = map[string]string{"os": "linux"}
		mustCreate(t, store, s)
		for _, f := range []sessions.Filter{{}, {UserID: "user-1"}, {ID: id(1)}} {
			page, err := store.GetPageByFilter(t.Context(), f, sessions.Paging{Take: 10})
			if err != nil || len(page.Data) != 1 {
				t.Fatalf("get page %+v: got %v, %v; want one session", f, page, err)
			}
			item := page.Data[0]
			if !isNull(item.User) || !isNull(item.Data) {
				t.Errorf("page item: got user %s, data %s; want neither", item.User, item.Data)
			}
			want := s.Summary()
			assertSession(t, "page item", item, want)
		}
	})

	t.Run("the expiry sweep finds the idle and the lapsed and closes what is still expired", func(t *testing.T) {
		store := open(t)
		now := at(time.Hour)
		expiry := sessions.Expiry{IdleBefore: now.Add(-30 * time.Minute), Now: now}
		idleBefore := expiry.IdleBefore
		seed := map[string]*sessions.Session{
			"idle":            session(id(1), "user-1", idleBefore.Add(-time.Millisecond)),
			"recent":          session(id(2), "user-1", idleBefore),
			"lapsed":          session(id(3), "user-2", now.Add(-time.Minute)),
			"lapses now":      session(id(4), "user-2", now.Add(-time.Minute)),
			"leased":          session(id(5), "user-2", now.Add(-time.Minute)),
			"already closed":  session(id(6), "user-3", idleBefore.Add(-time.Hour)),
			"idle and lapsed": session(id(7), "user-3", idleBefore.Add(-time.Hour)),
			"idle, renewed":   session(id(8), "user-4", idleBefore.Add(-time.Hour)),
		}
		seed["lapsed"].ExpireTime = now.Add(-time.Second)
		seed["lapses now"].ExpireTime = now
		seed["leased"].ExpireTime = now.Add(time.Second)
		seed["already closed"].Active = false
		seed["already closed"].CloseTime = idleBefore.Add(-time.Minute)
		seed["already closed"].CloseReason = sessions.ReasonClosed
		seed["idle and lapsed"].ExpireTime = now.Add(-time.Hour)
		for _, s := range seed {
			if s.Active {
				s.Data = json.RawMessage(`{"x":1}`)
			}
			mustCreate(t, store, s)
		}

		found, err := store.ExpiredIDs(t.Context(), expiry)
		if err != nil {
			t.Fatalf("expired ids: %v", err)
		}
		slices.Sort(found)
		want := []string{seed["idle"].ID, seed["lapsed"].ID, seed["lapses now"].ID, seed["idle and lapsed"].ID, seed["idle, renewed"].ID}
		slices.Sort(want)
		if !slices.Equal(found, want) {
			t.Errorf("expired ids: got %v; want %v", found, want)
		}

		// Renewed between the sweep's read and its close: it stays open.
		if _, err := store.Update(t.Context(), seed["idle, renewed"].ID, sessions.Update{RequestTime: now}); err != nil {
			t.Fatalf("renew: %v", err)
		}
		closing := sessions.Update{Close: &sessions.Closing{Time: now, Reason: sessions.ReasonExpired}, IfExpired: &expiry}
		for name, s := range seed {
			closed, err := store.Update(t.Context(), s.ID, closing)
			if err != nil {
				t.Fatalf("close %s: %v", name, err)
			}
			switch name {
			case "idle", "lapsed", "lapses now", "idle and lapsed":
				if closed == nil || closed.Active || closed.CloseReason != sessions.ReasonExpired || !isNull(closed.User) || !isNull(closed.Data) {
					t.Errorf("close %s: got %+v; want it closed as expired, without payloads", name, closed)
				}
				assertClosed(t, mustGet(t, store, s.ID), now, sessions.ReasonExpired)
			case "already closed":
				if closed != nil {
					t.Errorf("close %s: got %+v; want nil", name, closed)
				}
				assertClosed(t, mustGet(t, store, s.ID), s.CloseTime, sessions.ReasonClosed)
			default:
				if closed != nil {
					t.Errorf("close %s: got %+v; want nil", name, closed)
				}
				if got := mustGet(t, store, s.ID); !got.Active || !got.CloseTime.IsZero() {
					t.Errorf("%s: got active %v, close_time %v; want untouched", name, got.Active, got.CloseTime)
				}
			}
		}
		if found, err := store.ExpiredIDs(t.Context(), expiry); err != nil || len(found) != 0 {
			t.Errorf("expired ids after the sweep: got %v, %v; want none", found, err)
		}
	})

	t.Run("the store shares nothing with what it is given or returns", func(t *testing.T) {
		store := open(t)
		in := session(id(1), "user-1", at(0))
		in.Data = json.RawMessage(`{"x":1}`)
		in.Details = map[string]string{"os": "linux"}
		want := in.Clone()
		want.Data = slices.Clone(in.Data)

		created := mustCreate(t, store, in)
		in.UserName, in.Details["os"], in.Data[2] = "changed", "changed", 'y'
		mutate(created)
		mutate(mustGet(t, store, id(1)))
		updated, err := store.Update(t.Context(), id(1), sessions.Update{Details: map[string]string{"tz": "UTC"}})
		if err != nil || updated == nil {
			t.Fatalf("update: got %v, %v; want the session", updated, err)
		}
		mutate(updated)
		page, err := store.GetPageByFilter(t.Context(), sessions.Filter{}, sessions.Paging{Take: 1})
		if err != nil || len(page.Data) != 1 {
			t.Fatalf("get page: got %v, %v; want one session", page, err)
		}
		mutate(page.Data[0])

		want.Details["tz"] = "UTC"
		assertSession(t, "stored", mustGet(t, store, id(1)), want)
	})

	t.Run("any mix of changes reads as plain maps of sessions, homes, devices and places would", func(t *testing.T) {
		newModelRun(t, open(t), 1).run(1500)
	})

	t.Run("concurrent writers", func(t *testing.T) {
		store := open(t)
		const writers, each = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					n := w*each + i
					s := session(id(n+1), fmt.Sprintf("user-%d", w), at(time.Duration(n)*time.Millisecond))
					if _, err := store.Create(t.Context(), s); err != nil {
						errs <- err
						return
					}
					if _, err := store.Update(t.Context(), s.ID, sessions.Update{Data: json.RawMessage(`{"n":1}`)}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent write: %v", err)
		}
		page, err := store.GetPageByFilter(t.Context(), sessions.Filter{}, sessions.Paging{Take: writers * each, Total: true})
		if err != nil {
			t.Fatalf("get page: %v", err)
		}
		if page.Total == nil || *page.Total != writers*each || len(page.Data) != writers*each {
			t.Errorf("stored: got %d items, total %v; want %d", len(page.Data), page.Total, writers*each)
		}
	})
}

// id returns the n-th fixture session id: 32 lowercase hex digits.
func id(n int) string { return fmt.Sprintf("%032x", n) }

// ids returns the fixture ids of ns, in order.
func ids(ns ...int) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = id(n)
	}
	return out
}

// session returns an active session opened and last requested at rt.
func session(sessionID, userID string, rt time.Time) *sessions.Session {
	return &sessions.Session{ID: sessionID, UserID: userID, UserName: "name of " + userID,
		Active: true, OpenTime: rt, RequestTime: rt, Address: "10.0.0.1", Client: "web"}
}

func withFields(s *sessions.Session, client, deviceID, parentID string) *sessions.Session {
	s.Client, s.DeviceID, s.ParentID = client, deviceID, parentID
	return s
}

// mutate changes every mutable part of a returned session.
func mutate(s *sessions.Session) {
	s.UserName = "mutated"
	s.Active = false
	s.RequestTime = time.Time{}
	if s.Details != nil {
		s.Details["os"] = "mutated"
		s.Details["extra"] = "mutated"
	}
	if len(s.Data) > 0 {
		s.Data[0] = '['
	}
}

func mustCreate(t *testing.T, store logic.Persistence, s *sessions.Session) *sessions.Session {
	t.Helper()
	got, err := store.Create(t.Context(), s)
	if err != nil || got == nil {
		t.Fatalf("create %s: got %v, %v; want the session", s.ID, got, err)
	}
	return got
}

func mustGet(t *testing.T, store logic.Persistence, sessionID string) *sessions.Session {
	t.Helper()
	got, err := store.GetOneByID(t.Context(), sessionID)
	if err != nil || got == nil {
		t.Fatalf("get %s: got %v, %v; want the session", sessionID, got, err)
	}
	return got
}

// listIDs returns the ids of every session matching f, in listing order.
func listIDs(t *testing.T, store logic.Persistence, f sessions.Filter) []string {
	t.Helper()
	if f.Now.IsZero() {
		f.Now = t0
	}
	page, err := store.GetPageByFilter(t.Context(), f, sessions.Paging{Take: 100})
	if err != nil {
		t.Fatalf("get page %+v: %v", f, err)
	}
	return pageIDs(page)
}

func pageIDs(page *sessions.Page) []string {
	var out []string
	for _, s := range page.Data {
		out = append(out, s.ID)
	}
	return out
}

func assertIDs(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("ids: got %v; want %v", short(got), short(want))
	}
}

// short trims the fixture ids' leading zeros so messages stay readable.
func short(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = string(bytes.TrimLeft([]byte(s), "0"))
	}
	return out
}

// assertSession compares every field: times by instant, payloads as JSON
// values, a nil map like an empty one.
func assertSession(t *testing.T, what string, got, want *sessions.Session) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: got nil; want session %s", what, want.ID)
	}
	strs := []struct{ name, got, want string }{
		{"id", got.ID, want.ID}, {"user_id", got.UserID, want.UserID},
		{"user_name", got.UserName, want.UserName}, {"address", got.Address, want.Address},
		{"client", got.Client, want.Client}, {"device_id", got.DeviceID, want.DeviceID},
		{"parent_id", got.ParentID, want.ParentID}, {"push_address", got.PushAddress, want.PushAddress},
		{"close_reason", got.CloseReason, want.CloseReason},
	}
	for _, f := range strs {
		if f.got != f.want {
			t.Errorf("%s %s: got %q; want %q", what, f.name, f.got, f.want)
		}
	}
	if got.Active != want.Active {
		t.Errorf("%s active: got %v; want %v", what, got.Active, want.Active)
	}
	assertTime(t, what+" open_time", got.OpenTime, want.OpenTime)
	assertTime(t, what+" request_time", got.RequestTime, want.RequestTime)
	assertTime(t, what+" close_time", got.CloseTime, want.CloseTime)
	assertTime(t, what+" expire_time", got.ExpireTime, want.ExpireTime)
	assertJSON(t, what+" user", got.User, string(want.User))
	assertJSON(t, what+" data", got.Data, string(want.Data))
	assertDetails(t, got.Details, want.Details)
}

func assertTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s: got %v; want %v", what, got, want)
	}
	if !got.IsZero() && got.Location() != time.UTC {
		t.Errorf("%s: got zone %v; want UTC", what, got.Location())
	}
}

// assertJSON compares JSON values, so a store may re-encode them; null and
// absent are the same.
func assertJSON(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if isNull(got) && isNull([]byte(want)) {
		return
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: got %s, not JSON: %v", what, got, err)
		return
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: want %s, not JSON: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: got %s; want %s", what, got, want)
	}
}

func assertDetails(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !maps.Equal(got, want) {
		t.Errorf("details: got %v; want %v", got, want)
	}
}

func assertClosed(t *testing.T, s *sessions.Session, closeTime time.Time, reason string) {
	t.Helper()
	if s.Active {
		t.Errorf("session %s active: got true; want false", s.ID)
	}
	assertTime(t, "session "+s.ID+" close_time", s.CloseTime, closeTime)
	if s.CloseReason != reason {
		t.Errorf("session %s close_reason: got %q; want %q", s.ID, s.CloseReason, reason)
	}
	if !isNull(s.User) || !isNull(s.Data) {
		t.Errorf("session %s: got user %s, data %s; want both cleared", s.ID, s.User, s.Data)
	}
}

func isNull(raw []byte) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// assertStates checks the states a store returns for ids against want, nil
// for a session that does not exist.
func assertStates(t *testing.T, store logic.Persistence, ids []string, want ...*logic.SessionState) {
	t.Helper()
	got, err := store.GetStatesByIDs(t.Context(), ids)
	if err != nil {
		t.Fatalf("get states of %v: %v", ids, err)
	}
	if len(got) != len(want) {
		t.Fatalf("states of %v: got %d; want %d", ids, len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if w == nil || g == nil {
			if g != w {
				t.Errorf("state %d of %v: got %+v; want %+v", i, ids, g, w)
			}
			continue
		}
		if g.ID != w.ID || g.Active != w.Active || g.DeviceID != w.DeviceID || g.Client != w.Client {
			t.Errorf("state %d of %v: got %+v; want %+v", i, ids, g, w)
		}
		assertTime(t, fmt.Sprintf("state %d of %v: request_time", i, ids), g.RequestTime, w.RequestTime)
		assertTime(t, fmt.Sprintf("state %d of %v: expire_time", i, ids), g.ExpireTime, w.ExpireTime)
	}
}
