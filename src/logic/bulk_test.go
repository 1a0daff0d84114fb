package logic_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// listingStore runs a test's change once, right after the first listing of
// sessions it answers: another request that lands while a command works
// through what it listed.
type listingStore struct {
	*persistence.Memory
	meanwhile func()
}

func (l *listingStore) GetPageByFilter(ctx context.Context, f sessions.Filter, p sessions.Paging) (*sessions.Page, error) {
	page, err := l.Memory.GetPageByFilter(ctx, f, p)
	if change := l.meanwhile; change != nil {
		l.meanwhile = nil
		change()
	}
	return page, err
}

// newListingController opens n sessions of account u1, a second apart, on
// a controller whose pages hold 3 sessions.
func newListingController(t *testing.T, n int) (*logic.Controller, *listingStore, *clock, []string) {
	t.Helper()
	store := &listingStore{Memory: persistence.NewMemory()}
	c, clk := newControllerOver(t, store, container.Config{"options": map[string]any{"max_page_size": 3}})
	var ids []string
	for range n {
		ids = append(ids, open(t, c, `{"user_id":"u1"}`).ID)
		clk.advance(time.Second)
	}
	return c, store, clk, ids
}

func TestLogoutFromAllDevicesClosesASessionRenewedMeanwhile(t *testing.T) {
	c, store, clk, ids := newListingController(t, 5)
	store.meanwhile = func() {
		clk.advance(time.Second)
		execute(t, c, "renew_session", `{"session_id":"`+ids[0]+`"}`) // now the newest
	}
	if n := execute(t, c, "close_user_sessions", `{"user_id":"u1"}`); n != int64(5) {
		t.Errorf("close_user_sessions: got %v closed; want 5", n)
	}
	for _, id := range ids {
		if s := execute(t, c, "get_session_by_id", `{"session_id":"`+id+`"}`).(*sessions.Session); s.Active {
			t.Errorf("session %s is still active after close_user_sessions", id)
		}
	}
}

// missingStore leaves one session out of its first listing, as a MongoDB
// cursor can when the session is renewed while it reads.
type missingStore struct {
	*persistence.Memory
	miss string
}

func (m *missingStore) GetPageByFilter(ctx context.Context, f sessions.Filter, p sessions.Paging) (*sessions.Page, error) {
	page, err := m.Memory.GetPageByFilter(ctx, f, p)
	if m.miss != "" && page != nil {
		page.Data = slices.DeleteFunc(page.Data, func(s *sessions.Session) bool { return s.ID == m.miss })
		m.miss = ""
	}
	return page, err
}

func TestLogoutFromAllDevicesClosesASessionTheFirstListingMissed(t *testing.T) {
	store := &missingStore{Memory: persistence.NewMemory()}
	c, _ := newControllerOver(t, store, nil)
	ids := []string{open(t, c, `{"user_id":"u1"}`).ID, open(t, c, `{"user_id":"u1"}`).ID, open(t, c, `{"user_id":"u1"}`).ID}
	store.miss = ids[1]
	if n := execute(t, c, "close_user_sessions", `{"user_id":"u1"}`); n != int64(3) {
		t.Errorf("close_user_sessions: got %v closed; want 3", n)
	}
	for _, id := range ids {
		if s := execute(t, c, "get_session_by_id", `{"session_id":"`+id+`"}`).(*sessions.Session); s.Active {
			t.Errorf("session %s is still active after close_user_sessions", id)
		}
	}
}

func TestANotificationReachesEachStreamOnceWhileSessionsOpen(t *testing.T) {
	c, store, clk, ids := newListingController(t, 4)
	var streams []<-chan sessions.Notification
	for _, id := range ids {
		s, err := c.Events().Listen(id)
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, s.Notifications())
	}
	store.meanwhile = func() {
		clk.advance(time.Second)
		open(t, c, `{"user_id":"u1"}`)
	}
	if n := execute(t, c, "send_notification", `{"user_id":"u1","method":"refresh"}`); n != int64(4) {
		t.Errorf("send_notification: got %v streams; want 4", n)
	}
	for i, ch := range streams {
		if got := len(ch); got != 1 {
			t.Errorf("stream of session %d: got the notification %d times; want once", i, got)
		}
	}
}

func TestANotificationReachesASessionTheFirstListingMissed(t *testing.T) {
	store := &missingStore{Memory: persistence.NewMemory()}
	c, _ := newControllerOver(t, store, nil)
	var ids []string
	var streams []<-chan sessions.Notification
	for range 3 {
		id := open(t, c, `{"user_id":"u1"}`).ID
		s, err := c.Events().Listen(id)
		if err != nil {
			t.Fatal(err)
		}
		ids, streams = append(ids, id), append(streams, s.Notifications())
	}
	store.miss = ids[1]
	if n := execute(t, c, "send_notification", `{"user_id":"u1","method":"refresh"}`); n != int64(3) {
		t.Errorf("send_notification: got %v streams; want 3", n)
	}
	for i, ch := range streams {
		if got := len(ch); got != 1 {
			t.Errorf("stream of session %d: got the notification %d times; want once", i, got)
		}
	}
}
