package logic

import (
	"context"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Persistence is what the controller needs from a session store. Every
// implementation (memory, file, mongodb) passes the one shared fixture in
// test/, which is the executable form of this contract.
//
// Methods return (nil, nil) when the session does not exist. Returned
// sessions are copies the caller may keep; stored sessions are never shared.
// Errors from an unreachable store are *sessions.Error with
// CodeStoreUnavailable.
type Persistence interface {
	// GetPageByFilter returns the matching sessions newest request_time first
	// (ties by id, descending), skipping and taking as paging says (a Take
	// of zero or less: all of them), without user and data. Total is set
	// only when paging.Total is true.
	GetPageByFilter(ctx context.Context, filter sessions.Filter, paging sessions.Paging) (*sessions.Page, error)
	// GetOneByID returns one session with its user and data.
	GetOneByID(ctx context.Context, id string) (*sessions.Session, error)
	// GetStatesByIDs returns, in one read, the state of each listed session
	// in the order of ids, nil for one that does not exist. The quota
	// checks the sessions holding a home's places with it.
	GetStatesByIDs(ctx context.Context, ids []string) ([]*SessionState, error)
	// Create stores a new session; its ID is set by the caller.
	Create(ctx context.Context, s *sessions.Session) (*sessions.Session, error)
	// Update applies u to one session in a single atomic step and returns the
	// session after the change; (nil, nil) when it does not exist or, with
	// u.IfActive, is not active.
	Update(ctx context.Context, id string, u sessions.Update) (*sessions.Session, error)
	// DeleteByID removes a session and returns it.
	DeleteByID(ctx context.Context, id string) (*sessions.Session, error)
	// ExpiredIDs returns the ids of the sessions e finds expired (see
	// sessions.Expiry). The expiry sweep closes each with an Update whose
	// IfExpired is e, so a session renewed in between stays open.
	ExpiredIDs(ctx context.Context, e sessions.Expiry) ([]string, error)
}

// SessionState is what the quota needs of a session holding a place:
// whether it is live, how recently it was used (eviction takes the least
// recently used) and what MAX_SESSIONS_EXCEEDED shows of it. Leaving out
// user, data and details spares the stores reading and copying them.
type SessionState struct {
	ID          string
	Active      bool
	RequestTime time.Time
	ExpireTime  time.Time
	DeviceID    string
	Client      string
}

// Live reports whether the session is active and its lease, if any, has
// not lapsed at now, as sessions.Session.Live does.
func (s *SessionState) Live(now time.Time) bool { return sessions.Live(s.Active, s.ExpireTime, now) }
