// Package logic holds the business logic of the sessions service: the
// controller, the command definitions every transport and the SDK derive
// from, and the persistence interface the controller needs.
package logic

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/events"
	"github.com/sessionsd/service-sessions-go/src/logging"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// PersistenceLocator finds the session store among the references.
var PersistenceLocator = container.Descriptor{Group: "service-sessions", Type: "persistence", Kind: "*", Name: "*", Version: "1.0"}

// Defaults of the controller's options, as the Node service has them; the
// others are in package sessions, which the SDK shares.
const (
	DefaultCleanupInterval = 15 * time.Minute
)

// Controller is the service-sessions:controller component: it opens, renews,
// closes and lists sessions, and sweeps idle ones away on a timer.
type Controller struct {
	store   Persistence
	homes   HomeStore
	devices DeviceStore
	slots   SlotStore
	log     *zap.Logger
	now     func() time.Time
	events  *events.Hub
	locks   *sessionLocks
	meter   Meter

	leaseTimeout    time.Duration
	expireTimeout   time.Duration
	cleanupInterval time.Duration
	maxPageSize     int64
	hubOptions      events.Options
	sharedOptions   events.SharedOptions

	commands []Command
	// stop ends the background work Open starts: the expiry sweep and a
	// recount of the active sessions.
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// Store is everything the controller needs from the configured persistence.
type Store interface {
	Persistence
	HomeStore
	DeviceStore
	SlotStore
}

// NewController returns a controller over store with the default options.
// now supplies the clock; nil means the wall clock. A nil store is set
// later from the references.
func NewController(store Store, now func() time.Time) *Controller {
	if now == nil {
		now = time.Now
	}
	c := &Controller{
		log:             zap.NewNop(),
		now:             func() time.Time { return now().UTC().Truncate(time.Millisecond) },
		leaseTimeout:    sessions.DefaultLeaseTimeout,
		expireTimeout:   sessions.DefaultExpireTimeout,
		cleanupInterval: DefaultCleanupInterval,
		maxPageSize:     sessions.DefaultMaxPageSize,
		locks:           newSessionLocks(),
		meter:           noMeter{},
	}
	c.events = events.NewHub(c.hubOptions, c.now)
	if store != nil {
		c.setStore(store)
	}
	c.commands = append(append(c.sessionCommands(), c.eventCommands()...), c.homeCommands()...)
	return c
}

func (c *Controller) setStore(s Store) {
	c.store, c.homes, c.devices, c.slots = s, s, s, s
}

// Events returns the hub the controller publishes session events to.
func (c *Controller) Events() *events.Hub { return c.events }

// Configure reads options.expire_timeout, options.cleanup_interval,
// options.lease_timeout (all in milliseconds), options.max_page_size and
// the options of events (see configureEvents).
func (c *Controller) Configure(cfg container.Config) error {
	if err := c.configureEvents(cfg); err != nil {
		return err
	}
	var err error
	if c.leaseTimeout, err = cfg.Millis("options.lease_timeout", sessions.DefaultLeaseTimeout); err != nil {
		return err
	}
	if c.leaseTimeout < sessions.MinLeaseTimeout {
		return fmt.Errorf("options.lease_timeout: %d must be at least %d ms", c.leaseTimeout.Milliseconds(), sessions.MinLeaseTimeout.Milliseconds())
	}
	if c.expireTimeout, err = cfg.Millis("options.expire_timeout", sessions.DefaultExpireTimeout); err != nil {
		return err
	}
	if c.expireTimeout <= 0 {
		// Read as Node reads it, 0 would close every active session at
		// each sweep; one who writes it more likely means "never".
		return fmt.Errorf("options.expire_timeout: 0 would close every active session at each sweep; leave it out for 24 h, or set options.cleanup_interval to 0 to stop the sweep")
	}
	if c.cleanupInterval, err = cfg.Millis("options.cleanup_interval", DefaultCleanupInterval); err != nil {
		return err
	}
	if c.maxPageSize, err = cfg.Int("options.max_page_size", sessions.DefaultMaxPageSize); err != nil {
		return err
	}
	if c.maxPageSize < 1 {
		return fmt.Errorf("options.max_page_size: %d must be at least 1", c.maxPageSize)
	}
	return nil
}

// SetReferences finds the session store, the logger and a meter. A store
// that is also an events.Log (MongoDB) carries the events between instances.
// Of several stores the last configured is used, as the Node service picks
// it (Pip looks references up from the last), with a warning.
func (c *Controller) SetReferences(refs *container.References) error {
	stores := container.All[Store](refs, PersistenceLocator)
	if len(stores) == 0 {
		return fmt.Errorf("missing dependency: no component matches %s", PersistenceLocator)
	}
	store := stores[len(stores)-1]
	c.log = logging.For(refs, "controller")
	if len(stores) > 1 {
		var used container.Descriptor
		ds, cs := refs.Components()
		for i, d := range ds {
			if _, ok := cs[i].(Store); ok && d.Match(PersistenceLocator) {
				used = d
			}
		}
		c.log.Warn("several persistences are configured; only the last is used, as the Node service does",
			zap.Int("persistences", len(stores)), zap.Stringer("used", used))
	}
	c.events.SetLogger(logging.For(refs, "events"))
	if log, ok := store.(events.Log); ok {
		c.events.Share(log, c.sharedOptions)
	}
	if m, ok := container.Optional[Meter](refs, MeterLocator); ok {
		c.meter = m
		store = timedStore{store: store, meter: m}
		c.events.SetListener(m.SessionEvent)
	}
	c.setStore(store)
	return nil
}

// Open starts the event hub and the expiry sweep.
func (c *Controller) Open(ctx context.Context) error {
	if c.store == nil {
		return fmt.Errorf("controller: no session store")
	}
	if err := c.events.Open(ctx); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	counted := c.countActive(ctx)
	if c.stop != nil || (counted && c.cleanupInterval <= 0) {
		return nil
	}
	// The background work outlives Open's context: it runs until Close.
	bg, stop := context.WithCancel(context.Background())
	c.stop = stop
	if !counted {
		c.wg.Go(func() { c.recount(bg) })
	}
	if c.cleanupInterval > 0 {
		c.wg.Go(func() { c.sweep(bg) })
	}
	return nil
}

// Close stops the expiry sweep and a recount, cancelling a running pass
// and waiting for it to end, and ends every event subscription and device
// stream.
func (c *Controller) Close(ctx context.Context) error {
	if c.stop != nil {
		c.stop()
		c.wg.Wait()
		c.stop = nil
	}
	return c.events.Close(ctx)
}

// Waits between the tries of recount: the first is soon, as a database
// that did not answer at start often answers a moment later, then each
// is twice the one before, up to the last.
const (
	firstRecount = 100 * time.Millisecond
	lastRecount  = 30 * time.Second
)

// recount counts the active sessions again, as the start could not, until
// it can or ctx ends.
func (c *Controller) recount(ctx context.Context) {
	for wait := firstRecount; ; wait = min(2*wait, lastRecount) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if c.countActive(ctx) {
			c.log.Info("the active sessions are counted")
			return
		}
	}
}

// sweep closes the expired sessions every cleanup interval until ctx ends.
func (c *Controller) sweep(ctx context.Context) {
	t := time.NewTicker(c.cleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// Paced, a pass takes about twice as long as its closes.
			pass, cancel := context.WithTimeout(ctx, 2*c.cleanupInterval)
			pass = sessions.WithCorrelationID(pass, "expiry-sweep")
			if err := c.closeExpired(pass, true); err != nil && ctx.Err() == nil {
				c.log.Warn("close expired sessions failed", logging.Correlation(pass), zap.Error(err))
			}
			cancel()
		}
	}
}

// Commands returns every command of the controller, grouped by Route in
// the order they are documented.
func (c *Controller) Commands() []Command { return c.commands }

// Execute runs the named command of a route with JSON arguments, as a
// transport would: in-process clients use it to get the same validation.
func (c *Controller) Execute(ctx context.Context, route, name string, args []byte) (any, error) {
	for i := range c.commands {
		if c.commands[i].Route == route && c.commands[i].Name == name {
			return c.commands[i].Execute(ctx, args)
		}
	}
	return nil, sessions.NotFound(sessions.CodeNotFound, "command %s/%s is not found", route, name)
}

// Argument structs of the commands: each json-tagged field is one argument.
type (
	// NoArgs is the argument struct of commands without arguments.
	NoArgs struct{}

	// SessionIDArgs names one session.
	SessionIDArgs struct {
		SessionID string `json:"session_id" required:"true" max:"session_id"`
	}

	// GetSessionsArgs selects a page of sessions.
	GetSessionsArgs struct {
		Filter sessions.FilterParams  `json:"filter"`
		Paging *sessions.PagingParams `json:"paging"`
	}

	// OpenSessionArgs describes a session to open.
	OpenSessionArgs struct {
		// UserID is required unless DeviceID names a registered device.
		UserID   string            `json:"user_id" max:"id"`
		UserName string            `json:"user_name" max:"id"`
		Address  string            `json:"address" max:"id"`
		Client   string            `json:"client" max:"id"`
		User     json.RawMessage   `json:"user"`
		Data     json.RawMessage   `json:"data"`
		DeviceID string            `json:"device_id" max:"id"`
		Details  map[string]string `json:"details" max:"id"`
		// ParentID, when set, must name an existing session.
		ParentID string `json:"parent_id" max:"session_id"`
	}

	// StoreSessionDataArgs replaces a session's data.
	StoreSessionDataArgs struct {
		SessionID string          `json:"session_id" required:"true" max:"session_id"`
		Data      json.RawMessage `json:"data" required:"true"`
	}

	// UpdateSessionUserArgs replaces a session's cached user.
	UpdateSessionUserArgs struct {
		SessionID string          `json:"session_id" required:"true" max:"session_id"`
		User      json.RawMessage `json:"user" required:"true"`
	}
)

func (c *Controller) sessionCommands() []Command {
	return []Command{
		repeatable(define(sessions.SessionsRoute, "get_sessions", "Returns a page of sessions, most recently used first, without user and data.", c.GetSessions)),
		repeatable(orNothing(define(sessions.SessionsRoute, "get_session_by_id", "Returns one session, or nothing when it does not exist.", c.GetSessionByID))),
		standsInFor(failsWith(define(sessions.SessionsRoute, "open_session", "Opens a new session for user_id, or, without one, for the account of the registered device_id.", c.OpenSession),
			deviceNotRegistered, maxSessionsExceeded, deviceMoved, parentNotFound, sessionTooLarge), "user_id", "device_id"),
		repeatable(failsWith(orNothing(define(sessions.SessionsRoute, "store_session_data", "Replaces the data of a session and marks it used.", c.StoreSessionData)), sessionTooLarge)),
		repeatable(failsWith(orNothing(define(sessions.SessionsRoute, "update_session_user", "Replaces the cached user of a session and marks it used.", c.UpdateSessionUser)), sessionTooLarge)),
		orNothing(define(sessions.SessionsRoute, "close_session", "Closes a session: it becomes inactive and its user and data are cleared.", c.CloseSession)),
		repeatable(define(sessions.SessionsRoute, "close_expired_sessions", "Closes every active session idle for longer than the expire timeout.", c.CloseExpiredSessions)),
		orNothing(define(sessions.SessionsRoute, "delete_session_by_id", "Deletes a session and returns it, or nothing when it does not exist.", c.DeleteSessionByID)),
	}
}

// GetSessions returns a page of sessions matching the filter.
func (c *Controller) GetSessions(ctx context.Context, a *GetSessionsArgs) (*sessions.Page, error) {
	filter, err := a.Filter.Filter(c.now())
	if err != nil {
		return nil, err
	}
	page, err := c.store.GetPageByFilter(ctx, filter, c.paging(a.Paging))
	if page != nil {
		for i, s := range page.Data {
			page.Data[i] = c.seen(s)
		}
	}
	return page, err
}

// seen returns a session as a caller sees it: one whose lease lapsed is
// inactive from its expire_time, as every decision takes it, even before
// anything closed it (and gave it a close_time).
func (c *Controller) seen(s *sessions.Session) *sessions.Session {
	if s == nil || !s.Active || s.Live(c.now()) {
		return s
	}
	lapsed := *s
	lapsed.Active = false
	return &lapsed
}

// GetSessionByID returns one session, or nil.
func (c *Controller) GetSessionByID(ctx context.Context, a *SessionIDArgs) (*sessions.Session, error) {
	s, err := c.store.GetOneByID(ctx, a.SessionID)
	return c.seen(s), err
}

// OpenSession opens a new active session. Without a user_id, the account
// of the registered device_id is used. For an account with a home, the
// open is counted against its quota, and a device that already holds a live
// session of the account gets that session back, renewed.
func (c *Controller) OpenSession(ctx context.Context, a *OpenSessionArgs) (*sessions.Session, error) {
	if a.UserID != "" {
		s, result, err := c.open(ctx, a, a.UserID)
		c.countOpen(result)
		return s, err
	}
	if a.DeviceID == "" {
		// The command checks it first (see standsInFor); the Cloudstate
		// routes call here directly.
		return nil, sessions.InvalidData(sessions.NullProblem("user_id"))
	}
	// A device that moves or goes while its session opens is logged out of
	// the account by the move, unless the session was stored after the
	// logout looked: then the look after the open sees the move, and the
	// session closes and opens again for the device's account now.
	evicted := false // by a try its device's move undid
	for range forwardTries {
		d, err := c.devices.GetDevice(ctx, a.DeviceID)
		if err != nil {
			return nil, err
		}
		if d == nil {
			return nil, sessions.DeviceNotRegistered(a.DeviceID)
		}
		s, result, err := c.open(ctx, a, d.UserID)
		if err != nil {
			c.countOpen(result)
			return nil, err
		}
		current, err := c.devices.GetDevice(ctx, a.DeviceID)
		if err == nil && current != nil && current.UserID == d.UserID {
			if evicted && result == OpenOK {
				result = OpenEvicted
			}
			c.countOpen(result)
			return s, nil
		}
		// Undone: this try opened nothing the caller gets, though a
		// session it evicted stays closed.
		evicted = evicted || result == OpenEvicted
		if _, undoErr := c.closeActive(ctx, s.ID, sessions.ReasonClosed); undoErr != nil {
			return nil, undoErr
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, sessions.Conflict(sessions.CodeDeviceMoved, "device %s moved while its session opened; open again", a.DeviceID)
}

// forwardTries bounds the opens of a device's session that its moves undo.
const forwardTries = 3

// countOpen tells the meter how an open_session ended: one of OpenOK,
// OpenEvicted and OpenDenied, or "" for an open that is not counted (it
// renewed its device's session, or failed otherwise).
func (c *Controller) countOpen(result string) {
	if result != "" {
		c.meter.OpenResult(result)
	}
}

// open opens a session for userID (see OpenSession) and returns how, for
// countOpen.
func (c *Controller) open(ctx context.Context, a *OpenSessionArgs, userID string) (*sessions.Session, string, error) {
	if a.ParentID != "" {
		parent, err := c.store.GetOneByID(ctx, a.ParentID)
		if err != nil {
			return nil, "", err
		}
		if parent == nil {
			return nil, "", sessions.ParentNotFound(a.ParentID)
		}
	}
	home, err := c.homes.GetHome(ctx, userID)
	if err != nil {
		return nil, "", err
	}
	if home != nil && a.DeviceID != "" {
		s, err := c.sameDevice(ctx, userID, a.DeviceID)
		if err != nil {
			return nil, "", err
		}
		if s != nil {
			renewed, err := c.renew(ctx, s, home)
			if e := sessions.AsError(err); e == nil || e.Category != sessions.CategoryNotFound {
				return renewed, "", err
			}
			// It lapsed or closed meanwhile: open a new one.
		}
	}
	now := c.now()
	s := &sessions.Session{
		ID:          newID(),
		UserID:      userID,
		UserName:    a.UserName,
		Active:      true,
		OpenTime:    now,
		RequestTime: now,
		Address:     a.Address,
		Client:      a.Client,
		User:        sessions.Payload(a.User),
		Data:        sessions.Payload(a.Data),
		DeviceID:    a.DeviceID,
		Details:     details(a.Details),
		ParentID:    a.ParentID,
	}
	var (
		opened  *sessions.Session
		evicted bool
	)
	if home == nil {
		opened, err = c.openWithoutHome(ctx, s)
	} else {
		s.ExpireTime = now.Add(c.lease(home))
		opened, evicted, err = c.openInHome(ctx, home, s)
	}
	switch e := sessions.AsError(err); {
	case err == nil && evicted:
		return opened, OpenEvicted, nil
	case err == nil:
		return opened, OpenOK, nil
	case e != nil && e.Code == sessions.CodeMaxSessionsExceeded:
		return nil, OpenDenied, err
	default:
		return nil, "", err
	}
}

// openWithoutHome stores s, whose account had no home, and then checks
// that none came meanwhile (see adoptIfHomed).
func (c *Controller) openWithoutHome(ctx context.Context, s *sessions.Session) (*sessions.Session, error) {
	opened, err := c.change(ctx, s.ID, sessions.EventOpened, func() (*sessions.Session, error) { return c.store.Create(ctx, s) })
	if err != nil {
		return nil, err
	}
	// Unchecked against a home that may have come meanwhile, the session
	// must not stay open on an error a caller retries.
	if err := c.adoptIfHomed(ctx, s.UserID); err != nil {
		if _, undoErr := c.closeActive(ctx, s.ID, sessions.ReasonClosed); undoErr != nil {
			c.log.Error("a session opened but not checked against a home stays open",
				logging.Correlation(ctx), zap.String("session_id", s.ID), zap.Error(undoErr))
		}
		return nil, err
	}
	return opened, nil
}

// StoreSessionData replaces a session's data; nil when it does not exist.
func (c *Controller) StoreSessionData(ctx context.Context, a *StoreSessionDataArgs) (*sessions.Session, error) {
	s, err := c.update(ctx, a.SessionID, sessions.Update{RequestTime: c.now(), Data: sessions.Payload(a.Data)})
	return c.seen(s), err
}

// UpdateSessionUser replaces a session's cached user; nil when it does not exist.
func (c *Controller) UpdateSessionUser(ctx context.Context, a *UpdateSessionUserArgs) (*sessions.Session, error) {
	s, err := c.update(ctx, a.SessionID, sessions.Update{RequestTime: c.now(), User: sessions.Payload(a.User)})
	return c.seen(s), err
}

// update applies u to a session and publishes it as updated.
func (c *Controller) update(ctx context.Context, id string, u sessions.Update) (*sessions.Session, error) {
	return c.change(ctx, id, sessions.EventUpdated, func() (*sessions.Session, error) { return c.store.Update(ctx, id, u) })
}

// CloseSession closes a session and frees its place in its home; nil when
// it does not exist. A session closed before, whose user or data were
// stored again since, has them cleared again, as its close did.
func (c *Controller) CloseSession(ctx context.Context, a *SessionIDArgs) (*sessions.Session, error) {
	s, err := c.closeSession(ctx, a.SessionID, sessions.ReasonClosed)
	if err != nil || s == nil || s.Active || s.User == nil && s.Data == nil {
		return s, err
	}
	return c.update(ctx, s.ID, sessions.Update{User: json.RawMessage("null"), Data: json.RawMessage("null")})
}

// CloseExpiredSessions closes every active session idle for longer than the
// expire timeout or past its lease.
func (c *Controller) CloseExpiredSessions(ctx context.Context, _ *NoArgs) (None, error) {
	return None{}, c.closeExpired(ctx, false)
}

// closeExpired closes the expired sessions; paced, as the background
// sweep is, it pauses between chunks (see sweepChunk). A client's
// close_expired_sessions is not paced: it waits for the answer.
func (c *Controller) closeExpired(ctx context.Context, paced bool) error {
	now := c.now()
	expiry := sessions.Expiry{IdleBefore: now.Add(-c.expireTimeout), Now: now}
	ids, err := c.store.ExpiredIDs(ctx, expiry)
	if err != nil {
		return err
	}
	n, err := c.expire(ctx, ids, sessions.Update{
		Close: &sessions.Closing{Time: now, Reason: sessions.ReasonExpired}, IfExpired: &expiry,
	}, paced)
	if n > 0 {
		// The sweep's passes are told at info; a client's
		// close_expired_sessions, which any client may repeat, at debug.
		level := zapcore.DebugLevel
		if paced {
			level = zapcore.InfoLevel
		}
		c.log.Log(level, "closed expired sessions", logging.Correlation(ctx), zap.Int64("count", n))
	}
	return err
}

// sweepWorkers is how many sessions the expiry sweep closes at once, so
// that the file store writes (and fsyncs) their records together and
// MongoDB's round trips overlap.
const sweepWorkers = 32

// sweepChunk is how many sessions the background expiry sweep closes
// before it pauses for as long as closing them took. Its workers, always ready to
// run, would otherwise keep the requests' network reads waiting for the
// whole of a large sweep: a tenth of a second and more for every 100 000
// sessions. Paced, a large sweep takes about twice as long and a request
// waits for one chunk at most.
const sweepChunk = 256

// expire closes each listed session with closing, which re-checks that it
// is still expired, sweepWorkers at a time and, paced, sweepChunk between
// pauses. It returns how many it closed and stops at the first error.
func (c *Controller) expire(ctx context.Context, ids []string, closing sessions.Update, paced bool) (int64, error) {
	var closed int64
	for len(ids) > 0 {
		chunk := ids[:min(sweepChunk, len(ids))]
		ids = ids[len(chunk):]
		start := time.Now()
		n, err := c.expireChunk(ctx, chunk, closing)
		closed += n
		if err != nil || len(ids) == 0 {
			return closed, err
		}
		if !paced {
			continue
		}
		pause := time.NewTimer(time.Since(start))
		select {
		case <-ctx.Done():
			pause.Stop()
			return closed, ctx.Err()
		case <-pause.C:
		}
	}
	return closed, nil
}

// expireChunk closes each listed session with closing, sweepWorkers at a
// time, and stops at the first error.
func (c *Controller) expireChunk(ctx context.Context, ids []string, closing sessions.Update) (int64, error) {
	var (
		closed atomic.Int64
		mu     sync.Mutex
		first  error
		wg     sync.WaitGroup
		next   = make(chan string)
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(sweepWorkers, len(ids)) {
		wg.Go(func() {
			for id := range next {
				s, err := c.change(ctx, id, sessions.EventExpired, func() (*sessions.Session, error) {
					return c.store.Update(ctx, id, closing)
				})
				if s != nil {
					closed.Add(1)
				}
				if err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
					cancel()
				}
			}
		})
	}
	fed := 0
	for fed < len(ids) && ctx.Err() == nil {
		select {
		case next <- ids[fed]:
			fed++
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if first == nil && fed < len(ids) {
		first = ctx.Err() // the caller's context ended
	}
	return closed.Load(), first
}

// DeleteSessionByID deletes a session and returns it; nil when it does not exist.
func (c *Controller) DeleteSessionByID(ctx context.Context, a *SessionIDArgs) (*sessions.Session, error) {
	deleted, err := c.change(ctx, a.SessionID, sessions.EventDeleted, func() (*sessions.Session, error) {
		return c.store.DeleteByID(ctx, a.SessionID)
	})
	if err != nil || deleted == nil {
		return deleted, err
	}
	return c.seen(deleted), c.releaseSlots(ctx, deleted.ID)
}

// paging applies Pip's rules: skip defaults to 0, take to max_page_size and
// is capped by it; a negative skip counts as 0 and a take of 0 or less is
// the default, so a page is never unbounded.
func (c *Controller) paging(p *sessions.PagingParams) sessions.Paging {
	out := sessions.Paging{Take: c.maxPageSize}
	if p == nil {
		return out
	}
	if p.Skip != nil {
		out.Skip = max(*p.Skip, 0)
	}
	if p.Take != nil && *p.Take > 0 {
		out.Take = min(*p.Take, c.maxPageSize)
	}
	out.Total = p.Total
	return out
}

// newID returns 128 random bits as 32 lowercase hex characters.
func newID() string {
	var b [16]byte
	// crypto/rand.Read never fails on supported platforms (it panics instead).
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// details returns the details a session opens with: empty values are
// dropped, as an update would delete them.
func details(in map[string]string) map[string]string {
	var out map[string]string
	for k, v := range in {
		if v == "" {
			continue
		}
		if out == nil {
			out = make(map[string]string, len(in))
		}
		out[k] = v
	}
	return out
}
