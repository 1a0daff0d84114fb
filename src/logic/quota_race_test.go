package logic_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// hookStore runs a test's hook before a session is created or updated and
// after the states of sessions are read, so a test can stop a command at
// that point while another runs.
type hookStore struct {
	*persistence.Memory
	beforeCreate   func(s *sessions.Session)
	beforeUpdate   func(id string, u sessions.Update)
	afterStates    func()
	beforeGetSlots func()
	beforeTakeSlot func(s sessions.Slot)
	// beforeSetMaxSessions runs as SetMaxSessions reaches the store.
	beforeSetMaxSessions func()
	// beforeSetDevice runs as SetDevice reaches the store.
	beforeSetDevice func(d *sessions.Device)
	// listFails, when set, answers the next listing of sessions, and
	// homeFails, when it returns an error, the reading of a home, as a
	// database that did not answer in time; each is cleared once it failed
	// a call.
	listFails, homeFails func() error
	// refuseCreate, when set, is what Create answers without storing the
	// session; createFails what it answers after storing it, as a
	// database does that applied an insert and timed out answering.
	refuseCreate, createFails error
	// closeFails, when set, is what an update that closes a session
	// answers, as a database that does not answer does.
	closeFails error
}

func (h *hookStore) Create(ctx context.Context, s *sessions.Session) (*sessions.Session, error) {
	if h.beforeCreate != nil {
		h.beforeCreate(s)
	}
	if h.refuseCreate != nil {
		return nil, h.refuseCreate
	}
	created, err := h.Memory.Create(ctx, s)
	if h.createFails != nil {
		return nil, h.createFails
	}
	return created, err
}

func (h *hookStore) SetMaxSessions(ctx context.Context, id string, n int64) (*sessions.Home, error) {
	if h.beforeSetMaxSessions != nil {
		h.beforeSetMaxSessions()
	}
	return h.Memory.SetMaxSessions(ctx, id, n)
}

func (h *hookStore) SetDevice(ctx context.Context, d *sessions.Device) (stored, replaced *sessions.Device, err error) {
	if h.beforeSetDevice != nil {
		h.beforeSetDevice(d)
	}
	return h.Memory.SetDevice(ctx, d)
}

func (h *hookStore) GetPageByFilter(ctx context.Context, f sessions.Filter, p sessions.Paging) (*sessions.Page, error) {
	if fail := h.listFails; fail != nil {
		h.listFails = nil
		return nil, fail()
	}
	return h.Memory.GetPageByFilter(ctx, f, p)
}

func (h *hookStore) GetHome(ctx context.Context, id string) (*sessions.Home, error) {
	if fail := h.homeFails; fail != nil {
		if err := fail(); err != nil {
			h.homeFails = nil
			return nil, err
		}
	}
	return h.Memory.GetHome(ctx, id)
}

func (h *hookStore) GetSlots(ctx context.Context, homeID string) ([]sessions.Slot, error) {
	if h.beforeGetSlots != nil {
		h.beforeGetSlots()
	}
	return h.Memory.GetSlots(ctx, homeID)
}

func (h *hookStore) TakeSlot(ctx context.Context, s sessions.Slot) (bool, error) {
	if h.beforeTakeSlot != nil {
		h.beforeTakeSlot(s)
	}
	return h.Memory.TakeSlot(ctx, s)
}

func (h *hookStore) Update(ctx context.Context, id string, u sessions.Update) (*sessions.Session, error) {
	if h.beforeUpdate != nil {
		h.beforeUpdate(id, u)
	}
	if h.closeFails != nil && u.Close != nil {
		return nil, h.closeFails
	}
	return h.Memory.Update(ctx, id, u)
}

func (h *hookStore) GetStatesByIDs(ctx context.Context, ids []string) ([]*logic.SessionState, error) {
	states, err := h.Memory.GetStatesByIDs(ctx, ids)
	if h.afterStates != nil {
		h.afterStates()
	}
	return states, err
}

// safeClock is a settable time source that commands on several goroutines
// may read.
type safeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *safeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *safeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// newHookedController returns a controller over a hookStore whose hooks
// the test sets before it starts the commands that race.
func newHookedController(t *testing.T) (*logic.Controller, *hookStore, *safeClock) {
	t.Helper()
	store := &hookStore{Memory: persistence.NewMemory()}
	clk := &safeClock{t: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	c := logic.NewController(store, clk.now)
	if err := c.Configure(container.Config{}); err != nil {
		t.Fatal(err)
	}
	return c, store, clk
}

// newLoggedController is newHookedController with its log lines kept, at
// every level.
func newLoggedController(t *testing.T) (*logic.Controller, *hookStore, *safeClock, *observer.ObservedLogs) {
	t.Helper()
	c, store, clk := newHookedController(t)
	core, logs := observer.New(zapcore.DebugLevel)
	refs := container.NewReferences()
	refs.Put(persistenceDescriptor("memory"), store)
	refs.Put(container.Descriptor{Group: "pip-services", Type: "logger", Kind: "console", Name: "default", Version: "1.0"}, zap.New(core))
	if err := c.SetReferences(refs); err != nil {
		t.Fatal(err)
	}
	return c, store, clk, logs
}

// once returns a hook that stops its first call until release is closed,
// closing reached when it gets there.
func once(reached, release chan struct{}) func() {
	var o sync.Once
	return func() {
		o.Do(func() {
			close(reached)
			<-release
		})
	}
}

// holdRenewal stops the first update of session id that is no close (its
// renewal) until release is closed, closing reached when it gets there.
func holdRenewal(store *hookStore, id string) (reached, release chan struct{}) {
	reached, release = make(chan struct{}), make(chan struct{})
	hold := once(reached, release)
	store.beforeUpdate = func(updated string, u sessions.Update) {
		if updated == id && u.Close == nil {
			hold()
		}
	}
	return reached, release
}

func TestAnOpenRacingSetHomeIsCountedByTheHome(t *testing.T) {
	c, store, _ := newHookedController(t)
	reached, release := make(chan struct{}), make(chan struct{})
	hold := once(reached, release)
	store.beforeCreate = func(*sessions.Session) { hold() }

	// The open finds no home, then stops before its session is stored;
	// set_home creates the home and counts the sessions it finds meanwhile.
	opened := make(chan *sessions.Session)
	go func() {
		r, err := run(c, "open_session", `{"user_id":"acct","device_id":"tv"}`)
		if err != nil {
			t.Error("open:", err)
		}
		s, _ := r.(*sessions.Session)
		opened <- s
	}()
	<-reached
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1}}`)
	close(release)
	s := <-opened
	if s == nil {
		t.FailNow()
	}

	_, err := run(c, "open_session", `{"user_id":"acct","device_id":"phone"}`)
	wantCode(t, err, sessions.CodeMaxSessionsExceeded)
	if n := execute(t, c, "get_home", `{"home_id":"acct"}`).(*sessions.HomeStatus).ActiveCount; n != 1 {
		t.Errorf("active_count: got %d; want 1", n)
	}
	if _, err := run(c, "renew_session", `{"session_id":"`+s.ID+`"}`); err != nil {
		t.Errorf("heartbeat of the session the home counted: %v", err)
	}
}

func TestEvictOldestAdmitsNoOneWhileOverALoweredLimit(t *testing.T) {
	c, clk := newController(t, container.Config{})
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":4,"policy":"evict_oldest"}}`)
	var ids []string
	for range 4 {
		ids = append(ids, open(t, c, `{"user_id":"acct"}`).ID)
		clk.advance(time.Second)
	}
	// The two oldest renew, so the least recently renewed sessions hold
	// the places above the new limit.
	execute(t, c, "renew_session", `{"session_id":"`+ids[0]+`"}`)
	execute(t, c, "renew_session", `{"session_id":"`+ids[1]+`"}`)
	clk.advance(time.Second)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":2,"policy":"evict_oldest"}}`)

	_, err := run(c, "open_session", `{"user_id":"acct"}`)
	wantCode(t, err, sessions.CodeMaxSessionsExceeded)
	for _, id := range ids {
		if s := execute(t, c, "get_session_by_id", `{"session_id":"`+id+`"}`).(*sessions.Session); !s.Active {
			t.Errorf("session %s: closed as %q; lowering max_sessions closes nothing", id, s.CloseReason)
		}
	}

	// Once the home is back at its limit, an open evicts exactly one.
	execute(t, c, "close_session", `{"session_id":"`+ids[2]+`"}`)
	execute(t, c, "close_session", `{"session_id":"`+ids[3]+`"}`)
	open(t, c, `{"user_id":"acct"}`)
	evicted := 0
	for _, id := range ids[:2] {
		if s := execute(t, c, "get_session_by_id", `{"session_id":"`+id+`"}`).(*sessions.Session); s.CloseReason == sessions.ReasonEvicted {
			evicted++
		}
	}
	if evicted != 1 {
		t.Errorf("evicted: got %d sessions; want 1", evicted)
	}
}

func TestARenewThatSucceededIsNotUndoneByAnOpenerThatSawTheLeaseLapse(t *testing.T) {
	c, store, clk := newHookedController(t)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1,"lease_timeout":10000}}`)
	s := open(t, c, `{"user_id":"acct","device_id":"tv"}`)

	// The heartbeat comes just before the lease ends and stops before its
	// update is stored.
	clk.set(s.ExpireTime.Add(-time.Millisecond))
	reached, release := holdRenewal(store, s.ID)
	renewed := make(chan error)
	go func() {
		_, err := run(c, "renew_session", `{"session_id":"`+s.ID+`"}`)
		renewed <- err
	}()
	<-reached

	// Another device opens after the lease ended: it reads the session as
	// lapsed, and then the heartbeat is stored and answered before the
	// opener closes it.
	clk.set(s.ExpireTime.Add(time.Millisecond))
	var renewErr error
	var after sync.Once
	store.afterStates = func() {
		after.Do(func() {
			close(release)
			renewErr = <-renewed
		})
	}
	_, err := run(c, "open_session", `{"user_id":"acct","device_id":"phone"}`)
	if renewErr != nil {
		t.Fatalf("heartbeat: %v", renewErr)
	}
	wantCode(t, err, sessions.CodeMaxSessionsExceeded)
	got := execute(t, c, "get_session_by_id", `{"session_id":"`+s.ID+`"}`).(*sessions.Session)
	if !got.Active {
		t.Errorf("renewed session: closed as %q after its heartbeat was answered", got.CloseReason)
	}
}

// wantOneOfOne checks that the home acct of one place holds one live
// session and lets no other device in.
func wantOneOfOne(t *testing.T, c *logic.Controller) {
	t.Helper()
	_, err := run(c, "open_session", `{"user_id":"acct","device_id":"phone"}`)
	wantCode(t, err, sessions.CodeMaxSessionsExceeded)
	if n := execute(t, c, "get_home", `{"home_id":"acct"}`).(*sessions.HomeStatus).ActiveCount; n != 1 {
		t.Errorf("active_count: got %d; want 1", n)
	}
}

// delete_home leaves the account's sessions in their places, so a
// set_home that follows at once counts them and no open gets past the
// limit: had delete_home freed the places after the set_home looked, opens
// would have taken them while the sessions it counted stayed open.
func TestASetHomeRightAfterDeleteHomeCountsTheSessionsInTheirPlaces(t *testing.T) {
	c, _, _ := newHookedController(t)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1}}`)
	open(t, c, `{"user_id":"acct","device_id":"tv"}`)
	execute(t, c, "delete_home", `{"home_id":"acct"}`)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1}}`)

	wantOneOfOne(t, c)
}

func TestARenewDuringDeleteHomeKeepsTheSessionOpen(t *testing.T) {
	c, store, _ := newHookedController(t)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":2}}`)
	s := open(t, c, `{"user_id":"acct","device_id":"tv"}`)

	// The heartbeat reads the home, then stops before its update; the
	// home is deleted and its places freed meanwhile.
	reached, release := holdRenewal(store, s.ID)
	renewed := make(chan error)
	go func() { _, err := run(c, "renew_session", `{"session_id":"`+s.ID+`"}`); renewed <- err }()
	<-reached
	execute(t, c, "delete_home", `{"home_id":"acct"}`)
	close(release)
	if err := <-renewed; err != nil {
		t.Errorf("renew during delete_home: %v", err)
	}
	if got := execute(t, c, "get_session_by_id", `{"session_id":"`+s.ID+`"}`).(*sessions.Session); !got.Active {
		t.Errorf("session: closed as %q; want open, as delete_home leaves sessions", got.CloseReason)
	}
}

func TestARenewDuringSetHomeKeepsTheSessionOpenAndCounted(t *testing.T) {
	c, store, _ := newHookedController(t)
	s := open(t, c, `{"user_id":"acct","device_id":"tv"}`)

	// set_home stores the home, then stops before it gives the account's
	// session a place; the heartbeat comes meanwhile.
	reached, release := make(chan struct{}), make(chan struct{})
	store.beforeGetSlots = once(reached, release)
	set := make(chan error)
	go func() { _, err := run(c, "set_home", `{"home":{"id":"acct","max_sessions":1}}`); set <- err }()
	<-reached
	_, err := run(c, "renew_session", `{"session_id":"`+s.ID+`"}`)
	close(release)
	if err != nil {
		t.Errorf("renew during set_home: %v", err)
	}
	if err := <-set; err != nil {
		t.Fatal(err)
	}
	if got := execute(t, c, "get_session_by_id", `{"session_id":"`+s.ID+`"}`).(*sessions.Session); !got.Active {
		t.Errorf("session: closed as %q; want open", got.CloseReason)
	}
	wantOneOfOne(t, c)
}

func TestAnOpenThatFailedAfterItsSessionWasStoredKeepsItsPlace(t *testing.T) {
	c, store, _ := newHookedController(t)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1}}`)
	store.createFails = context.DeadlineExceeded
	if _, err := run(c, "open_session", `{"user_id":"acct","device_id":"tv"}`); err == nil {
		t.Fatal("open: got no error; want the store's")
	}
	store.createFails = nil

	wantOneOfOne(t, c) // the session stored despite the error holds the place
}

// The place an evicting open takes is dated when it is taken: the grace of
// its session runs from then, however long the eviction before it took.
func TestAPlaceTakenByEvictionIsDatedWhenTaken(t *testing.T) {
	c, store, clk := newHookedController(t)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1,"policy":"evict_oldest"}}`)
	open(t, c, `{"user_id":"acct","device_id":"tv"}`)
	store.beforeUpdate = func(string, sessions.Update) { clk.set(clk.now().Add(20 * time.Second)) } // a slow eviction
	open(t, c, `{"user_id":"acct","device_id":"phone"}`)
	slots, err := store.GetSlots(t.Context(), "acct")
	if err != nil || len(slots) != 1 {
		t.Fatalf("slots: got %v, %v; want the phone's", slots, err)
	}
	if !slots[0].Created.Equal(clk.now()) {
		t.Errorf("the phone's place dated %v; want %v, when it was taken", slots[0].Created, clk.now())
	}
}

func TestAnOpenTheStoreRefusedGivesItsPlaceBack(t *testing.T) {
	c, store, _ := newHookedController(t)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1}}`)
	store.refuseCreate = sessions.BadRequest(sessions.CodeSessionTooLarge, "the store refuses it")
	if _, err := run(c, "open_session", `{"user_id":"acct","device_id":"tv"}`); err == nil {
		t.Fatal("open: got no error; want the store's refusal")
	}
	store.refuseCreate = nil
	open(t, c, `{"user_id":"acct","device_id":"phone"}`)
}

// A store that did not answer may still apply the insert, later than any
// look could see it missing: the place stays held for it, so the limit
// holds when it lands, and is freed after the grace when it never does.
func TestAnOpenTheStoreDidNotAnswerKeepsItsPlaceUntilTheGracePasses(t *testing.T) {
	unanswered := func(t *testing.T) (*logic.Controller, *hookStore, *safeClock, *sessions.Session) {
		c, store, clk := newHookedController(t)
		execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1}}`)
		var sent *sessions.Session
		store.beforeCreate = func(s *sessions.Session) { sent = s }
		store.refuseCreate = sessions.Unavailable(errors.New("no answer in time"))
		if _, err := run(c, "open_session", `{"user_id":"acct","device_id":"tv"}`); !sessions.IsUnavailable(err) {
			t.Fatalf("open: got %v; want the store unavailable", err)
		}
		store.beforeCreate, store.refuseCreate = nil, nil
		return c, store, clk, sent
	}
	t.Run("the insert lands late", func(t *testing.T) {
		c, store, _, sent := unanswered(t)
		_, err := run(c, "open_session", `{"user_id":"acct","device_id":"phone"}`)
		wantCode(t, err, sessions.CodeMaxSessionsExceeded) // the place waits for the insert
		if _, err := store.Memory.Create(t.Context(), sent); err != nil {
			t.Fatal(err)
		}
		wantOneOfOne(t, c)
	})
	t.Run("an evicting open finds nothing to evict", func(t *testing.T) {
		c, store, clk, _ := unanswered(t)
		execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1,"policy":"evict_oldest"}}`)
		reads := 0
		store.beforeGetSlots = func() { reads++ }
		clk.set(clk.now().Add(3 * logic.MaxStoreOperation)) // no open lasts so long
		_, err := run(c, "open_session", `{"user_id":"acct","device_id":"phone"}`)
		wantCode(t, err, sessions.CodeMaxSessionsExceeded)
		if e, _ := errors.AsType[*sessions.Error](err); e == nil || e.Message == "" || strings.Contains(e.Message, "contention") {
			t.Errorf("error: got %v; want the home full, not under contention", err)
		}
		if reads > 1 {
			t.Errorf("the open read the home's places %d times; want once, as the next tries would find the same", reads)
		}
	})
	t.Run("an evicting open does not wait for it", func(t *testing.T) {
		// The open that did not answer took its place a while ago: its
		// insert may land late or never, and no open waits for that.
		c, store, clk, _ := unanswered(t)
		execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1,"policy":"evict_oldest"}}`)
		reads := 0
		store.beforeGetSlots = func() { reads++ }
		clk.set(clk.now().Add(logic.MaxStoreOperation)) // as long as the insert was given
		_, err := run(c, "open_session", `{"user_id":"acct","device_id":"phone"}`)
		wantCode(t, err, sessions.CodeMaxSessionsExceeded)
		if reads > 1 {
			t.Errorf("the open read the home's places %d times; want once, not waiting for a session that may never come", reads)
		}
	})
	t.Run("the insert never comes", func(t *testing.T) {
		c, _, clk, _ := unanswered(t)
		clk.set(clk.now().Add(time.Minute + time.Second))
		open(t, c, `{"user_id":"acct","device_id":"phone"}`)
	})
}

func TestADeviceMovedWhileItsSessionOpensKeepsNoSessionOfItsFormerAccount(t *testing.T) {
	c, store, _ := newHookedController(t)
	execute(t, c, "register_device", `{"device_id":"tv","user_id":"acct"}`)
	var move sync.Once
	store.beforeCreate = func(s *sessions.Session) {
		// The move and its logout run after the open looked up the device
		// and before it stored the session.
		move.Do(func() { execute(t, c, "register_device", `{"device_id":"tv","user_id":"buyer"}`) })
	}

	opened := open(t, c, `{"device_id":"tv"}`)
	if opened.UserID != "buyer" {
		t.Errorf("the open answered a session of %q; want one of buyer, whose device it is now", opened.UserID)
	}
	if live := execute(t, c, "get_sessions", `{"filter":{"user_id":"acct","active":true}}`).(*sessions.Page); len(live.Data) != 0 {
		t.Errorf("acct has %d live sessions; want none, the tv having left it", len(live.Data))
	}
}

func TestADeviceDeletedWhileItsSessionOpensKeepsNoSession(t *testing.T) {
	c, store, _ := newHookedController(t)
	execute(t, c, "register_device", `{"device_id":"tv","user_id":"acct"}`)
	var remove sync.Once
	store.beforeCreate = func(*sessions.Session) {
		remove.Do(func() { execute(t, c, "delete_device", `{"device_id":"tv"}`) })
	}

	_, err := run(c, "open_session", `{"device_id":"tv"}`)
	wantCode(t, err, sessions.CodeDeviceNotRegistered)
	if live := execute(t, c, "get_sessions", `{"filter":{"user_id":"acct","active":true}}`).(*sessions.Page); len(live.Data) != 0 {
		t.Errorf("acct has %d live sessions; want none, the tv having gone", len(live.Data))
	}
}

// A device that moves during every one of its open's tries gets a 409
// DEVICE_MOVED, and no session of any account it passed through stays open.
func TestADeviceThatKeepsMovingWhileItsSessionOpensIsAConflict(t *testing.T) {
	c, store, _ := newHookedController(t)
	execute(t, c, "register_device", `{"device_id":"tv","user_id":"a0"}`)
	moves := 0
	store.beforeCreate = func(*sessions.Session) {
		moves++
		execute(t, c, "register_device", fmt.Sprintf(`{"device_id":"tv","user_id":"a%d"}`, moves))
	}

	_, err := run(c, "open_session", `{"device_id":"tv"}`)
	wantCode(t, err, sessions.CodeDeviceMoved)
	if moves != 3 {
		t.Errorf("the open tried %d times; want 3", moves)
	}
	if live := execute(t, c, "get_sessions", `{"filter":{"active":true}}`).(*sessions.Page); len(live.Data) != 0 {
		t.Errorf("%d sessions are live after the open gave up; want none", len(live.Data))
	}
}

// An open by device counts once, however many tries the device's moves
// made it undo, and not at all when it ends in DEVICE_MOVED or
// DEVICE_NOT_REGISTERED.
func TestAnOpenByDeviceIsCountedOnceWhateverItsMovesUndid(t *testing.T) {
	store := &hookStore{Memory: persistence.NewMemory()}
	c, meter := meteredController(t, store, nil, container.Config{})
	execute(t, c, "register_device", `{"device_id":"tv","user_id":"a0"}`)
	moves := 0
	store.beforeCreate = func(*sessions.Session) {
		if moves < 2 { // the first two tries are undone, the third stays
			moves++
			execute(t, c, "register_device", fmt.Sprintf(`{"device_id":"tv","user_id":"a%d"}`, moves))
		}
	}
	open(t, c, `{"device_id":"tv"}`)
	if got, want := meter.results(), []string{logic.OpenOK}; !slices.Equal(got, want) {
		t.Errorf("open results: got %v; want %v", got, want)
	}

	store.beforeCreate = func(*sessions.Session) {
		moves++
		execute(t, c, "register_device", fmt.Sprintf(`{"device_id":"tv","user_id":"a%d"}`, moves))
	}
	_, err := run(c, "open_session", `{"device_id":"tv"}`)
	wantCode(t, err, sessions.CodeDeviceMoved)
	store.beforeCreate = func(*sessions.Session) { execute(t, c, "delete_device", `{"device_id":"tv"}`) }
	execute(t, c, "register_device", `{"device_id":"tv","user_id":"a0"}`)
	_, err = run(c, "open_session", `{"device_id":"tv"}`)
	wantCode(t, err, sessions.CodeDeviceNotRegistered)
	if got, want := meter.results(), []string{logic.OpenOK}; !slices.Equal(got, want) {
		t.Errorf("open results after two failed opens: got %v; want %v still", got, want)
	}
}

// An open by device whose undone try evicted a session counts as evicted:
// the eviction stays.
func TestAnOpenByDeviceWhoseUndoneTryEvictedCountsAsEvicted(t *testing.T) {
	store := &hookStore{Memory: persistence.NewMemory()}
	c, meter := meteredController(t, store, nil, container.Config{})
	execute(t, c, "set_home", `{"home":{"id":"a0","max_sessions":1,"policy":"evict_oldest"}}`)
	oldest := open(t, c, `{"user_id":"a0","device_id":"phone"}`)
	execute(t, c, "register_device", `{"device_id":"tv","user_id":"a0"}`)
	var move sync.Once
	store.beforeCreate = func(*sessions.Session) {
		move.Do(func() { execute(t, c, "register_device", `{"device_id":"tv","user_id":"a1"}`) })
	}
	if s := open(t, c, `{"device_id":"tv"}`); s.UserID != "a1" {
		t.Fatalf("opened for %q; want a1, the device's account now", s.UserID)
	}
	if got := execute(t, c, "get_session_by_id", `{"session_id":"`+oldest.ID+`"}`).(*sessions.Session); got.CloseReason != sessions.ReasonEvicted {
		t.Fatalf("a0's session: got close reason %q; want evicted by the undone try", got.CloseReason)
	}
	if got, want := meter.results(), []string{logic.OpenOK, logic.OpenEvicted}; !slices.Equal(got, want) {
		t.Errorf("open results: got %v; want %v", got, want)
	}
}

func TestAMoveWhoseLogoutFailedIsRepairedByItsRetry(t *testing.T) {
	c, store, _ := newHookedController(t)
	execute(t, c, "register_device", `{"device_id":"tv","user_id":"acct"}`)
	onTV := open(t, c, `{"device_id":"tv"}`)

	store.listFails = func() error { return sessions.Unavailable(errors.New("timed out")) }
	if _, err := run(c, "register_device", `{"device_id":"tv","user_id":"buyer"}`); err == nil {
		t.Fatal("register_device with the logout failing: got no error; want it")
	}
	execute(t, c, "register_device", `{"device_id":"tv","user_id":"buyer"}`) // the caller retries
	if s := execute(t, c, "get_session_by_id", `{"session_id":"`+onTV.ID+`"}`).(*sessions.Session); s.Active {
		t.Error("acct's session on the tv is still live after the move was retried; want it closed")
	}
}

// failSecondLookForAHome makes the second reading of a home fail, as a
// database that does not answer in time: an open's second look, after its
// session is stored.
func failSecondLookForAHome(store *hookStore) {
	reads := 0
	store.homeFails = func() error {
		if reads++; reads == 2 {
			return sessions.Unavailable(errors.New("timed out"))
		}
		return nil
	}
}

func TestAnOpenThatCannotCheckForANewHomeLeavesNoSessionOpen(t *testing.T) {
	c, store, _ := newHookedController(t)
	failSecondLookForAHome(store)

	if _, err := run(c, "open_session", `{"user_id":"acct"}`); err == nil {
		t.Fatal("open with its check for a home failing: got no error; want it")
	}
	if live := execute(t, c, "get_sessions", `{"filter":{"user_id":"acct","active":true}}`).(*sessions.Page); len(live.Data) != 0 {
		t.Errorf("acct has %d live sessions after an open that answered an error; want none", len(live.Data))
	}
}

// An open whose check for a new home failed, and whose undo failed too,
// leaves its session open: the error line names the session and the
// request, by its correlation id.
func TestAnOpenWhoseUndoFailedNamesItsRequest(t *testing.T) {
	c, store, _, logs := newLoggedController(t)
	failSecondLookForAHome(store)
	store.closeFails = sessions.Unavailable(errors.New("timed out"))

	ctx := sessions.WithCorrelationID(context.Background(), "req-7")
	if _, err := c.Execute(ctx, sessions.SessionsRoute, "open_session", []byte(`{"user_id":"acct"}`)); err == nil {
		t.Fatal("open with its check for a home failing: got no error; want it")
	}
	told := logs.FilterMessageSnippet("stays open").All()
	if len(told) != 1 || told[0].ContextMap()["correlation_id"] != "req-7" || told[0].ContextMap()["session_id"] == "" {
		t.Errorf("log: got %v; want one line naming the session and request req-7", logs.All())
	}
}

// Setting a home's limit writes the limit alone: the policy and lease a
// set_home wrote as the limit was on its way are kept. (The stores' own
// tests run the two at once.)
func TestSettingTheLimitKeepsWhatASetHomeWroteMeanwhile(t *testing.T) {
	c, store, _ := newHookedController(t)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1}}`)
	store.beforeSetMaxSessions = func() {
		execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1,"policy":"evict_oldest","lease_timeout":60000}}`)
	}
	h, err := c.SetMaxSessions(t.Context(), "acct", 3)
	want := sessions.Home{ID: "acct", MaxSessions: 3, LeaseTimeout: 60000, Policy: sessions.PolicyEvictOldest}
	if err != nil || *h != want {
		t.Fatalf("set the limit: got %+v, %v; want %+v", h, err, want)
	}
	if got := execute(t, c, "get_home", `{"home_id":"acct"}`).(*sessions.HomeStatus); got.Home != want {
		t.Errorf("stored home: got %+v; want %+v", got.Home, want)
	}
	for _, n := range []int64{-1, sessions.MaxMaxSessions + 1} {
		_, err := c.SetMaxSessions(t.Context(), "acct", n)
		wantCode(t, err, sessions.CodeInvalidData)
	}
}

// An opener that finds its victim closed by another (an opener on another
// instance that evicted it first) evicts nothing, and says nothing of it.
func TestAnEvictionOfASessionAlreadyClosedIsNotLogged(t *testing.T) {
	c, store, _, logs := newLoggedController(t)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1,"policy":"evict_oldest"}}`)
	first := open(t, c, `{"user_id":"acct"}`)
	store.beforeUpdate = func(id string, u sessions.Update) {
		if id == first.ID && u.Close != nil && u.Close.Reason == sessions.ReasonEvicted {
			store.beforeUpdate = nil
			closing := sessions.Update{IfActive: true, Close: &sessions.Closing{Time: u.Close.Time, Reason: sessions.ReasonEvicted}}
			if _, err := store.Memory.Update(context.Background(), id, closing); err != nil {
				t.Error(err)
			}
		}
	}
	open(t, c, `{"user_id":"acct"}`)
	if n := logs.FilterMessage("session evicted").Len(); n != 0 {
		t.Errorf("evictions logged: got %d; want none, the session was closed already", n)
	}
	open(t, c, `{"user_id":"acct"}`)
	if n := logs.FilterMessage("session evicted").Len(); n != 1 {
		t.Errorf("evictions logged: got %d; want 1, of the session this open evicted", n)
	}
}

// An evicting open into a home whose every place was just taken, their
// sessions not stored yet, waits for them and then evicts the oldest,
// rather than giving up as if under contention: on a store whose writes
// take milliseconds, that is what every open but one finds when many
// arrive at once.
func TestAnEvictingOpenWaitsForThePlacesBeingFilled(t *testing.T) {
	c, store, _ := newHookedController(t)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1,"policy":"evict_oldest"}}`)
	reached, release := make(chan struct{}), make(chan struct{})
	hold := once(reached, release)
	store.beforeCreate = func(*sessions.Session) { hold() }
	type opened struct {
		s   any
		err error
	}
	first := make(chan opened)
	go func() {
		s, err := run(c, "open_session", `{"user_id":"acct","device_id":"tv"}`)
		first <- opened{s, err}
	}()
	<-reached // the first open holds the place; its session is being stored
	store.beforeCreate = nil
	second := make(chan opened)
	go func() {
		s, err := run(c, "open_session", `{"user_id":"acct","device_id":"phone"}`)
		second <- opened{s, err}
	}()
	time.Sleep(100 * time.Millisecond) // the second looks, and looks again
	close(release)

	a, b := <-first, <-second
	if a.err != nil || b.err != nil {
		t.Fatalf("opens: got %v and %v; want both opened, the second by evicting the first", a.err, b.err)
	}
	evicted := execute(t, c, "get_session_by_id", `{"session_id":"`+a.s.(*sessions.Session).ID+`"}`).(*sessions.Session)
	if evicted.Active || evicted.CloseReason != sessions.ReasonEvicted {
		t.Errorf("first session: got active %v, close reason %q; want it evicted", evicted.Active, evicted.CloseReason)
	}
	if n := execute(t, c, "get_home", `{"home_id":"acct"}`).(*sessions.HomeStatus).ActiveCount; n != 1 {
		t.Errorf("active_count: got %d; want 1", n)
	}
}

// An open that evicted a session is counted as evicted even when another
// open took the place it freed and it entered another place.
func TestAnOpenThatEvictedIsCountedSoWhicheverPlaceItGot(t *testing.T) {
	// As the open takes the place of the session it evicted, another takes
	// it first; at the next look that place is free again, in one of two
	// ways, and the open enters it.
	for _, tc := range []struct {
		name  string
		ghost func(index int64, now time.Time) sessions.Slot
		// gone frees the other's place before the next look, when set.
		gone bool
	}{
		{"the other's session never came and its grace is past", func(index int64, now time.Time) sessions.Slot {
			return sessions.NewSlot("acct", index, "ghost", now.Add(-2*logic.PendingGrace))
		}, false},
		{"the other gave its place back", func(index int64, now time.Time) sessions.Slot {
			return sessions.NewSlot("acct", index, "ghost", now)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &hookStore{Memory: persistence.NewMemory()}
			clk := &safeClock{t: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
			c, meter := meteredController(t, store, clk.now, container.Config{})
			execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1,"policy":"evict_oldest"}}`)
			oldest := open(t, c, `{"user_id":"acct","device_id":"tv"}`)

			var o sync.Once
			store.beforeTakeSlot = func(s sessions.Slot) {
				o.Do(func() {
					ghost := tc.ghost(s.Index, clk.now())
					if ok, err := store.Memory.TakeSlot(context.Background(), ghost); !ok || err != nil {
						t.Errorf("take the place first: got %v, %v", ok, err)
					}
					if tc.gone {
						store.beforeGetSlots = func() { store.Memory.ReleaseSlot(context.Background(), ghost.ID) }
					}
				})
			}
			open(t, c, `{"user_id":"acct","device_id":"phone"}`)
			if got := execute(t, c, "get_session_by_id", `{"session_id":"`+oldest.ID+`"}`).(*sessions.Session); got.CloseReason != sessions.ReasonEvicted {
				t.Errorf("oldest session: got close reason %q; want evicted", got.CloseReason)
			}
			if got, want := meter.results(), []string{logic.OpenOK, logic.OpenEvicted}; !slices.Equal(got, want) {
				t.Errorf("open results: got %v; want %v", got, want)
			}
		})
	}
}

// What any client may do at request rate, an eviction or its own
// close_expired_sessions, is told at debug, so that no client can flood
// the log at the default info.
func TestWhatAClientMayRepeatIsLoggedAtDebug(t *testing.T) {
	c, _, clk, logs := newLoggedController(t)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1,"policy":"evict_oldest","lease_timeout":1000}}`)
	open(t, c, `{"user_id":"acct"}`)
	open(t, c, `{"user_id":"acct"}`) // evicts the first
	open(t, c, `{"user_id":"idle"}`)
	clk.set(clk.now().Add(2 * time.Second)) // past the lease of the second
	if _, err := run(c, "close_expired_sessions", `{}`); err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{"session evicted", "closed expired sessions"} {
		told := logs.FilterMessage(msg).All()
		if len(told) != 1 || told[0].Level != zapcore.DebugLevel {
			t.Errorf("%q: got %v; want one line, at debug", msg, told)
		}
	}
}

// An open that finds a place free at every look, and loses it each time to
// another open, is refused once its patience runs out, and the refusal
// names the sessions that hold the home's places then, as every refusal
// of a full home does: a client picks from them which to close.
func TestAnOpenRefusedUnderContentionNamesTheSessionsInTheHome(t *testing.T) {
	t.Parallel()
	c, store, clk := newHookedController(t)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":2}}`)
	tv := open(t, c, `{"user_id":"acct","device_id":"tv"}`)
	// Whenever the phone's open takes a place, a rival has just taken it;
	// the rival's open fails before the phone's next look, and frees it.
	var rival string
	store.beforeTakeSlot = func(s sessions.Slot) {
		slot := sessions.NewSlot(s.HomeID, s.Index, "rival", clk.now())
		if _, err := store.Memory.TakeSlot(context.Background(), slot); err != nil {
			t.Error(err)
		}
		rival = slot.ID
	}
	store.beforeGetSlots = func() {
		if rival != "" {
			if _, err := store.Memory.ReleaseSlot(context.Background(), rival); err != nil {
				t.Error(err)
			}
		}
	}

	_, err := run(c, "open_session", `{"user_id":"acct","device_id":"phone"}`)
	e := wantCode(t, err, sessions.CodeMaxSessionsExceeded)
	if !strings.Contains(e.Message, "contention") {
		t.Errorf("message: got %q; want the refusal under contention", e.Message)
	}
	active, _ := e.Details["active"].([]any)
	if len(active) != 1 || active[0].(map[string]any)["id"] != tv.ID {
		t.Errorf("details.active: got %#v; want the tv's session %s, which holds the other place", e.Details["active"], tv.ID)
	}
}

// A renewal that reads its session live, and finds it evicted by another
// instance by the time it writes, answers as for a session found closed:
// SESSION_NOT_FOUND with the reason, so the device knows another pushed it
// out.
func TestARenewalThatLosesItsSessionToAnEvictionNamesTheEviction(t *testing.T) {
	c, store, clk := newHookedController(t)
	other := logic.NewController(store, clk.now) // another instance on the same database
	if err := other.Configure(container.Config{}); err != nil {
		t.Fatal(err)
	}
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1,"policy":"evict_oldest"}}`)
	s := open(t, c, `{"user_id":"acct","device_id":"tv"}`)
	clk.set(clk.now().Add(time.Millisecond))

	reached, release := holdRenewal(store, s.ID)
	renewed := make(chan error)
	go func() { _, err := run(c, "renew_session", `{"session_id":"`+s.ID+`"}`); renewed <- err }()
	<-reached
	store.beforeUpdate = nil
	open(t, other, `{"user_id":"acct","device_id":"phone"}`) // evicts the tv's session
	close(release)

	e := wantCode(t, <-renewed, sessions.CodeSessionNotFound)
	if e.Details["close_reason"] != sessions.ReasonEvicted {
		t.Errorf("details: got %v; want close_reason evicted", e.Details)
	}
}

// Two moves of one device at once: the move to C read the device in A,
// and before it writes, another instance moves the device to B and opens a
// session through it there. The move to C logs the device out of B, the
// account its write took the device from, not only of A, which it read.
func TestOfTwoMovesAtOnceTheLastLogsTheDeviceOutOfTheAccountItReplaced(t *testing.T) {
	c, store, clk := newHookedController(t)
	other := logic.NewController(store, clk.now) // another instance on the same database
	if err := other.Configure(container.Config{}); err != nil {
		t.Fatal(err)
	}
	execute(t, c, "register_device", `{"device_id":"tv","user_id":"A"}`)
	var inB *sessions.Session
	store.beforeSetDevice = func(d *sessions.Device) {
		if d.UserID != "C" {
			return
		}
		store.beforeSetDevice = nil
		execute(t, other, "register_device", `{"device_id":"tv","user_id":"B"}`)
		inB = open(t, other, `{"device_id":"tv"}`)
	}
	execute(t, c, "register_device", `{"device_id":"tv","user_id":"C"}`)

	if inB == nil || inB.UserID != "B" {
		t.Fatalf("the session opened through the device meanwhile: got %+v; want one of B", inB)
	}
	got := execute(t, c, "get_session_by_id", `{"session_id":"`+inB.ID+`"}`).(*sessions.Session)
	if got.Active {
		t.Errorf("B's session on the device after it moved to C: still open; want it closed")
	}
}
