package sessions

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Event types: every change of a session's state is one of these.
const (
	EventOpened  = "opened"
	EventRenewed = "renewed"
	EventUpdated = "updated"
	EventClosed  = "closed"
	EventExpired = "expired"
	EventEvicted = "evicted"
	EventDeleted = "deleted"
)

// EventTypes returns every event type, in the order of a session's life.
func EventTypes() []string {
	return []string{EventOpened, EventRenewed, EventUpdated, EventClosed, EventExpired, EventEvicted, EventDeleted}
}

// Control messages of the event and notification streams, which are not
// session events.
const (
	// StreamReset tells an event subscriber that the events after its
	// Last-Event-ID are no longer buffered: it should re-read what it needs.
	StreamReset = "reset"
	// StreamNotification carries a Notification to a device.
	StreamNotification = "notification"
	// StreamEnd is the last message of a device's stream: its session ended.
	StreamEnd = "end"
)

// Event is one change of a session's state. IDs increase: a subscriber that
// reconnects with the last ID it saw gets what it missed. Session is the
// session after the change, without user and data.
type Event struct {
	ID      int64
	Type    string
	Time    time.Time
	Session *Session
}

// ParseEventTypes reads a comma-separated list of event types; empty means
// every type. Each type is kept once, so the list a subscriber is matched
// against on every event is never longer than EventTypes.
func ParseEventTypes(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var out []string
	for t := range strings.SplitSeq(list, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue // types=a, or types=&types=a
		}
		if !slices.Contains(EventTypes(), t) {
			return nil, fmt.Errorf("%q is not an event type; use %s", t, strings.Join(EventTypes(), ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

// EndReason is the close reason an event ends a session's device streams
// with, or "" when the session goes on.
func (e *Event) EndReason() string {
	switch e.Type {
	case EventClosed, EventExpired, EventEvicted, EventDeleted:
		return e.Type
	}
	return ""
}

// MarshalJSON encodes the event as {id, type, time, session}.
func (e *Event) MarshalJSON() ([]byte, error) { return e.AppendJSON(make([]byte, 0, 384)), nil }

// AppendJSON appends the event's JSON to b.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, e.ID, 10)
	b = append(b, `,"type":`...)
	b = AppendString(b, e.Type)
	b = append(b, `,"time":`...)
	b = AppendTime(b, e.Time)
	b = append(b, `,"session":`...)
	if e.Session == nil {
		b = append(b, "null"...)
	} else {
		b = e.Session.AppendSummaryJSON(b)
	}
	return append(b, '}')
}

// UnmarshalJSON decodes an event.
func (e *Event) UnmarshalJSON(b []byte) error {
	var j struct {
		ID      int64    `json:"id"`
		Type    string   `json:"type"`
		Time    Time     `json:"time"`
		Session *Session `json:"session"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Event{ID: j.ID, Type: j.Type, Time: time.Time(j.Time), Session: j.Session}
	return nil
}

// Notification is a message sent to the devices of sessions: a method name
// and its parameters, as the sender gave them.
type Notification struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
	Time   Time            `json:"time"`

	encoded []byte // the JSON of the above, once Encoded made it
}

// Encoded returns n with its JSON made once, for every stream it goes to
// to write the same bytes: up to a request body's worth of params, sent to
// thousands of streams, is held once and not once per stream.
func (n Notification) Encoded() Notification {
	n.encoded = n.JSON()
	return n
}

// JSON returns the notification as JSON, the bytes Encoded made if it
// did; they are shared, and not to be changed.
func (n Notification) JSON() []byte {
	if n.encoded != nil {
		return n.encoded
	}
	b, _ := json.Marshal(n) // a method string, raw JSON params and a time always encode
	return b
}

// StreamEnding is the data of a device stream's last message: the session
// ended, and why (closed, expired, evicted or deleted).
type StreamEnding struct {
	SessionID string `json:"session_id"`
	Reason    string `json:"reason"`
}
