package sessions_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// TestAppendTimeMatchesTheLayout checks the hand-written date encoding
// against time.Time.AppendFormat with sessions.TimeLayout.
func TestAppendTimeMatchesTheLayout(t *testing.T) {
	zone := time.FixedZone("east", 5*3600+30*60)
	times := []time.Time{
		{},
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2024, 2, 29, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2024, 12, 31, 23, 30, 0, 1_000_000, zone),
		time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 15, 12, 0, 0, 5, time.UTC),
		time.UnixMilli(1_700_000_000_123).In(zone),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		sec := r.Int64N(500*365*24*3600) - 100*365*24*3600
		times = append(times, time.Unix(sec, r.Int64N(1e9)).In(zone))
	}
	for _, tm := range times {
		want := `"` + tm.UTC().Format(sessions.TimeLayout) + `"`
		if got := string(sessions.AppendTime(nil, tm)); got != want {
			t.Fatalf("%v: got %s; want %s", tm, got, want)
		}
	}
}

// FuzzAppendStringMatchesEncodingJSON checks the hand-written string
// encoding against encoding/json without HTML escaping, byte for byte:
// control characters, quotes, backslashes, U+2028/U+2029 and invalid UTF-8.
func FuzzAppendStringMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{"", "plain", `"quoted" \ back`, "\x00\x01\b\f\n\r\t\x1f\x7f", "<&>", "é 😀 \u2028\u2029", "\xff\xfe bad", "a\xe2\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := string(sessions.AppendString(nil, s)) + "\n"; got != want.String() {
			t.Fatalf("%q: got %s; want %s", s, got, want.String())
		}
	})
}

func TestDatesAreReadLeniently(t *testing.T) {
	want := time.Date(2026, 11, 22, 8, 30, 15, 123_000_000, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{`null`, time.Time{}},
		{`""`, time.Time{}},
		{`"2026-11-22T08:30:15.123Z"`, want},
		{`"2026-11-22T08:30:15.123456789Z"`, want},
		{`"2026-11-22T10:30:15.123+02:00"`, want},
		{`"2026-11-22T08:30:15.123"`, want},
		{`"2026-11-22"`, time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)},
		{`1795336215123`, want},
	} {
		var got sessions.Time
		if err := json.Unmarshal([]byte(tc.in), &got); err != nil || !time.Time(got).Equal(tc.want) {
			t.Errorf("%s: got %v, %v; want %v", tc.in, time.Time(got), err, tc.want)
		}
	}
	for _, in := range []string{`"yesterday"`, `"22/11/2026"`, `true`, `1.5`, `{}`} {
		var got sessions.Time
		if err := json.Unmarshal([]byte(in), &got); err == nil {
			t.Errorf("%s: got %v; want an error", in, time.Time(got))
		}
	}
}

// The fields of a session tagged nullable are the ones written as null when
// empty, as the Node service writes them; the OpenAPI document reads the
// same tag.
func TestFieldsTaggedNullableAreWrittenAsNullWhenEmpty(t *testing.T) {
	b, err := json.Marshal(&sessions.Session{ID: "s1", UserID: "u1", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	st := reflect.TypeFor[sessions.Session]()
	for i := range st.NumField() {
		name, _, _ := strings.Cut(st.Field(i).Tag.Get("json"), ",")
		v, present := got[name]
		tagged := st.Field(i).Tag.Get("nullable") == "true"
		switch {
		case tagged && (!present || v != nil):
			t.Errorf("%s is tagged nullable; written as %v (present %v) when empty", name, v, present)
		case !tagged && present && v == nil && st.Field(i).Type != reflect.TypeFor[json.RawMessage]():
			t.Errorf("%s is written as null when empty; tag it nullable", name)
		}
	}
}

func TestAHomesSessionsLeaveOutUserAndDataAsAPagesDo(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	s := &sessions.Session{ID: "s1", UserID: "u1", Active: true, OpenTime: now, RequestTime: now,
		User: json.RawMessage(`{"n":"bob"}`), Data: json.RawMessage(`{"x":1}`)}
	status := &sessions.HomeStatus{Home: sessions.Home{ID: "u1", MaxSessions: 2, Policy: sessions.PolicyDeny},
		ActiveCount: 1, Sessions: []*sessions.Session{s}}
	b, err := json.Marshal(status)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if got["id"] != "u1" || got["max_sessions"] != 2.0 || got["policy"] != "deny" || got["active_count"] != 1.0 {
		t.Errorf("home: got %s; want its id, max_sessions, policy and active_count", b)
	}
	list, _ := got["sessions"].([]any)
	if len(list) != 1 {
		t.Fatalf("sessions: got %s; want one", b)
	}
	item := list[0].(map[string]any)
	if _, ok := item["user"]; ok {
		t.Errorf("session: got %s; want no user", b)
	}
	if _, ok := item["data"]; ok {
		t.Errorf("session: got %s; want no data", b)
	}
	if item["id"] != "s1" {
		t.Errorf("session: got %s; want s1", b)
	}
}
