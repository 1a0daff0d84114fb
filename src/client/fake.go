package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Defaults of the fake, the same as the service's.
const (
	fakeExpireTimeout = 24 * time.Hour
	fakeMaxPageSize   = 100
)

// Fake is an in-memory API for the tests of programs that use the SDK. It
// behaves like the service where they overlap: ids are 32 lowercase hex
// characters; a missing required argument is the service's INVALID_DATA
// error; commands on a missing session return nil; closing clears user and
// data; get_sessions filters, pages and orders newest request_time first.
// It checks required arguments but not length limits or JSON nesting.
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
}

// Fake must implement every command of the service.
var _ API = (*Fake)(nil)

// NewFake returns an empty fake.
func NewFake() *Fake {
	return &Fake{sessions: map[string]*sessions.Session{}}
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
	flt, err := parseFilter(filter, f.now())
	if err != nil {
		return nil, withCorrelation(ctx, err)
	}
	skip, take := int64(0), int64(fakeMaxPageSize)
	total := false
	if paging != nil {
		if paging.Skip != nil {
			skip = max(*paging.Skip, 0)
		}
		if paging.Take != nil {
			take = min(max(*paging.Take, 0), fakeMaxPageSize)
		}
		total = paging.Total
	}

	f.mu.Lock()
	var found []*sessions.Session
	for _, s := range f.sessions {
		if flt.Match(s) {
			found = append(found, s)
		}
	}
	slices.SortFunc(found, sessions.Newer)
	page := &sessions.Page{Data: []*sessions.Session{}}
	if total {
		n := int64(len(found))
		page.Total = &n
	}
	// As in the service, a take of zero means no limit.
	for i := skip; i < int64(len(found)) && (take == 0 || i < skip+take); i++ {
		page.Data = append(page.Data, found[i].Summary())
	}
	f.mu.Unlock()
	return page, nil
}

// GetSessionByID returns one session, or nil when it does not exist.
func (f *Fake) GetSessionByID(ctx context.Context, sessionID string) (*sessions.Session, error) {
	if err := required(ctx, "session_id", sessionID); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return copyOf(f.sessions[sessionID]), nil
}

// OpenSession opens a new session for a user.
func (f *Fake) OpenSession(ctx context.Context, args OpenSessionArgs) (*sessions.Session, error) {
	if err := required(ctx, "user_id", args.UserID); err != nil {
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
	now := f.now()
	s := &sessions.Session{
		ID: newID(), UserID: args.UserID, UserName: args.UserName, Active: true,
		OpenTime: now, RequestTime: now, Address: args.Address, Client: args.Client,
		User: user, Data: data, DeviceID: args.DeviceID,
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sessions[s.ID] = s
	return copyOf(s), nil
}

// StoreSessionData replaces the data of a session and marks it used; nil
// when it does not exist.
func (f *Fake) StoreSessionData(ctx context.Context, sessionID string, data any) (*sessions.Session, error) {
	raw, err := rawJSON("data", data)
	if err != nil {
		return nil, err
	}
	return f.update(ctx, sessionID, sessions.Update{RequestTime: f.now(), Data: orNull(raw)})
}

// UpdateSessionUser replaces the cached user of a session and marks it
// used; nil when it does not exist.
func (f *Fake) UpdateSessionUser(ctx context.Context, sessionID string, user any) (*sessions.Session, error) {
	raw, err := rawJSON("user", user)
	if err != nil {
		return nil, err
	}
	return f.update(ctx, sessionID, sessions.Update{RequestTime: f.now(), User: orNull(raw)})
}

// CloseSession closes a session: it becomes inactive and its user and data
// are cleared; nil when it does not exist.
func (f *Fake) CloseSession(ctx context.Context, sessionID string) (*sessions.Session, error) {
	return f.update(ctx, sessionID, sessions.Update{Close: &sessions.Closing{Time: f.now(), Reason: sessions.ReasonClosed}})
}

// CloseExpiredSessions closes every active session idle for longer than
// the service's default expire timeout (24 hours) or past its expire time.
func (f *Fake) CloseExpiredSessions(context.Context) error {
	now := f.now()
	idleBefore := now.Add(-fakeExpireTimeout)
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
	if err := required(ctx, "session_id", sessionID); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sessions[sessionID]
	delete(f.sessions, sessionID)
	return copyOf(s), nil
}

func (f *Fake) update(ctx context.Context, id string, u sessions.Update) (*sessions.Session, error) {
	if err := required(ctx, "session_id", id); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[id]
	if !ok {
		return nil, nil
	}
	u.Apply(s)
	return copyOf(s), nil
}

// required returns the service's validation error for an empty argument.
func required(ctx context.Context, name, value string) error {
	if value != "" {
		return nil
	}
	return withCorrelation(ctx, sessions.InvalidData(name+" must not be null"))
}

// parseFilter reads a wire filter as the service does; unknown keys are
// ignored.
func parseFilter(p sessions.FilterParams, now time.Time) (sessions.Filter, error) {
	f := sessions.Filter{
		ID: p["id"], UserID: p["user_id"], Client: p["client"],
		DeviceID: p["device_id"], ParentID: p["parent_id"], Now: now,
	}
	if s := p["active"]; s != "" {
		active, err := strconv.ParseBool(s)
		if err != nil {
			return f, sessions.InvalidData(fmt.Sprintf("filter.active %q must be a boolean", s))
		}
		f.Active = &active
	}
	var err error
	if f.FromTime, err = sessions.ParseTime(p["from_time"]); err != nil {
		return f, sessions.InvalidData(fmt.Sprintf("filter.from_time %q must be an RFC 3339 date", p["from_time"]))
	}
	if f.ToTime, err = sessions.ParseTime(p["to_time"]); err != nil {
		return f, sessions.InvalidData(fmt.Sprintf("filter.to_time %q must be an RFC 3339 date", p["to_time"]))
	}
	return f, nil
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

// orNull makes "no payload" an explicit JSON null, which an update applies
// as "clear the field", as the service does.
func orNull(raw json.RawMessage) json.RawMessage {
	if raw == nil {
		return json.RawMessage("null")
	}
	return raw
}

// copyOf returns a copy the caller may change without touching the fake.
func copyOf(s *sessions.Session) *sessions.Session {
	if s == nil {
		return nil
	}
	c := s.Clone()
	c.User, c.Data = bytes.Clone(s.User), bytes.Clone(s.Data)
	return c
}

// newID returns 128 random bits as 32 lowercase hex characters.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails; it panics instead
	return hex.EncodeToString(b[:])
}
