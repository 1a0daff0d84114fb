package persistence

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// A record keeps every field of a session, and so does its put frame; only
// the times lose what is below a millisecond.
func TestRecordKeepsEverySessionField(t *testing.T) {
	at := time.Date(2026, 11, 21, 9, 30, 0, 123_456_789, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name string
		in   sessions.Session
	}{
		{"every field", sessions.Session{
			ID: "a1", UserID: "u1", UserName: "Ann", Active: true,
			OpenTime: at, RequestTime: at.Add(time.Second), CloseTime: at.Add(2 * time.Second),
			Address: "203.0.113.7", Client: "web", DeviceID: "d1", ParentID: "p1",
			PushAddress: "push-1", CloseReason: "closed", ExpireTime: at.Add(time.Hour),
			User: json.RawMessage(`{"name":"Ann"}`), Data: json.RawMessage(`[1,2]`),
			Details: map[string]string{"os": "linux", "app": "1.2", "é": "ü"},
		}},
		{"only an id", sessions.Session{ID: "a2"}},
		{"user without data", sessions.Session{ID: "a3", User: json.RawMessage(`"x"`)}},
		{"data without user", sessions.Session{ID: "a4", Data: json.RawMessage(`"y"`)}},
		{"the Unix epoch and before it", sessions.Session{ID: "a5",
			OpenTime: time.Unix(0, 0), RequestTime: time.Unix(-1, 500_000_000)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.in
			for _, tm := range []*time.Time{&want.OpenTime, &want.RequestTime, &want.CloseTime, &want.ExpireTime} {
				*tm = norm(*tm)
			}
			r := pack(&tc.in)
			if got := r.session(); !reflect.DeepEqual(got, &want) {
				t.Errorf("from the record:\n got %+v\nwant %+v", got, &want)
			}
			frame := appendPut(nil, r)
			back, err := decodePut(frame[frameHeader:])
			if err != nil {
				t.Fatalf("decode the put frame: %v", err)
			}
			if got := back.session(); !reflect.DeepEqual(got, &want) {
				t.Errorf("from the put frame:\n got %+v\nwant %+v", got, &want)
			}
			// A retime frame brings back the state and times on the text
			// of another record of the session.
			id, st, err := decodeRetime(appendRetime(nil, r)[frameHeader:])
			if err != nil || id != want.ID {
				t.Fatalf("decode the retime frame: got %q, %v; want %q", id, err, want.ID)
			}
			if got := pack(&sessions.Session{ID: want.ID, User: want.User, Data: want.Data, UserID: want.UserID,
				UserName: want.UserName, Address: want.Address, Client: want.Client, DeviceID: want.DeviceID,
				ParentID: want.ParentID, PushAddress: want.PushAddress, CloseReason: want.CloseReason,
				Details: want.Details}).retimed(st).session(); !reflect.DeepEqual(got, &want) {
				t.Errorf("retimed by the retime frame:\n got %+v\nwant %+v", got, &want)
			}
			summary := want
			summary.User, summary.Data = nil, nil
			if got := r.summary(); !reflect.DeepEqual(got, &summary) {
				t.Errorf("summary:\n got %+v\nwant %+v", got, &summary)
			}
		})
	}
}

func TestZeroMillisIsTheZeroTime(t *testing.T) {
	if got := (time.Time{}).UnixMilli(); got != zeroMillis {
		t.Errorf("the zero time is %d ms; zeroMillis is %d", got, zeroMillis)
	}
}

// What a reader gets from a record is its own: changing it leaves the
// stored session alone.
func TestRecordCopiesShareNothingMutable(t *testing.T) {
	r := pack(&sessions.Session{ID: "a1", User: json.RawMessage(`{"a":1}`),
		Data: json.RawMessage(`{"b":2}`), Details: map[string]string{"k": "v"}})
	s := r.session()
	s.User[1], s.Data[1] = 'X', 'Y'
	s.Details["k"] = "changed"
	s.User = append(s.User, '!') // must not run into data
	again := r.session()
	if string(again.User) != `{"a":1}` || string(again.Data) != `{"b":2}` || again.Details["k"] != "v" {
		t.Errorf("the stored session changed: %s %s %v", again.User, again.Data, again.Details)
	}
}

// Records order as sessions do: newest request_time first, then by id.
func TestRecordOrderIsSessionOrder(t *testing.T) {
	at := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	list := []*sessions.Session{
		{ID: "b", RequestTime: at}, {ID: "a", RequestTime: at}, {ID: "c", RequestTime: at.Add(time.Millisecond)},
		{ID: "d"}, {ID: "e", RequestTime: at.Add(-time.Hour)},
	}
	for _, a := range list {
		for _, b := range list {
			if got, want := newer(pack(a), pack(b)), sessions.Newer(a, b); got != want {
				t.Errorf("newer(%s, %s) = %d; sessions.Newer says %d", a.ID, b.ID, got, want)
			}
		}
	}
}

// A record matches a filter exactly when its session does.
func TestRecordMatchesAsSessionMatches(t *testing.T) {
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var list []*sessions.Session
	for i, active := range []bool{true, false} {
		for j, expire := range []time.Time{{}, at.Add(-time.Second), at.Add(time.Second)} {
			list = append(list, &sessions.Session{
				ID: fmt.Sprintf("s%d%d", i, j), UserID: []string{"u1", "u2"}[i], Client: []string{"web", "app", ""}[j],
				DeviceID: []string{"d1", ""}[i], ParentID: []string{"", "p1", "p2"}[j], PushAddress: []string{"a1", ""}[j%2],
				Active: active, ExpireTime: expire, RequestTime: at.Add(time.Duration(j-1) * time.Minute),
			})
		}
	}
	yes, no := true, false
	var filters []sessions.Filter
	for _, f := range []sessions.Filter{
		{}, {ID: "s01"}, {UserID: "u1"}, {UserID: "u3"}, {Client: "app"}, {DeviceID: "d1"},
		{ParentID: "p2"}, {PushAddress: "a1"}, {UserID: "u2", Client: "web"},
		{FromTime: at}, {ToTime: at}, {FromTime: at.Add(-time.Minute), ToTime: at.Add(time.Minute)},
		{FromTime: at.Add(time.Microsecond)}, {ToTime: at.Add(-time.Microsecond)},
	} {
		for _, active := range []*bool{nil, &yes, &no} {
			f.Active, f.Now = active, at
			filters = append(filters, f)
		}
	}
	for _, s := range list {
		r := pack(s)
		for _, f := range filters {
			if got, want := r.matches(&f), f.Match(s); got != want {
				t.Errorf("session %+v, filter %+v: record matches %v; session matches %v", s, f, got, want)
			}
		}
	}
}
