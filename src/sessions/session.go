// Package sessions holds the domain types of the sessions service: sessions,
// their filters and pages, and the coded error every layer returns. It imports
// only the standard library, so the Go client SDK can share it.
package sessions

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// Close reasons say why a session stopped being active.
const (
	ReasonClosed  = "closed"
	ReasonExpired = "expired"
	ReasonEvicted = "evicted"
)

// Session is one user session, the resource of the v1/sessions commands.
// Times are UTC with millisecond precision; a zero CloseTime means the
// session has not been closed, a zero ExpireTime that it has no lease. A
// field tagged nullable:"true" is written as null when empty, as the Node service
// writes it (the OpenAPI document reads the tag).
type Session struct {
	ID          string            `json:"id" bson:"_id"`
	UserID      string            `json:"user_id" bson:"user_id"`
	UserName    string            `json:"user_name" nullable:"true" bson:"user_name,omitempty"`
	Active      bool              `json:"active" bson:"active"`
	OpenTime    time.Time         `json:"open_time" bson:"open_time"`
	RequestTime time.Time         `json:"request_time" bson:"request_time"`
	CloseTime   time.Time         `json:"close_time,omitzero" bson:"close_time,omitempty"`
	Address     string            `json:"address" nullable:"true" bson:"address,omitempty"`
	Client      string            `json:"client" nullable:"true" bson:"client,omitempty"`
	User        json.RawMessage   `json:"user" bson:"user,omitempty"`
	Data        json.RawMessage   `json:"data" bson:"data,omitempty"`
	DeviceID    string            `json:"device_id,omitempty" bson:"device_id,omitempty"`
	ExpireTime  time.Time         `json:"expire_time,omitzero" bson:"expire_time,omitempty"`
	Details     map[string]string `json:"details,omitempty" bson:"details,omitempty"`
	ParentID    string            `json:"parent_id,omitempty" bson:"parent_id,omitempty"`
	PushAddress string            `json:"push_address,omitempty" bson:"push_address,omitempty"`
	CloseReason string            `json:"close_reason,omitempty" bson:"close_reason,omitempty"`
}

// Live reports whether the session is active and its lease, if any, has not
// lapsed at now. A lapsed session counts as inactive for every decision even
// before the expiry sweep closes it.
func (s *Session) Live(now time.Time) bool { return Live(s.Active, s.ExpireTime, now) }

// Live reports whether a session that is active or not, with a lease to
// expireTime (zero: none), is live at now.
func Live(active bool, expireTime, now time.Time) bool {
	return active && (expireTime.IsZero() || now.Before(expireTime))
}

// Clone returns a copy that shares nothing mutable with s.
func (s *Session) Clone() *Session {
	c := *s
	if s.Details != nil {
		c.Details = make(map[string]string, len(s.Details))
		for k, v := range s.Details {
			c.Details[k] = v
		}
	}
	return &c
}

// Summary returns a copy without the user and data payloads, as pages and
// events carry it.
func (s *Session) Summary() *Session {
	c := s.Clone()
	c.User, c.Data = nil, nil
	return c
}

// Page is one page of sessions. Total is set only when the caller asked for it.
type Page struct {
	Total *int64     `json:"total"`
	Data  []*Session `json:"data"`
}

// Update is a change applied to one stored session in a single atomic step.
// Nil payloads and zero times leave the field unchanged; a JSON null payload
// clears the field.
type Update struct {
	User        json.RawMessage
	Data        json.RawMessage
	RequestTime time.Time
	ExpireTime  time.Time
	// Details are merged into the session's details; an empty value deletes the key.
	Details map[string]string
	// PushAddress, when non-empty, binds the session to that push address.
	PushAddress string
	// Close, when set, deactivates the session: close_time and close_reason
	// are set, request_time moves to the close time (as in Pip), user and
	// data are cleared.
	Close *Closing
	// IfActive applies the update only to a session that is still active.
	IfActive bool
	// IfExpired, when set, applies the update only to a session that is
	// expired by it: the expiry sweep closes each session with it, so one
	// renewed meanwhile stays open.
	IfExpired *Expiry
}

// Expiry is the condition of the expiry sweep: a session is expired when it
// is active and idle since before IdleBefore, or its lease lapsed at or
// before Now.
type Expiry struct {
	IdleBefore time.Time
	Now        time.Time
}

// Expired reports whether s is expired by e.
func (e *Expiry) Expired(s *Session) bool {
	return s.Active && (s.RequestTime.Before(e.IdleBefore) || (!s.ExpireTime.IsZero() && !s.ExpireTime.After(e.Now)))
}

// Closing says when and why a session was closed.
type Closing struct {
	Time   time.Time
	Reason string
}

// Apply changes s as the update describes. It reports false, leaving s
// untouched, when IfActive is set and s is not active, or IfExpired is set
// and s is not expired by it.
func (u *Update) Apply(s *Session) bool {
	if u.IfActive && !s.Active || u.IfExpired != nil && !u.IfExpired.Expired(s) {
		return false
	}
	if u.User != nil {
		s.User = nonNull(u.User)
	}
	if u.Data != nil {
		s.Data = nonNull(u.Data)
	}
	if !u.RequestTime.IsZero() {
		s.RequestTime = u.RequestTime
	}
	if !u.ExpireTime.IsZero() {
		s.ExpireTime = u.ExpireTime
	}
	if u.PushAddress != "" {
		s.PushAddress = u.PushAddress
	}
	if len(u.Details) > 0 {
		merged := make(map[string]string, len(s.Details)+len(u.Details))
		for k, v := range s.Details {
			merged[k] = v
		}
		for k, v := range u.Details {
			if v == "" {
				delete(merged, k)
			} else {
				merged[k] = v
			}
		}
		if len(merged) == 0 {
			merged = nil
		}
		s.Details = merged
	}
	if u.Close != nil {
		s.Active = false
		s.RequestTime, s.CloseTime = u.Close.Time, u.Close.Time
		s.CloseReason = u.Close.Reason
		s.User, s.Data = nil, nil
	}
	return true
}

// Filter selects sessions. Empty strings, a nil Active and zero times match
// anything.
type Filter struct {
	ID       string
	UserID   string
	Client   string
	DeviceID string
	ParentID string
	// PushAddress matches sessions bound to that push address.
	PushAddress string
	// Active, when set, matches sessions whose Live state at Now equals it.
	Active *bool
	// FromTime matches request_time >= FromTime; ToTime matches request_time < ToTime.
	FromTime time.Time
	ToTime   time.Time
	// Now is the instant Active is judged at. Zero is before any lease
	// ends: every active session is live then, and a store may match
	// Active by the active flag alone.
	Now time.Time
}

// Match reports whether s passes the filter.
func (f *Filter) Match(s *Session) bool {
	switch {
	case f.ID != "" && s.ID != f.ID,
		f.UserID != "" && s.UserID != f.UserID,
		f.Client != "" && s.Client != f.Client,
		f.DeviceID != "" && s.DeviceID != f.DeviceID,
		f.ParentID != "" && s.ParentID != f.ParentID,
		f.PushAddress != "" && s.PushAddress != f.PushAddress,
		f.Active != nil && s.Live(f.Now) != *f.Active,
		!f.FromTime.IsZero() && s.RequestTime.Before(f.FromTime),
		!f.ToTime.IsZero() && !s.RequestTime.Before(f.ToTime):
		return false
	}
	return true
}

// Paging is a resolved page request: defaults applied, take capped.
type Paging struct {
	Skip  int64
	Take  int64
	Total bool
}

// Newer orders sessions newest request_time first, then by id so the order
// is stable across pages.
func Newer(a, b *Session) int {
	if c := b.RequestTime.Compare(a.RequestTime); c != 0 {
		return c
	}
	switch {
	case a.ID > b.ID:
		return -1
	case a.ID < b.ID:
		return 1
	}
	return 0
}

// CheckDetailsMerge refuses a merge of update into details (an empty value
// deletes its key) that would leave more than MaxMapEntries entries, or
// details of more than MaxMapBytes as JSON, unless it leaves them smaller
// than they were: details stored before the bounds may shrink, not grow.
func CheckDetailsMerge(details, update map[string]string) error {
	merged := maps.Clone(details)
	if merged == nil {
		merged = make(map[string]string, len(update))
	}
	for k, v := range update {
		if v == "" {
			delete(merged, k)
		} else {
			merged[k] = v
		}
	}
	if n := len(merged); n > MaxMapEntries && n > len(details) {
		return InvalidData(fmt.Sprintf("details would have %d entries; a session has at most %d", n, MaxMapEntries))
	}
	if n := mapBytes(merged); n > MaxMapBytes && n > mapBytes(details) {
		return InvalidData(fmt.Sprintf("details would take %d bytes as JSON; a session's take at most %d", n, MaxMapBytes))
	}
	return nil
}
