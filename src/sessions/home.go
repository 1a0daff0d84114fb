package sessions

import (
	"encoding/json"
	"strconv"
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
type Home struct {
	ID          string `json:"id" bson:"_id"`
	MaxSessions int64  `json:"max_sessions" bson:"max_sessions"`
	// LeaseTimeout is how long, in milliseconds, a session of this home
	// stays alive without a renew_session; 0 means the service default.
	LeaseTimeout int64  `json:"lease_timeout" bson:"lease_timeout"`
	Policy       string `json:"policy" bson:"policy"`
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
