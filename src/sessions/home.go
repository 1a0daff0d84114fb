package sessions

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Home policies say what opening a session does when the home is full.
const (
	// PolicyDeny refuses the new session with MAX_SESSIONS_EXCEEDED.
	PolicyDeny = "deny"
	// PolicyEvictOldest closes the least recently renewed session as evicted.
	PolicyEvictOldest = "evict_oldest"
)

// Home is the subscription of one account: how many sessions of that user
// may be active at once. Its ID is the user_id of the sessions it governs.
// A required field must be in a home that set_home receives (a missing
// max_sessions would otherwise admit no one). In Go a MaxSessions left at
// its zero value is not missing but 0, which admits no one: set it.
type Home struct {
	ID          string `json:"id" bson:"_id" required:"true"`
	MaxSessions int64  `json:"max_sessions" bson:"max_sessions" required:"true"`
	// LeaseTimeout is how long, in milliseconds, a session of this home
	// stays alive without a renew_session; 0 means the service default.
	LeaseTimeout int64  `json:"lease_timeout" bson:"lease_timeout"`
	Policy       string `json:"policy" bson:"policy"`
}

// Bounds on a home's settings.
const (
	MaxMaxSessions  = 10_000
	MinLeaseTimeout = time.Second
	MaxLeaseTimeout = 30 * 24 * time.Hour
)

// Validate checks a home as the service accepts it and fills in the default
// policy; problems are reported as INVALID_DATA in Pip.Services' wording.
func (h *Home) Validate() error {
	problems := h.Problems()
	if h.Policy == "" {
		h.Policy = PolicyDeny
	}
	if len(problems) > 0 {
		return InvalidData(problems...)
	}
	return nil
}

// Problems returns what Validate finds wrong with a home, in Pip.Services'
// wording.
func (h *Home) Problems() []string {
	var problems []string
	if h.ID == "" {
		problems = append(problems, NullProblem("home.id"))
	} else if problem := TextProblem("home.id", h.ID, MaxIDLength); problem != "" {
		problems = append(problems, problem)
	}
	if h.MaxSessions < 0 || h.MaxSessions > MaxMaxSessions {
		problems = append(problems, fmt.Sprintf("home.max_sessions must be between 0 and %d", MaxMaxSessions))
	}
	// Compared in ms: a huge value would overflow a Duration.
	if lease := h.LeaseTimeout; lease != 0 && (lease < MinLeaseTimeout.Milliseconds() || lease > MaxLeaseTimeout.Milliseconds()) {
		problems = append(problems, fmt.Sprintf("home.lease_timeout must be 0 (the default) or between %d and %d ms",
			MinLeaseTimeout.Milliseconds(), MaxLeaseTimeout.Milliseconds()))
	}
	if h.Policy != "" && h.Policy != PolicyDeny && h.Policy != PolicyEvictOldest {
		problems = append(problems, fmt.Sprintf("home.policy %q must be deny or evict_oldest", h.Policy))
	}
	return problems
}

// MaxSessionsExceeded is the error of an open into a full home: 409, with
// the home's limit and its active sessions, newest request_time first as
// get_home lists them, in the details; an empty device_id or client is
// null, as a session writes its client. The details are in their JSON
// form (numbers float64, lists []any), as a client decodes them from the
// wire, so that every variant of the SDK gives the same values.
func MaxSessionsExceeded(h *Home, active []*Session) *Error {
	active = slices.SortedFunc(slices.Values(active), Newer)
	list := make([]any, 0, len(active))
	for _, s := range active {
		list = append(list, map[string]any{"id": s.ID, "device_id": orNil(s.DeviceID),
			"client": orNil(s.Client), "request_time": s.RequestTime.UTC().Format(TimeLayout)})
	}
	e := Conflict(CodeMaxSessionsExceeded, "home %s already has its maximum of %d active sessions", h.ID, h.MaxSessions)
	e.Details = map[string]any{"max_sessions": float64(h.MaxSessions), "active": list}
	return e
}

// SessionExpired is the error of renewing a session whose lease lapsed.
func SessionExpired(id string) *Error {
	return NotFound(CodeSessionExpired, "session %s has expired; open a new one", id)
}

// SessionNotFound is the error of a command on a session that does not exist.
func SessionNotFound(id string) *Error {
	return NotFound(CodeSessionNotFound, "session %s is not found", id)
}

// SessionClosed is the error of renewing or following a session that was
// closed for reason; its details name the reason when it is known.
func SessionClosed(id, reason string) *Error {
	e := NotFound(CodeSessionNotFound, "session %s is closed", id)
	if reason != "" {
		e.Details = map[string]any{"close_reason": reason}
	}
	return e
}

// NotLive returns the error of renewing or following s at now, nil when s
// is active and its lease has not lapsed: a session that expired, or whose
// lease lapsed, is SESSION_EXPIRED; one closed otherwise SESSION_NOT_FOUND.
func NotLive(s *Session, now time.Time) *Error {
	switch {
	case !s.Active && s.CloseReason == ReasonExpired, s.Active && !s.Live(now):
		return SessionExpired(s.ID)
	case !s.Active:
		return SessionClosed(s.ID, s.CloseReason)
	}
	return nil
}

// DeviceNotRegistered is the error of a command by a device no account has.
func DeviceNotRegistered(id string) *Error {
	return NotFound(CodeDeviceNotRegistered, "device %s is not registered", id)
}

// ParentNotFound is the error of an open whose parent session does not exist.
func ParentNotFound(id string) *Error {
	return BadRequest(CodeParentNotFound, "parent session %s does not exist", id)
}

// HomeStatus is a home with its active sessions, as get_home returns it.
type HomeStatus struct {
	Home
	ActiveCount int64      `json:"active_count"`
	Sessions    []*Session `json:"sessions"`
}

// HomePage is one page of homes.
type HomePage struct {
	Total *int64  `json:"total"`
	Data  []*Home `json:"data"`
}

// Device maps a device to the account it belongs to.
type Device struct {
	ID         string    `json:"id" bson:"_id"`
	UserID     string    `json:"user_id" bson:"user_id"`
	CreateTime time.Time `json:"create_time" bson:"create_time"`
}

// DevicePage is one page of devices.
type DevicePage struct {
	Total *int64    `json:"total"`
	Data  []*Device `json:"data"`
}

// Slot is one of a home's max_sessions places, held by one session. The
// store keeps (HomeID, Index) unique: inserting a slot whose place is taken
// fails, which is what keeps a home's quota exact under any concurrency.
type Slot struct {
	// ID is SessionID:Index; an incarnation of a slot is never reused, so
	// deleting by ID can never remove a later holder of the same place.
	ID        string    `json:"id" bson:"_id"`
	HomeID    string    `json:"home_id" bson:"home_id"`
	Index     int64     `json:"index" bson:"index"`
	SessionID string    `json:"session_id" bson:"session_id"`
	Created   time.Time `json:"created" bson:"created"`
}

// NewSlot returns the slot at index of home held by session.
func NewSlot(homeID string, index int64, sessionID string, now time.Time) Slot {
	return Slot{ID: sessionID + ":" + strconv.FormatInt(index, 10), HomeID: homeID, Index: index,
		SessionID: sessionID, Created: now}
}

// SlotSessionID returns the id of the session holding a slot, read from
// the slot's id (see NewSlot).
func SlotSessionID(slotID string) (string, bool) {
	i := strings.LastIndexByte(slotID, ':')
	if i < 0 {
		return "", false
	}
	return slotID[:i], true
}

// MarshalJSON encodes the device with its date in TimeLayout.
func (d *Device) MarshalJSON() ([]byte, error) {
	b := append([]byte(`{"id":`), AppendString(nil, d.ID)...)
	b = append(b, `,"user_id":`...)
	b = AppendString(b, d.UserID)
	b = append(b, `,"create_time":`...)
	b = AppendTime(b, d.CreateTime)
	return append(b, '}'), nil
}

// UnmarshalJSON decodes a device, its date leniently.
func (d *Device) UnmarshalJSON(b []byte) error {
	var j struct {
		ID         string `json:"id"`
		UserID     string `json:"user_id"`
		CreateTime Time   `json:"create_time"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*d = Device{ID: j.ID, UserID: j.UserID, CreateTime: time.Time(j.CreateTime)}
	return nil
}

// orNil is s, or nil when s is empty.
func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}
