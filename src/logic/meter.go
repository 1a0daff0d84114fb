package logic

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// MeterLocator finds a meter among the counters components.
var MeterLocator = container.Descriptor{Group: "pip-services", Type: "counters", Kind: "*", Name: "*", Version: "1.0"}

// Results of an open, as a meter counts them.
const (
	OpenOK      = "ok"      // opened
	OpenDenied  = "denied"  // refused: the account's quota is full
	OpenEvicted = "evicted" // closed the oldest session to make room
)

// Meter is told what the controller and its store do; the Prometheus
// counters implement it.
type Meter interface {
	// ActiveSessions is called at open with the number of active sessions.
	ActiveSessions(n int64)
	// SessionEvent is called for every event delivered to this instance;
	// local is false for events another instance produced.
	SessionEvent(e sessions.Event, local bool)
	// OpenResult counts one open_session by result.
	OpenResult(result string)
	// StoreDone records how long one persistence operation took.
	StoreDone(op string, d time.Duration)
}

type noMeter struct{}

func (noMeter) ActiveSessions(int64)                 {}
func (noMeter) SessionEvent(sessions.Event, bool)    {}
func (noMeter) OpenResult(string)                    {}
func (noMeter) StoreDone(op string, d time.Duration) {}

// countActive tells the meter how many sessions are stored active, when
// there is one. A session whose lease has lapsed counts until it is closed:
// its close is an expired event, which the meter counts down, whereas one
// never counted up would take the gauge below the truth. A store that
// cannot count in time (a database not answering yet) does not stop the
// start: the gauge then counts from 0 until a later try counts them (see
// recount), and a warning says so. It reports whether the count was told.
func (c *Controller) countActive(ctx context.Context) bool {
	if _, none := c.meter.(noMeter); none {
		return true
	}
	active := true
	page, err := c.store.GetPageByFilter(ctx, sessions.Filter{Active: &active},
		sessions.Paging{Take: 1, Total: true})
	if err != nil {
		c.log.Warn("count the active sessions failed; the active sessions gauge counts from 0 until a later try counts them",
			zap.Error(err))
		return false
	}
	c.meter.ActiveSessions(*page.Total)
	return true
}

// timedStore reports the duration of every store operation to a meter. It
// forwards each method itself, embedding nothing, so that a method added to
// Store cannot go untimed: the build fails until it is written here.
type timedStore struct {
	store Store
	meter Meter
}

func timed[T any](m Meter, op string, f func() (T, error)) (T, error) {
	start := time.Now()
	v, err := f()
	m.StoreDone(op, time.Since(start))
	return v, err
}

func (t timedStore) GetPageByFilter(ctx context.Context, f sessions.Filter, p sessions.Paging) (*sessions.Page, error) {
	return timed(t.meter, "get_page", func() (*sessions.Page, error) { return t.store.GetPageByFilter(ctx, f, p) })
}

func (t timedStore) GetOneByID(ctx context.Context, id string) (*sessions.Session, error) {
	return timed(t.meter, "get_one", func() (*sessions.Session, error) { return t.store.GetOneByID(ctx, id) })
}

func (t timedStore) GetStatesByIDs(ctx context.Context, ids []string) ([]*SessionState, error) {
	return timed(t.meter, "get_states", func() ([]*SessionState, error) { return t.store.GetStatesByIDs(ctx, ids) })
}

func (t timedStore) Create(ctx context.Context, s *sessions.Session) (*sessions.Session, error) {
	return timed(t.meter, "create", func() (*sessions.Session, error) { return t.store.Create(ctx, s) })
}

func (t timedStore) Update(ctx context.Context, id string, u sessions.Update) (*sessions.Session, error) {
	return timed(t.meter, "update", func() (*sessions.Session, error) { return t.store.Update(ctx, id, u) })
}

func (t timedStore) DeleteByID(ctx context.Context, id string) (*sessions.Session, error) {
	return timed(t.meter, "delete", func() (*sessions.Session, error) { return t.store.DeleteByID(ctx, id) })
}

func (t timedStore) ExpiredIDs(ctx context.Context, e sessions.Expiry) ([]string, error) {
	return timed(t.meter, "expired_ids", func() ([]string, error) { return t.store.ExpiredIDs(ctx, e) })
}

func (t timedStore) GetHome(ctx context.Context, id string) (*sessions.Home, error) {
	return timed(t.meter, "get_home", func() (*sessions.Home, error) { return t.store.GetHome(ctx, id) })
}

func (t timedStore) TakeSlot(ctx context.Context, s sessions.Slot) (bool, error) {
	return timed(t.meter, "take_slot", func() (bool, error) { return t.store.TakeSlot(ctx, s) })
}

func (t timedStore) ReleaseSlot(ctx context.Context, id string) (bool, error) {
	return timed(t.meter, "release_slot", func() (bool, error) { return t.store.ReleaseSlot(ctx, id) })
}

func (t timedStore) GetSlots(ctx context.Context, homeID string) ([]sessions.Slot, error) {
	return timed(t.meter, "get_slots", func() ([]sessions.Slot, error) { return t.store.GetSlots(ctx, homeID) })
}

func (t timedStore) GetSessionSlots(ctx context.Context, sessionID string) ([]sessions.Slot, error) {
	return timed(t.meter, "get_session_slots", func() ([]sessions.Slot, error) { return t.store.GetSessionSlots(ctx, sessionID) })
}

func (t timedStore) SetHome(ctx context.Context, h *sessions.Home) (*sessions.Home, error) {
	return timed(t.meter, "set_home", func() (*sessions.Home, error) { return t.store.SetHome(ctx, h) })
}

func (t timedStore) SetMaxSessions(ctx context.Context, id string, n int64) (*sessions.Home, error) {
	return timed(t.meter, "set_max_sessions", func() (*sessions.Home, error) { return t.store.SetMaxSessions(ctx, id, n) })
}

func (t timedStore) DeleteHome(ctx context.Context, id string) (*sessions.Home, error) {
	return timed(t.meter, "delete_home", func() (*sessions.Home, error) { return t.store.DeleteHome(ctx, id) })
}

func (t timedStore) GetHomes(ctx context.Context, id string, p sessions.Paging) (*sessions.HomePage, error) {
	return timed(t.meter, "get_homes", func() (*sessions.HomePage, error) { return t.store.GetHomes(ctx, id, p) })
}

func (t timedStore) SetDevice(ctx context.Context, d *sessions.Device) (stored, replaced *sessions.Device, err error) {
	stored, err = timed(t.meter, "set_device", func() (*sessions.Device, error) {
		s, r, err := t.store.SetDevice(ctx, d)
		replaced = r
		return s, err
	})
	return stored, replaced, err
}

func (t timedStore) GetDevice(ctx context.Context, id string) (*sessions.Device, error) {
	return timed(t.meter, "get_device", func() (*sessions.Device, error) { return t.store.GetDevice(ctx, id) })
}

func (t timedStore) DeleteDevice(ctx context.Context, id string) (*sessions.Device, error) {
	return timed(t.meter, "delete_device", func() (*sessions.Device, error) { return t.store.DeleteDevice(ctx, id) })
}

func (t timedStore) GetDevices(ctx context.Context, userID string, p sessions.Paging) (*sessions.DevicePage, error) {
	return timed(t.meter, "get_devices", func() (*sessions.DevicePage, error) { return t.store.GetDevices(ctx, userID, p) })
}
