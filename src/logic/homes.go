package logic

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/sessionsd/service-sessions-go/src/logging"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Bounds on homes; anything outside is a validation failure.
const (
	// PendingGrace is how long a slot may exist before its session does:
	// the opener takes the slot first, then stores the session.
	PendingGrace = time.Minute
	// MaxStoreOperation bounds one store operation, as a store must (the
	// MongoDB store's operation_timeout may not exceed it): taking a slot
	// and storing its session end within two of them, well inside
	// PendingGrace even on instances whose clocks differ by one more.
	MaxStoreOperation = PendingGrace / 4
	// quotaPatience bounds how long an open into a home keeps looking for
	// a place while others fill it: each look it loses to them, or finds
	// every place just taken and its session not stored yet, shows others
	// getting on; then it gives up, as under heavy contention.
	quotaPatience = 5 * time.Second
	// maxQuotaPause is the longest pause before an evicting open looks
	// again at a home whose places are all being filled; the first is a
	// millisecond, each next one twice the last.
	maxQuotaPause = 32 * time.Millisecond
	// settleWait is how long after a place is taken an evicting open
	// waits for its session: a store write takes far less, and a place
	// older than that waits for a write that did not answer, which may
	// land late or never.
	settleWait = time.Second
)

type (
	// HomeArgs carries a home to store.
	HomeArgs struct {
		Home *sessions.Home `json:"home" required:"true"`
	}

	// HomeIDArgs names one home.
	HomeIDArgs struct {
		HomeID string `json:"home_id" required:"true" max:"id"`
	}

	// GetHomesArgs selects a page of homes; the filter key is id.
	GetHomesArgs struct {
		Filter sessions.FilterParams  `json:"filter"`
		Paging *sessions.PagingParams `json:"paging"`
	}

	// RegisterDeviceArgs maps a device to an account.
	RegisterDeviceArgs struct {
		DeviceID string `json:"device_id" required:"true" max:"id"`
		UserID   string `json:"user_id" required:"true" max:"id"`
	}

	// DeviceIDArgs names one device.
	DeviceIDArgs struct {
		DeviceID string `json:"device_id" required:"true" max:"id"`
	}

	// GetDevicesArgs selects a page of devices; the filter key is user_id.
	GetDevicesArgs struct {
		Filter sessions.FilterParams  `json:"filter"`
		Paging *sessions.PagingParams `json:"paging"`
	}
)

func (c *Controller) homeCommands() []Command {
	return []Command{
		repeatable(failsWith(define(sessions.SessionsRoute, "renew_session", "Renews a session: marks it used and extends its lease; a closed or lapsed session is 404.", c.RenewSession),
			sessionNotFound, sessionExpired)),
		repeatable(define(sessions.HomesRoute, "set_home", "Creates or replaces the home (session quota) of an account.", c.SetHome)),
		repeatable(orNothing(define(sessions.HomesRoute, "get_home", "Returns a home with its active sessions, or nothing.", c.GetHome))),
		orNothing(define(sessions.HomesRoute, "delete_home", "Deletes a home; its sessions stay open without a quota.", c.DeleteHome)),
		repeatable(define(sessions.HomesRoute, "get_homes", "Returns a page of homes ordered by id.", c.GetHomes)),
		repeatable(define(sessions.DevicesRoute, "register_device", "Maps a device to an account; registering again moves the device.", c.RegisterDevice)),
		repeatable(orNothing(define(sessions.DevicesRoute, "get_device", "Returns a device, or nothing.", c.GetDevice))),
		orNothing(define(sessions.DevicesRoute, "delete_device", "Deletes a device and returns it, or nothing.", c.DeleteDevice)),
		repeatable(define(sessions.DevicesRoute, "get_devices", "Returns a page of devices ordered by id.", c.GetDevices)),
	}
}

// SetHome validates and stores a home, then gives every active session of
// the account that holds no slot one, so sessions opened before the home
// existed count against it. Lowering max_sessions closes nothing.
func (c *Controller) SetHome(ctx context.Context, a *HomeArgs) (*sessions.Home, error) {
	h := *a.Home
	if err := h.Validate(); err != nil {
		return nil, err
	}
	stored, err := c.homes.SetHome(ctx, &h)
	if err != nil {
		return nil, err
	}
	if err := c.adopt(ctx, stored); err != nil {
		return nil, err
	}
	return stored, nil
}

// SetMaxSessions sets only how many sessions a home admits, creating the
// home with the default policy and lease when there is none; its other
// settings, even those a concurrent SetHome writes, are kept.
func (c *Controller) SetMaxSessions(ctx context.Context, id string, n int64) (*sessions.Home, error) {
	h := sessions.Home{ID: id, MaxSessions: n}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	stored, err := c.homes.SetMaxSessions(ctx, id, n)
	if err != nil {
		return nil, err
	}
	if err := c.adopt(ctx, stored); err != nil {
		return nil, err
	}
	return stored, nil
}

// GetHome returns a home with its live sessions, or nil.
func (c *Controller) GetHome(ctx context.Context, a *HomeIDArgs) (*sessions.HomeStatus, error) {
	h, err := c.homes.GetHome(ctx, a.HomeID)
	if err != nil || h == nil {
		return nil, err
	}
	live, err := c.liveSessions(ctx, sessions.Filter{UserID: h.ID})
	if err != nil {
		return nil, err
	}
	return &sessions.HomeStatus{Home: *h, ActiveCount: int64(len(live)), Sessions: live}, nil
}

// DeleteHome deletes a home; nil when it does not exist. Its sessions keep
// their places, which count for nothing while the account has no home and
// are freed as each session ends. Freeing them here would let opens into a
// home that a set_home makes meanwhile take the places of sessions it
// counted, and put the home over its limit.
func (c *Controller) DeleteHome(ctx context.Context, a *HomeIDArgs) (*sessions.Home, error) {
	return c.homes.DeleteHome(ctx, a.HomeID)
}

// GetHomes returns a page of homes.
func (c *Controller) GetHomes(ctx context.Context, a *GetHomesArgs) (*sessions.HomePage, error) {
	return c.homes.GetHomes(ctx, a.Filter["id"], c.paging(a.Paging))
}

// RegisterDevice maps a device to an account, moving it if it was
// elsewhere: the live sessions of its former account on it are closed.
// After the move that is the account the write replaced, which another
// move at the same moment may have made since this one read the device.
func (c *Controller) RegisterDevice(ctx context.Context, a *RegisterDeviceArgs) (*sessions.Device, error) {
	old, err := c.devices.GetDevice(ctx, a.DeviceID)
	if err != nil {
		return nil, err
	}
	if old != nil && old.UserID != a.UserID {
		if err := c.logOutDevice(ctx, old); err != nil {
			return nil, err
		}
	}
	d, replaced, err := c.devices.SetDevice(ctx, &sessions.Device{ID: a.DeviceID, UserID: a.UserID, CreateTime: c.now()})
	if err != nil || replaced == nil || replaced.UserID == a.UserID {
		return d, err
	}
	return d, c.logOutDevice(ctx, replaced)
}

// logOutDevice closes the live sessions of a device's account on it, when
// the device leaves that account. It runs before the device leaves, so
// that a change whose logout failed is not made and a retry does both,
// and again after, for the sessions a forwarded open made in between
// (OpenSession looks at the device again once its session is stored).
func (c *Controller) logOutDevice(ctx context.Context, d *sessions.Device) error {
	_, err := c.closeAll(ctx, sessions.Filter{UserID: d.UserID, DeviceID: d.ID})
	return err
}

// GetDevice returns a device, or nil.
func (c *Controller) GetDevice(ctx context.Context, a *DeviceIDArgs) (*sessions.Device, error) {
	return c.devices.GetDevice(ctx, a.DeviceID)
}

// DeleteDevice deletes a device and closes its account's live sessions on
// it (see logOutDevice); nil when it does not exist.
func (c *Controller) DeleteDevice(ctx context.Context, a *DeviceIDArgs) (*sessions.Device, error) {
	d, err := c.devices.GetDevice(ctx, a.DeviceID)
	if err != nil || d == nil {
		return nil, err
	}
	if err := c.logOutDevice(ctx, d); err != nil {
		return nil, err
	}
	deleted, err := c.devices.DeleteDevice(ctx, a.DeviceID)
	if err != nil || deleted == nil {
		return deleted, err
	}
	return deleted, c.logOutDevice(ctx, deleted)
}

// GetDevices returns a page of devices.
func (c *Controller) GetDevices(ctx context.Context, a *GetDevicesArgs) (*sessions.DevicePage, error) {
	return c.devices.GetDevices(ctx, a.Filter["user_id"], c.paging(a.Paging))
}

// RenewSession is the heartbeat of a session: request_time becomes now and,
// for a session with a lease, expire_time now + the home's lease_timeout.
// A closed session is SESSION_NOT_FOUND, a lapsed one SESSION_EXPIRED.
func (c *Controller) RenewSession(ctx context.Context, a *SessionIDArgs) (*sessions.Session, error) {
	s, err := c.store.GetOneByID(ctx, a.SessionID)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, sessions.SessionNotFound(a.SessionID)
	}
	home, err := c.homes.GetHome(ctx, s.UserID)
	if err != nil {
		return nil, err
	}
	return c.renew(ctx, s, home)
}

func (c *Controller) renew(ctx context.Context, s *sessions.Session, home *sessions.Home) (*sessions.Session, error) {
	now := c.now()
	if !s.Active {
		return nil, sessions.NotLive(s, now)
	}
	if !s.Live(now) {
		if _, err := c.closeSession(ctx, s.ID, sessions.ReasonExpired); err != nil {
			return nil, err
		}
		return nil, sessions.SessionExpired(s.ID)
	}
	u := sessions.Update{RequestTime: now, IfActive: true}
	if home != nil || !s.ExpireTime.IsZero() {
		u.ExpireTime = now.Add(c.lease(home))
	}
	renewed, err := c.change(ctx, s.ID, sessions.EventRenewed, func() (*sessions.Session, error) { return c.store.Update(ctx, s.ID, u) })
	if err != nil {
		return nil, err
	}
	if renewed == nil {
		return nil, c.endedSince(ctx, s.ID) // closed since it was read
	}
	if home != nil {
		// An opener whose clock runs ahead of ours may have judged the
		// lease lapsed, closed the session and taken its place between our
		// read and now: then the renewal came too late. A live session
		// without a place is no such loss: set_home is about to give it
		// one, or delete_home has just freed it.
		slots, err := c.slots.GetSessionSlots(ctx, s.ID)
		if err != nil || len(slots) > 0 {
			return renewed, err
		}
		states, err := c.store.GetStatesByIDs(ctx, []string{s.ID})
		if err != nil {
			return nil, err
		}
		if cur := states[0]; cur == nil || !cur.Active {
			return nil, c.endedSince(ctx, s.ID)
		}
	}
	return renewed, nil
}

// endedSince returns the error of a renewal of session id, which was live
// when the renewal read it and has ended since: SESSION_EXPIRED when its
// lease was judged lapsed, else SESSION_NOT_FOUND with the reason it was
// closed for (evicted, say), as for a session found closed.
func (c *Controller) endedSince(ctx context.Context, id string) error {
	cur, err := c.store.GetOneByID(ctx, id)
	switch {
	case err != nil:
		return err
	case cur == nil:
		return sessions.SessionNotFound(id)
	}
	if e := sessions.NotLive(cur, c.now()); e != nil {
		return e
	}
	return sessions.SessionClosed(id, "") // open again: a store whose updates race
}

// lease returns the lease of sessions in home.
func (c *Controller) lease(home *sessions.Home) time.Duration {
	if home != nil && home.LeaseTimeout > 0 {
		return time.Duration(home.LeaseTimeout) * time.Millisecond
	}
	return c.leaseTimeout
}

// openInHome opens s under the quota of home. The quota is kept by slots:
// a home has places 0..max_sessions-1 and a session counts only while it
// holds one. Taking a place is an insert against a unique (home, index) key
// and freeing one a delete by the slot's own id — the two writes that are
// exact on every store — so no interleaving of openers, on one instance or
// many, ever puts more sessions in places than there are places. evicted
// reports that the open closed the oldest session to make room, whichever
// place it got in the end.
func (c *Controller) openInHome(ctx context.Context, home *sessions.Home, s *sessions.Session) (opened *sessions.Session, evicted bool, err error) {
	limit := home.MaxSessions
	// The patience is real time, whatever clock the sessions are dated by.
	giveUp := time.Now().Add(quotaPatience)
	var (
		pause time.Duration
		seen  []place // the places of the last look
	)
	for time.Now().Before(giveUp) {
		slots, err := c.slots.GetSlots(ctx, home.ID)
		if err != nil {
			return nil, false, err
		}
		if free, held := room(slots, limit); free {
			// A place is free: take it without reading the sessions that
			// hold the others. Those that lapsed keep no one out; they give
			// their places back below, once the home is full.
			if opened, ok, err := c.enter(ctx, home, s, held); err != nil || ok {
				return opened, evicted, err
			}
			continue
		}
		places, err := c.places(ctx, slots)
		if err != nil {
			return nil, false, err
		}
		seen = places
		if int64(len(places)) < limit {
			if opened, ok, err := c.enterBelowLimit(ctx, home, s, places); err != nil || ok {
				return opened, evicted, err
			}
			continue
		}
		// Over a lowered limit no one enters, not even by eviction: opens
		// wait until the home is under it.
		if home.Policy != sessions.PolicyEvictOldest || limit == 0 || int64(len(places)) > limit {
			return nil, false, quotaExceeded(home, places)
		}
		slot, closed, ok, err := c.evictOldest(ctx, home, places, s.ID)
		evicted = evicted || closed
		if err != nil {
			return nil, evicted, err
		}
		if ok {
			opened, err := c.createHolding(ctx, s, slot)
			return opened, true, err
		}
		if closed || slices.ContainsFunc(places, func(p place) bool { return p.session != nil }) {
			// Another open took the place this one freed, or evicted the
			// oldest first: look again at once.
			continue
		}
		if err := c.waitForPlaces(ctx, home, places, &pause); err != nil {
			return nil, false, err
		}
	}
	if seen == nil {
		// Every look found a place free and lost it to another open: look
		// once more, so that the refusal names who holds the places.
		seen = c.holders(ctx, home)
	}
	return nil, false, underContention(home, seen)
}

// holders returns the places of home with their sessions, for a refusal.
// A refusal stands without them: when they cannot be read, it names none.
func (c *Controller) holders(ctx context.Context, home *sessions.Home) []place {
	slots, err := c.slots.GetSlots(ctx, home.ID)
	if err == nil {
		var places []place
		if places, err = c.places(ctx, slots); err == nil {
			return places
		}
	}
	c.log.Debug("the refusal under contention names no session: the home's places could not be read", logging.Correlation(ctx),
		zap.String("home_id", home.ID), zap.Error(err))
	return nil
}

// enterBelowLimit takes a free place for s in a home whose places, read
// with their sessions, are fewer than its limit. A lowered limit may have
// left sessions above it: those move down into free places first, and s
// looks again. ok reports whether s took a place.
func (c *Controller) enterBelowLimit(ctx context.Context, home *sessions.Home, s *sessions.Session, places []place) (opened *sessions.Session, ok bool, err error) {
	held := make(map[int64]bool, len(places))
	var overflow []place
	for _, p := range places {
		held[p.slot.Index] = true
		if p.slot.Index >= home.MaxSessions {
			overflow = append(overflow, p)
		}
	}
	if len(overflow) > 0 {
		return nil, false, c.migrate(ctx, home, overflow, held)
	}
	return c.enter(ctx, home, s, held)
}

// waitForPlaces waits, a little longer each time, for the sessions of a
// full home whose places hold none yet: they were just taken, so their
// sessions are being stored and may then be evicted. It refuses the open
// when none is on its way (each place's open gave up or failed without an
// answer), or when they were taken too long ago to wait for: their opens
// may still store them, or never, and waiting would hold this one for as
// long as the database takes.
func (c *Controller) waitForPlaces(ctx context.Context, home *sessions.Home, places []place, pause *time.Duration) error {
	now := c.now()
	if abandoned(places, now) {
		return quotaExceeded(home, places)
	}
	if !settling(places, now) {
		return underContention(home, places)
	}
	*pause = min(max(2*(*pause), time.Millisecond), maxQuotaPause)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(*pause):
		return nil
	}
}

// underContention is the refusal of an open that could not get a place in
// time while other opens kept filling the home.
func underContention(home *sessions.Home, places []place) error {
	e := quotaExceeded(home, places)
	e.Message = fmt.Sprintf("home %s is under heavy contention; try again", home.ID)
	return e
}

// settling reports whether a place was taken so recently that its
// session, not stored yet, is most likely being stored now.
func settling(places []place, now time.Time) bool {
	return slices.ContainsFunc(places, func(p place) bool { return now.Sub(p.slot.Created) < settleWait })
}

// abandoned reports whether no place holds a session and none will soon:
// each was taken longer ago than taking it and storing its session may
// last, with one more operation for instances' clocks, so its open gave up or
// failed without an answer.
func abandoned(places []place, now time.Time) bool {
	for _, p := range places {
		if p.session != nil || now.Sub(p.slot.Created) < 3*MaxStoreOperation {
			return false
		}
	}
	return true
}

// place is a held slot with the state of its session; session is nil while
// the opener that took the slot has not stored its session yet. slot points
// into the list of the home's slots it was found in.
type place struct {
	slot    *sessions.Slot
	session *SessionState
}

// room reports whether a home whose places are held by slots has one free
// below limit, with none held at or above it (those must move down first),
// and the indexes held.
func room(slots []sessions.Slot, limit int64) (bool, map[int64]bool) {
	if int64(len(slots)) >= limit {
		return false, nil
	}
	held := make(map[int64]bool, len(slots))
	for _, slot := range slots {
		if slot.Index >= limit {
			return false, nil
		}
		held[slot.Index] = true
	}
	return true, held
}

// places returns the places held by slots, first freeing those whose
// session has closed, lapsed or never appeared — so a lapsed session never
// keeps anyone out of a full home, before any sweep. The sessions are read
// in one call, however many places the home has.
func (c *Controller) places(ctx context.Context, slots []sessions.Slot) ([]place, error) {
	now := c.now()
	ids := make([]string, len(slots))
	for i, slot := range slots {
		ids[i] = slot.SessionID
	}
	states, err := c.store.GetStatesByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]place, 0, len(slots))
	for i := range slots {
		slot, s := &slots[i], states[i]
		switch {
		case s == nil && now.Sub(slot.Created) < PendingGrace:
			out = append(out, place{slot: slot})
			continue
		case s != nil && s.Live(now):
			out = append(out, place{slot: slot, session: s})
			continue
		case s != nil && s.Active:
			kept, err := c.lapse(ctx, s, now)
			if err != nil {
				return nil, err
			}
			if kept != nil {
				out = append(out, place{slot: slot, session: kept})
				continue
			}
		}
		if _, err := c.slots.ReleaseSlot(ctx, slot.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// lapse closes as expired a session read as lapsed at now, unless it was
// renewed since: then it keeps its place, and lapse returns its new state.
func (c *Controller) lapse(ctx context.Context, s *SessionState, now time.Time) (*SessionState, error) {
	lapse := sessions.Update{IfExpired: &sessions.Expiry{Now: now}, Close: &sessions.Closing{Time: now, Reason: sessions.ReasonExpired}}
	closed, err := c.change(ctx, s.ID, sessions.EventExpired, func() (*sessions.Session, error) {
		return c.store.Update(ctx, s.ID, lapse)
	})
	if err != nil || closed != nil {
		return nil, err
	}
	states, err := c.store.GetStatesByIDs(ctx, []string{s.ID})
	if err != nil {
		return nil, err
	}
	if cur := states[0]; cur != nil && cur.Live(now) {
		return cur, nil
	}
	return nil, nil
}

// enter takes a free place below the limit for s and stores s in it; ok is
// false when others took every free place first.
func (c *Controller) enter(ctx context.Context, home *sessions.Home, s *sessions.Session, held map[int64]bool) (opened *sessions.Session, ok bool, err error) {
	slot, ok, err := c.takeFree(ctx, home, s.ID, held)
	if err != nil || !ok {
		return nil, false, err
	}
	opened, err = c.createHolding(ctx, s, slot)
	return opened, true, err
}

// takeFree takes the first free place below the limit for sessionID.
func (c *Controller) takeFree(ctx context.Context, home *sessions.Home, sessionID string, held map[int64]bool) (sessions.Slot, bool, error) {
	for i := range home.MaxSessions {
		if held[i] {
			continue
		}
		slot := sessions.NewSlot(home.ID, i, sessionID, c.now())
		ok, err := c.slots.TakeSlot(ctx, slot)
		if err != nil || ok {
			return slot, ok, err
		}
		held[i] = true
	}
	return sessions.Slot{}, false, nil
}

// migrate moves sessions held above the limit into free places below it.
// Two openers may move the same session into two places; it then holds both
// until it ends, which only makes the home look fuller, never emptier.
func (c *Controller) migrate(ctx context.Context, home *sessions.Home, overflow []place, held map[int64]bool) error {
	for _, p := range overflow {
		_, ok, err := c.takeFree(ctx, home, p.slot.SessionID, held)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if _, err := c.slots.ReleaseSlot(ctx, p.slot.ID); err != nil {
			return err
		}
	}
	return nil
}

// evictOldest closes the least recently renewed session of a full home and
// takes its place for sessionID; closed reports that this call closed it.
// Of several openers evicting the same session, the one whose delete of its
// slot succeeds may take the place, unless another open takes it first.
func (c *Controller) evictOldest(ctx context.Context, home *sessions.Home, places []place, sessionID string) (slot sessions.Slot, closed, ok bool, err error) {
	var victim *place
	for i := range places {
		p := &places[i]
		if p.session != nil && (victim == nil || p.session.RequestTime.Before(victim.session.RequestTime)) {
			victim = p
		}
	}
	if victim == nil {
		return sessions.Slot{}, false, false, nil // every place is being opened right now
	}
	now := c.now()
	eviction := sessions.Update{IfActive: true, Close: &sessions.Closing{Time: now, Reason: sessions.ReasonEvicted}}
	evicted, err := c.change(ctx, victim.session.ID, sessions.EventEvicted, func() (*sessions.Session, error) {
		return c.store.Update(ctx, victim.session.ID, eviction)
	})
	if err != nil {
		return sessions.Slot{}, false, false, err
	}
	closed = evicted != nil
	if closed { // else another opener evicted it, or it closed
		// At debug, as any request's own line: each eviction is an open's
		// doing, and sessions_closes_total{reason="evicted"} counts them.
		c.log.Debug("session evicted", logging.Correlation(ctx), zap.String("session_id", victim.session.ID),
			zap.String("home_id", home.ID))
	}
	released, err := c.slots.ReleaseSlot(ctx, victim.slot.ID)
	if err != nil || !released || victim.slot.Index >= home.MaxSessions {
		return sessions.Slot{}, closed, false, err
	}
	// Dated as it is taken: its session's grace runs from here, not from
	// before the eviction, which may have taken a while.
	slot = sessions.NewSlot(home.ID, victim.slot.Index, sessionID, c.now())
	ok, err = c.slots.TakeSlot(ctx, slot)
	return slot, closed, ok, err
}

// createHolding stores a session whose slot is already taken. If the store
// refused the session, the slot is given back. If it did not answer, the
// insert may still be applied, even after any look could have seen it
// missing (a request held up in the network, which the database times from
// its arrival): the session keeps its place, and a place whose session
// never appears is freed by the next full open after PendingGrace. So is
// one whose session was stored all the same, an error notwithstanding, or
// of which the store cannot tell.
func (c *Controller) createHolding(ctx context.Context, s *sessions.Session, slot sessions.Slot) (*sessions.Session, error) {
	created, err := c.change(ctx, s.ID, sessions.EventOpened, func() (*sessions.Session, error) { return c.store.Create(ctx, s) })
	if err == nil {
		return created, nil
	}
	if sessions.IsUnavailable(err) {
		return nil, err
	}
	states, stateErr := c.store.GetStatesByIDs(ctx, []string{s.ID})
	if stateErr != nil || states[0] != nil {
		return nil, err
	}
	if _, relErr := c.slots.ReleaseSlot(ctx, slot.ID); relErr != nil {
		c.log.Warn("release slot after a failed open", logging.Correlation(ctx), zap.Error(relErr))
	}
	return nil, err
}

func quotaExceeded(home *sessions.Home, places []place) *sessions.Error {
	active := make([]*sessions.Session, 0, len(places))
	for _, p := range places {
		if s := p.session; s != nil {
			// The fields the error's details show.
			active = append(active, &sessions.Session{ID: s.ID, DeviceID: s.DeviceID,
				Client: s.Client, RequestTime: s.RequestTime})
		}
	}
	return sessions.MaxSessionsExceeded(home, active)
}

// adopt gives a slot to every live session of the home's account that
// holds none, at the lowest free places (above the limit if need be), and
// a lease, from now, to each that has none: sessions in a home have one.
func (c *Controller) adopt(ctx context.Context, home *sessions.Home) error {
	live, err := c.liveSessions(ctx, sessions.Filter{UserID: home.ID})
	if err != nil {
		return err
	}
	slots, err := c.slots.GetSlots(ctx, home.ID)
	if err != nil {
		return err
	}
	held := make(map[int64]bool, len(slots))
	holding := make(map[string]bool, len(slots))
	for _, s := range slots {
		held[s.Index], holding[s.SessionID] = true, true
	}
	next := int64(0)
	for _, s := range live {
		for !holding[s.ID] {
			for held[next] {
				next++
			}
			ok, err := c.slots.TakeSlot(ctx, sessions.NewSlot(home.ID, next, s.ID, c.now()))
			if err != nil {
				return err
			}
			held[next], holding[s.ID] = true, ok
		}
		if s.ExpireTime.IsZero() {
			lease := sessions.Update{ExpireTime: c.now().Add(c.lease(home)), IfActive: true}
			if _, err := c.change(ctx, s.ID, sessions.EventUpdated, func() (*sessions.Session, error) {
				return c.store.Update(ctx, s.ID, lease)
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// adoptIfHomed counts a session just opened in an account that had no home
// when the open looked: a set_home in between may have listed the
// account's sessions before this one was stored. Either that listing saw
// the session, or this look sees the home and adopts it. When both do, the
// session may hold two places until it ends, which makes the home look
// fuller, never emptier.
func (c *Controller) adoptIfHomed(ctx context.Context, userID string) error {
	home, err := c.homes.GetHome(ctx, userID)
	if err != nil || home == nil {
		return err
	}
	return c.adopt(ctx, home)
}

// liveSessions returns every live session matching f, newest first, each
// once. It reads them in one store call, not page by page: the order moves
// as sessions are renewed, so pages read one after another could skip a
// session or return one twice. On memory and file the call reads one
// snapshot; on MongoDB one cursor, which a session renewed meanwhile may
// still escape (MongoDB reads are not snapshots).
func (c *Controller) liveSessions(ctx context.Context, f sessions.Filter) ([]*sessions.Session, error) {
	active := true
	f.Active, f.Now = &active, c.now()
	page, err := c.store.GetPageByFilter(ctx, f, sessions.Paging{}) // no limit
	if err != nil {
		return nil, err
	}
	out := make([]*sessions.Session, 0, len(page.Data)) // none is [] on the wire, never null
	seen := make(map[string]bool, len(page.Data))
	for _, s := range page.Data {
		if !seen[s.ID] {
			seen[s.ID] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// closeSession closes an active session for a reason (see closeActive). A
// session already closed is returned as it is; nil when there is none.
func (c *Controller) closeSession(ctx context.Context, id, reason string) (*sessions.Session, error) {
	closed, err := c.closeActive(ctx, id, reason)
	if err != nil || closed != nil {
		return closed, err
	}
	return c.store.GetOneByID(ctx, id)
}

// closeActive closes a session that is still active, publishes the event
// of the reason and frees the places the session held; nil when it was not
// active (or does not exist).
func (c *Controller) closeActive(ctx context.Context, id, reason string) (*sessions.Session, error) {
	closing := sessions.Update{Close: &sessions.Closing{Time: c.now(), Reason: reason}, IfActive: true}
	closed, err := c.change(ctx, id, reason, func() (*sessions.Session, error) { return c.store.Update(ctx, id, closing) })
	if err != nil || closed == nil {
		return nil, err
	}
	return closed, c.releaseSlots(ctx, id)
}

// releaseSlots frees every place a session holds.
func (c *Controller) releaseSlots(ctx context.Context, sessionID string) error {
	slots, err := c.slots.GetSessionSlots(ctx, sessionID)
	if err != nil {
		return err
	}
	for _, s := range slots {
		if _, err := c.slots.ReleaseSlot(ctx, s.ID); err != nil {
			return err
		}
	}
	return nil
}

// sameDevice returns the live session the account already has on a device, or nil.
func (c *Controller) sameDevice(ctx context.Context, userID, deviceID string) (*sessions.Session, error) {
	active := true
	page, err := c.store.GetPageByFilter(ctx, sessions.Filter{UserID: userID, DeviceID: deviceID, Active: &active, Now: c.now()},
		sessions.Paging{Take: 1})
	if err != nil || len(page.Data) == 0 {
		return nil, err
	}
	// The page item lacks user and data, which renewing does not need: the
	// update returns the whole session.
	return page.Data[0], nil
}
