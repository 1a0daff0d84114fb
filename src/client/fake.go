package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Fake is an in-memory API for the tests of programs that use the SDK. It
// behaves like the service where they overlap: ids are 32 lowercase hex
// characters; a missing required argument is the service's INVALID_DATA
// error; commands on a missing session return nil; closing clears user and
// data; get_sessions filters, pages and orders newest request_time first;
// homes limit the live sessions of their account (deny or evict_oldest)
// and give them leases that renew_session extends; devices open sessions
// for their account. It refuses the arguments the service refuses
// (required ones, lengths, JSON nesting, homes, and more than the
// service's default body bound of JSON), with the same errors. A
// call whose context is already done fails with the context's error, as
// a request the HTTP client could not send.
//
// Fake is written by hand and asserted to implement API, so a command added
// to the service breaks its build until the fake implements it too: the
// fake never silently lags behind the service.
//
// A Fake is safe for concurrent use.
type Fake struct {
	// Now is the fake's clock, for tests of expiry; nil means the wall
	// clock. Set it before the first call.
	Now func() time.Time

	mu       sync.Mutex
	sessions map[string]*sessions.Session
	homes    map[string]sessions.Home
	devices  map[string]sessions.Device
}

// Fake must implement every command of the service.
var _ API = (*Fake)(nil)

// NewFake returns an empty fake.
func NewFake() *Fake {
	return &Fake{
		sessions: map[string]*sessions.Session{},
		homes:    map[string]sessions.Home{},
		devices:  map[string]sessions.Device{},
	}
}

func (f *Fake) now() time.Time {
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	return now().UTC().Truncate(time.Millisecond)
}

// GetSessions returns a page of sessions, most recently used first, without
// user and data.
func (f *Fake) GetSessions(ctx context.Context, filter sessions.FilterParams, paging *sessions.PagingParams) (*sessions.Page, error) {
	if err := checkGetSessions(ctx, filter, paging); err != nil {
		return nil, err
	}
	flt, err := filter.Filter(f.now())
	if err != nil {
		return nil, coded(ctx, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var found []*sessions.Session
	for _, s := range f.sessions {
		if flt.Match(s) {
			found = append(found, s)
		}
	}
	slices.SortFunc(found, sessions.Newer)
	data, total := pageOf(found, paging)
	page := &sessions.Page{Total: total, Data: make([]*sessions.Session, len(data))}
	for i, s := range data {
		page.Data[i] = f.seen(s.Summary())
	}
	return page, nil
}

// pageOf applies the service's paging rules to list: skip defaults to 0,
// take to the maximum page size and is capped by it (a take of 0 or less is
// the default too), negative skips count as 0. total is set only when asked
// for.
func pageOf[T any](list []T, p *sessions.PagingParams) (page []T, total *int64) {
	skip, take := int64(0), int64(sessions.DefaultMaxPageSize)
	if p != nil {
		if p.Skip != nil {
			skip = max(*p.Skip, 0)
		}
		if p.Take != nil && *p.Take > 0 {
			take = min(*p.Take, sessions.DefaultMaxPageSize)
		}
		if p.Total {
			n := int64(len(list))
			total = &n
		}
	}
	list = list[min(skip, int64(len(list))):]
	if take < int64(len(list)) {
		list = list[:take]
	}
	return list, total
}

// GetSessionByID returns one session, or nil when it does not exist.
func (f *Fake) GetSessionByID(ctx context.Context, sessionID string) (*sessions.Session, error) {
	if err := checkGetSessionByID(ctx, sessionID); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.copyOf(f.sessions[sessionID]), nil
}

// OpenSession opens a new session for a user, or for the account of a
// registered device when UserID is empty. For an account with a home, the
// session counts against its quota, and a device that already has a live
// session of the account gets it back, renewed.
func (f *Fake) OpenSession(ctx context.Context, args OpenSessionArgs) (*sessions.Session, error) {
	if err := checkOpenSession(ctx, args); err != nil {
		return nil, err
	}
	user, err := rawJSON("user", args.User)
	if err != nil {
		return nil, err
	}
	data, err := rawJSON("data", args.Data)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	userID := args.UserID
	if userID == "" { // checkOpenSession saw a device_id; the device comes first, as in the service
		d, ok := f.devices[args.DeviceID]
		if !ok {
			return nil, coded(ctx, sessions.DeviceNotRegistered(args.DeviceID))
		}
		userID = d.UserID
	}
	if _, ok := f.sessions[args.ParentID]; args.ParentID != "" && !ok {
		return nil, coded(ctx, sessions.ParentNotFound(args.ParentID))
	}
	now := f.now()
	s := &sessions.Session{
		ID: newID(), UserID: userID, UserName: args.UserName, Active: true,
		OpenTime: now, RequestTime: now, Address: args.Address, Client: args.Client,
		User: user, Data: data, DeviceID: args.DeviceID, ParentID: args.ParentID,
	}
	for k, v := range args.Details {
		if v != "" {
			if s.Details == nil {
				s.Details = map[string]string{}
			}
			s.Details[k] = v
		}
	}
	if home, ok := f.homes[userID]; ok {
		if same := f.onDevice(userID, args.DeviceID, now); same != nil {
			renew(same, &home, now)
			return f.copyOf(same), nil
		}
		if err := f.makeRoom(ctx, home, now); err != nil {
			return nil, err
		}
		s.ExpireTime = now.Add(lease(&home))
	}
	f.sessions[s.ID] = s
	return f.copyOf(s), nil
}

// StoreSessionData replaces the data of a session and marks it used; nil
// when it does not exist.
func (f *Fake) StoreSessionData(ctx context.Context, sessionID string, data any) (*sessions.Session, error) {
	if err := checkStoreSessionData(ctx, sessionID, data); err != nil {
		return nil, err
	}
	raw, err := rawJSON("data", data)
	if err != nil {
		return nil, err
	}
	return f.update(sessionID, sessions.Update{RequestTime: f.now(), Data: raw}, nil)
}

// UpdateSessionUser replaces the cached user of a session and marks it
// used; nil when it does not exist.
func (f *Fake) UpdateSessionUser(ctx context.Context, sessionID string, user any) (*sessions.Session, error) {
	if err := checkUpdateSessionUser(ctx, sessionID, user); err != nil {
		return nil, err
	}
	raw, err := rawJSON("user", user)
	if err != nil {
		return nil, err
	}
	return f.update(sessionID, sessions.Update{RequestTime: f.now(), User: raw}, nil)
}

// CloseSession closes a session: it becomes inactive and its user and data
// are cleared; nil when it does not exist.
func (f *Fake) CloseSession(ctx context.Context, sessionID string) (*sessions.Session, error) {
	if err := checkCloseSession(ctx, sessionID); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[sessionID]
	if !ok {
		return nil, nil
	}
	if !(&sessions.Update{Close: &sessions.Closing{Time: f.now(), Reason: sessions.ReasonClosed}, IfActive: true}).Apply(s) {
		s.User, s.Data = nil, nil // stored since it closed: cleared again
	}
	return f.copyOf(s), nil
}

// CloseExpiredSessions closes every active session idle for longer than
// the service's default expire timeout (24 hours) or past its expire time.
func (f *Fake) CloseExpiredSessions(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := f.now()
	idleBefore := now.Add(-sessions.DefaultExpireTimeout)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.sessions {
		if s.Active && (s.RequestTime.Before(idleBefore) || !s.ExpireTime.IsZero() && !s.ExpireTime.After(now)) {
			u := sessions.Update{Close: &sessions.Closing{Time: now, Reason: sessions.ReasonExpired}}
			u.Apply(s)
		}
	}
	return nil
}

// DeleteSessionByID deletes a session and returns it, or nil when it does
// not exist.
func (f *Fake) DeleteSessionByID(ctx context.Context, sessionID string) (*sessions.Session, error) {
	if err := checkDeleteSessionByID(ctx, sessionID); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sessions[sessionID]
	delete(f.sessions, sessionID)
	return f.copyOf(s), nil
}

// update applies u to a session whose arguments were checked, once admit,
// when given, accepts the session as it is; nil when it does not exist.
func (f *Fake) update(id string, u sessions.Update, admit func(*sessions.Session) error) (*sessions.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[id]
	if !ok {
		return nil, nil
	}
	if admit != nil {
		if err := admit(s); err != nil {
			return nil, err
		}
	}
	u.Apply(s)
	return f.copyOf(s), nil
}

// rawJSON encodes a payload argument; nil and JSON null are no payload.
func rawJSON(name string, v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", name, err)
	}
	if bytes.Equal(b, []byte("null")) {
		return nil, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, fmt.Errorf("encode %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// copyOf returns a copy the caller may change without touching the fake,
// as the caller sees it (see seen).
func (f *Fake) copyOf(s *sessions.Session) *sessions.Session {
	if s == nil {
		return nil
	}
	c := s.Clone()
	c.User, c.Data = bytes.Clone(s.User), bytes.Clone(s.Data)
	return f.seen(c)
}

// seen marks c, a copy, inactive when its lease lapsed, as the service
// shows a lapsed session before anything closes it.
func (f *Fake) seen(c *sessions.Session) *sessions.Session {
	if c.Active && !c.Live(f.now()) {
		c.Active = false
	}
	return c
}

// newID returns 128 random bits as 32 lowercase hex characters.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails; it panics instead
	return hex.EncodeToString(b[:])
}
