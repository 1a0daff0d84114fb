package sessions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
)

// TimeLayout is the wire form of every date: RFC 3339, UTC, milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// MarshalJSON encodes the session as the v1/sessions wire form.
func (s *Session) MarshalJSON() ([]byte, error) {
	return s.AppendJSON(make([]byte, 0, 512)), nil
}

// AppendJSON appends the session's JSON to b. It is the hot path of every
// response, so it is written out by hand rather than left to reflection.
func (s *Session) AppendJSON(b []byte) []byte {
	return s.appendJSON(b, true)
}

// AppendSummaryJSON appends the session's JSON without user and data.
func (s *Session) AppendSummaryJSON(b []byte) []byte {
	return s.appendJSON(b, false)
}

func (s *Session) appendJSON(b []byte, payload bool) []byte {
	b = append(b, `{"id":`...)
	b = AppendString(b, s.ID)
	b = append(b, `,"user_id":`...)
	b = AppendString(b, s.UserID)
	b = append(b, `,"user_name":`...)
	b = appendNullableString(b, s.UserName)
	b = append(b, `,"active":`...)
	b = strconv.AppendBool(b, s.Active)
	b = append(b, `,"open_time":`...)
	b = AppendTime(b, s.OpenTime)
	b = append(b, `,"request_time":`...)
	b = AppendTime(b, s.RequestTime)
	if !s.CloseTime.IsZero() {
		b = append(b, `,"close_time":`...)
		b = AppendTime(b, s.CloseTime)
	}
	b = append(b, `,"address":`...)
	b = appendNullableString(b, s.Address)
	b = append(b, `,"client":`...)
	b = appendNullableString(b, s.Client)
	if payload {
		b = append(b, `,"user":`...)
		b = appendRaw(b, s.User)
		b = append(b, `,"data":`...)
		b = appendRaw(b, s.Data)
	}
	b = appendOptionalString(b, `,"device_id":`, s.DeviceID)
	if !s.ExpireTime.IsZero() {
		b = append(b, `,"expire_time":`...)
		b = AppendTime(b, s.ExpireTime)
	}
	if len(s.Details) > 0 {
		b = append(b, `,"details":`...)
		b = AppendStringMap(b, s.Details)
	}
	b = appendOptionalString(b, `,"parent_id":`, s.ParentID)
	b = appendOptionalString(b, `,"push_address":`, s.PushAddress)
	b = appendOptionalString(b, `,"close_reason":`, s.CloseReason)
	return append(b, '}')
}

// MarshalJSON encodes the page; its items leave out user and data.
func (p *Page) MarshalJSON() ([]byte, error) {
	return p.AppendJSON(make([]byte, 0, 64+300*len(p.Data))), nil
}

// AppendJSON appends the page's JSON to b.
func (p *Page) AppendJSON(b []byte) []byte {
	b = append(b, `{"total":`...)
	if p.Total == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, *p.Total, 10)
	}
	b = append(b, `,"data":[`...)
	for i, s := range p.Data {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.AppendSummaryJSON(b)
	}
	return append(b, "]}"...)
}

// MarshalJSON encodes a home with its active sessions, which leave out
// user and data, as a page's items do.
func (h *HomeStatus) MarshalJSON() ([]byte, error) {
	home, err := json.Marshal(&h.Home)
	if err != nil {
		return nil, err
	}
	b := append(home[:len(home)-1], `,"active_count":`...)
	b = strconv.AppendInt(b, h.ActiveCount, 10)
	b = append(b, `,"sessions":[`...)
	for i, s := range h.Sessions {
		if i > 0 {
			b = append(b, ',')
		}
		b = s.AppendSummaryJSON(b)
	}
	return append(b, "]}"...), nil
}

// sessionJSON is the decoding shape of a session: times are parsed
// leniently so that files written by the Node service load too.
type sessionJSON struct {
	ID          string            `json:"id"`
	UserID      string            `json:"user_id"`
	UserName    *string           `json:"user_name"`
	Active      bool              `json:"active"`
	OpenTime    Time              `json:"open_time"`
	RequestTime Time              `json:"request_time"`
	CloseTime   Time              `json:"close_time"`
	Address     *string           `json:"address"`
	Client      *string           `json:"client"`
	User        json.RawMessage   `json:"user"`
	Data        json.RawMessage   `json:"data"`
	DeviceID    string            `json:"device_id"`
	ExpireTime  Time              `json:"expire_time"`
	Details     map[string]string `json:"details"`
	ParentID    string            `json:"parent_id"`
	PushAddress string            `json:"push_address"`
	CloseReason string            `json:"close_reason"`
}

// UnmarshalJSON decodes a session in the wire form, or as the Node service's
// file persistence stored it (dates as ISO strings, nulls for absent fields).
func (s *Session) UnmarshalJSON(b []byte) error {
	var j sessionJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Session{
		ID: j.ID, UserID: j.UserID, UserName: deref(j.UserName), Active: j.Active,
		OpenTime: time.Time(j.OpenTime), RequestTime: time.Time(j.RequestTime),
		CloseTime: time.Time(j.CloseTime), Address: deref(j.Address), Client: deref(j.Client),
		User: nonNull(j.User), Data: nonNull(j.Data), DeviceID: j.DeviceID,
		ExpireTime: time.Time(j.ExpireTime), Details: j.Details, ParentID: j.ParentID,
		PushAddress: j.PushAddress, CloseReason: j.CloseReason,
	}
	return nil
}

// Time is a date that decodes from an RFC 3339 string of any precision, a
// number of epoch milliseconds, or null, and encodes in TimeLayout.
type Time time.Time

// MarshalJSON encodes the time in TimeLayout, or null when zero.
func (t Time) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return AppendTime(nil, time.Time(t)), nil
}

// UnmarshalJSON decodes a date leniently.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	if len(b) > 0 && b[0] != '"' {
		ms, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return fmt.Errorf("date %s is neither a string nor epoch milliseconds", b)
		}
		*t = Time(time.UnixMilli(ms).UTC())
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	*t = Time(v)
	return nil
}

// ParseTime parses an RFC 3339 date (a missing zone means UTC) and returns
// it in UTC with millisecond precision. An empty string is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if v, err := time.Parse(layout, s); err == nil {
			return v.UTC().Truncate(time.Millisecond), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 date", s)
}

// AppendTime appends t as a JSON string in TimeLayout, UTC. Every
// response carries several dates, so the four-digit years are written out
// by hand, the way time.Time.AppendFormat writes them (milliseconds
// truncated); other years go through AppendFormat.
func AppendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	b = append(b, '"')
	if year < 0 || year > 9999 {
		b = t.AppendFormat(b, TimeLayout)
		return append(b, '"')
	}
	hour, minute, second := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, second, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/int(time.Millisecond), 3)
	return append(b, 'Z', '"')
}

// appendDigits appends the non-negative n in exactly width decimal digits.
func appendDigits(b []byte, n, width int) []byte {
	var d [4]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:width]...)
}

// AppendStringMap appends m as a JSON object with sorted keys.
func AppendStringMap(b []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, k)
		b = append(b, ':')
		b = AppendString(b, m[k])
	}
	return append(b, '}')
}

func appendOptionalString(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, key...)
	return AppendString(b, v)
}

func appendNullableString(b []byte, v string) []byte {
	if v == "" {
		return append(b, "null"...)
	}
	return AppendString(b, v)
}

func appendRaw(b []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

const hex = "0123456789abcdef"

// AppendString appends v as a JSON string, escaped as encoding/json does
// (without HTML escaping); invalid UTF-8 becomes U+FFFD.
func AppendString(b []byte, v string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, v[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, v[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, v[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, v[start:]...)
	return append(b, '"')
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// nonNull turns an absent or JSON null payload into nil, so "no user" has
// one representation.
func nonNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	return raw
}
