package persistence

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// record is the form in which the memory store (and so the file store)
// keeps a session. A sessions.Session is 304 bytes with 13 pointer words
// (nine string headers, two payload slices, the details map and the times'
// locations); a record is 112 bytes with two: every string, the details
// and the payloads share one immutable string, and the times are Unix
// milliseconds. That halves the memory a stored session costs and the work
// the garbage collector does for it on every cycle.
//
// Records are immutable once built: a change builds a new record. Readers
// therefore take a record under the store's lock and decode it outside.
type record struct {
	// text is the nine string fields, then the details (each key followed
	// by its value), then user, then data.
	text string
	// ends holds where each string field ends in text, then where the
	// details end, then where user ends; data runs to the end of text.
	ends   [numEnds]uint32
	active bool
	// The times in Unix milliseconds; the zero time.Time is zeroMillis.
	open, request, close, expire int64
	// details maps keys to values, both slices of text; nil when empty.
	details map[string]string
}

// The string fields of a record, in the order of their ends.
const (
	fieldID = iota
	fieldUserID
	fieldUserName
	fieldAddress
	fieldClient
	fieldDeviceID
	fieldParentID
	fieldPushAddress
	fieldCloseReason
	numStrings

	endDetails = numStrings
	endUser    = numStrings + 1
	numEnds    = numStrings + 2
)

// zeroMillis is the zero time.Time in Unix milliseconds. A record keeps
// the zero time as itself, so it orders before every real time just as
// time.Time does.
const zeroMillis = -62_135_596_800_000 // time.Time{}.UnixMilli()

// stringFields returns the string fields of s in record order.
func stringFields(s *sessions.Session) [numStrings]string {
	return [...]string{s.ID, s.UserID, s.UserName, s.Address, s.Client,
		s.DeviceID, s.ParentID, s.PushAddress, s.CloseReason}
}

// pack returns the record of s. Its times keep millisecond precision, as the
// file and MongoDB stores keep them too.
func pack(s *sessions.Session) *record {
	r := &record{
		active: s.Active,
		open:   s.OpenTime.UnixMilli(), request: s.RequestTime.UnixMilli(),
		close: s.CloseTime.UnixMilli(), expire: s.ExpireTime.UnixMilli(),
	}
	strs := stringFields(s)
	keys := sortedKeys(s.Details)
	n := len(s.User) + len(s.Data)
	for _, v := range strs {
		n += len(v)
	}
	for _, k := range keys {
		n += len(k) + len(s.Details[k])
	}
	var b strings.Builder
	b.Grow(n)
	for i, v := range strs {
		b.WriteString(v)
		r.ends[i] = uint32(b.Len())
	}
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(s.Details[k])
	}
	r.ends[endDetails] = uint32(b.Len())
	b.Write(s.User)
	r.ends[endUser] = uint32(b.Len())
	b.Write(s.Data)
	r.text = b.String()

	if len(keys) > 0 {
		r.details = make(map[string]string, len(keys))
		at := int(r.ends[numStrings-1])
		for _, k := range keys {
			kl, vl := len(k), len(s.Details[k])
			r.details[r.text[at:at+kl]] = r.text[at+kl : at+kl+vl]
			at += kl + vl
		}
	}
	return r
}

// sortedKeys returns the keys of details in order, and nil without an
// allocation when there are none, as for most sessions.
func sortedKeys(details map[string]string) []string {
	if len(details) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(details))
}

// field returns one of the string fields.
func (r *record) field(i int) string {
	var start uint32
	if i > 0 {
		start = r.ends[i-1]
	}
	return r.text[start:r.ends[i]]
}

func (r *record) id() string { return r.field(fieldID) }

// retimed returns r with the active flag and times of st: a new record
// sharing r's text and details, which neither ever changes.
func (r *record) retimed(st *record) *record {
	out := *r
	out.active, out.open, out.request, out.close, out.expire = st.active, st.open, st.request, st.close, st.expire
	return &out
}

// sameText reports whether r and o hold the same strings, details, user
// and data: they differ at most in their active flag and times. The
// details are compared as maps too: the text holds them run together, so
// {"a":"bc"} and {"ab":"c"} read the same there.
func (r *record) sameText(o *record) bool {
	return r.ends == o.ends && r.text == o.text && maps.Equal(r.details, o.details)
}

// view fills s with the session without user and data, sharing the
// record's strings and details map: for reading only, such as matching a
// filter, where building a whole session would cost an allocation.
func (r *record) view(s *sessions.Session) {
	*s = sessions.Session{
		ID: r.field(fieldID), UserID: r.field(fieldUserID), UserName: r.field(fieldUserName),
		Address: r.field(fieldAddress), Client: r.field(fieldClient), DeviceID: r.field(fieldDeviceID),
		ParentID: r.field(fieldParentID), PushAddress: r.field(fieldPushAddress),
		CloseReason: r.field(fieldCloseReason),
		Active:      r.active,
		OpenTime:    fromMillis(r.open), RequestTime: fromMillis(r.request),
		CloseTime: fromMillis(r.close), ExpireTime: fromMillis(r.expire),
		Details: r.details,
	}
}

// state fills s with what the quota needs of the session, sharing the
// record's strings.
func (r *record) state(s *logic.SessionState) {
	*s = logic.SessionState{
		ID: r.field(fieldID), Active: r.active,
		RequestTime: fromMillis(r.request), ExpireTime: fromMillis(r.expire),
		DeviceID: r.field(fieldDeviceID), Client: r.field(fieldClient),
	}
}

// summary returns the session without user and data, as pages and events
// carry it. It shares nothing mutable with the record.
func (r *record) summary() *sessions.Session {
	s := new(sessions.Session)
	r.view(s)
	s.Details = maps.Clone(r.details)
	return s
}

// session returns the whole session. It shares nothing mutable with the
// record: the payloads are copied in one allocation.
func (r *record) session() *sessions.Session {
	s := r.summary()
	if at := r.ends[endDetails]; int(at) < len(r.text) {
		raw := []byte(r.text[at:]) // user and data, which end the text
		ul := r.ends[endUser] - at
		s.User, s.Data = nonEmpty(raw[:ul:ul]), nonEmpty(raw[ul:])
	}
	return s
}

// matches reports whether the session passes f, as f.Match does for a
// session: it reads the record in place, where building the session to
// match would cost more than the match. A test holds the two to the same
// answers.
func (r *record) matches(f *sessions.Filter) bool {
	switch {
	case f.ID != "" && r.field(fieldID) != f.ID,
		f.UserID != "" && r.field(fieldUserID) != f.UserID,
		f.Client != "" && r.field(fieldClient) != f.Client,
		f.DeviceID != "" && r.field(fieldDeviceID) != f.DeviceID,
		f.ParentID != "" && r.field(fieldParentID) != f.ParentID,
		f.PushAddress != "" && r.field(fieldPushAddress) != f.PushAddress,
		f.Active != nil && r.live(f.Now) != *f.Active,
		!f.FromTime.IsZero() && fromMillis(r.request).Before(f.FromTime),
		!f.ToTime.IsZero() && !fromMillis(r.request).Before(f.ToTime):
		return false
	}
	return true
}

// live reports what sessions.Session.Live reports for the session.
func (r *record) live(now time.Time) bool {
	return r.active && (r.expire == zeroMillis || now.Before(fromMillis(r.expire)))
}

// newer orders records as sessions.Newer orders sessions: newest
// request_time first, then by id, descending.
func newer(a, b *record) int {
	if c := cmp.Compare(b.request, a.request); c != 0 {
		return c
	}
	return strings.Compare(b.id(), a.id())
}

// fromMillis returns the time of Unix milliseconds ms in UTC; zeroMillis
// gives the zero time.
func fromMillis(ms int64) time.Time {
	if ms == zeroMillis {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
