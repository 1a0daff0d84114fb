package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logging"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// mongoSettings returns the settings of a MongoDB persistence on database
// db of the server at uri. The operations get the longest timeout the
// store takes: the test server runs one write at a time, and on a loaded
// machine concurrent writers wait for each other for seconds. Tests of
// timeouts set their own.
func mongoSettings(uri, db string) container.Config {
	return container.Config{
		"collection": "sessions",
		"connection": map[string]any{"uri": uri, "database": db},
		"options": map[string]any{
			"connect_timeout":   "5000",
			"operation_timeout": "15000",
		},
	}
}

// openMongoDB returns an opened MongoDB persistence configured with cfg,
// closed when the test ends.
func openMongoDB(t *testing.T, cfg container.Config) *persistence.MongoDB {
	t.Helper()
	m := persistence.NewMongoDB()
	if err := m.Configure(cfg); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	if err := m.SetReferences(container.NewReferences()); err != nil {
		t.Fatalf("SetReferences: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Open(ctx); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return m
}

// newMongoDB returns an opened, empty MongoDB persistence on the shared
// server, in a database of its own.
func newMongoDB(t *testing.T) *persistence.MongoDB {
	t.Helper()
	uri := mongoURI(t)
	return openMongoDB(t, mongoSettings(uri, mongoDatabase(t, uri)))
}

// mongoCollection returns the raw collection behind a store opened with
// mongoSettings, to look at what is really stored.
func mongoCollection(t *testing.T, uri, db string) *mongo.Collection {
	t.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		if err := client.Disconnect(context.Background()); err != nil {
			t.Errorf("disconnect: %v", err)
		}
	})
	return client.Database(db).Collection("sessions")
}

// TestMongoDBPersistence runs the shared persistence contract against
// MongoDB, each subtest in a database of its own.
func TestMongoDBPersistence(t *testing.T) {
	uri := mongoURI(t)
	testPersistence(t, func(t *testing.T) logic.Persistence {
		t.Helper()
		return openMongoDB(t, mongoSettings(uri, mongoDatabase(t, uri)))
	})
}

var mongoT0 = time.Date(2026, 11, 21, 21, 34, 17, 379_000_000, time.UTC)

// mongoSample returns a session with every field set.
func mongoSample(id string) *sessions.Session {
	return &sessions.Session{
		ID: id, UserID: "u1", UserName: "Ann", Active: true,
		OpenTime: mongoT0, RequestTime: mongoT0.Add(time.Minute),
		Address: "10.0.0.1", Client: "web",
		User:     json.RawMessage(`{"name":"Ann","roles":["admin","user"],"n":3,"f":1.5,"ok":true,"none":null}`),
		Data:     json.RawMessage(`[1,"two",{"three":3}]`),
		DeviceID: "d1", ExpireTime: mongoT0.Add(time.Hour),
		Details: map[string]string{"os": "linux"}, ParentID: "p1", PushAddress: "room-1",
	}
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(t *testing.T, got, want []byte) bool {
	t.Helper()
	if len(got) == 0 || len(want) == 0 {
		return len(got) == len(want)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("decode %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("decode %s: %v", want, err)
	}
	gb, _ := json.Marshal(g) // values that just decoded always encode
	wb, _ := json.Marshal(w)
	return bytes.Equal(gb, wb)
}

// wire returns the session's JSON with user and data normalised, for
// comparing two sessions whole.
func wire(t *testing.T, s *sessions.Session) string {
	t.Helper()
	if s == nil {
		return "<nil>"
	}
	c := s.Clone()
	for _, p := range []*json.RawMessage{&c.User, &c.Data} {
		if len(*p) > 0 {
			var v any
			if err := json.Unmarshal(*p, &v); err != nil {
				t.Fatalf("decode %s: %v", *p, err)
			}
			*p, _ = json.Marshal(v) // a value that just decoded always encodes
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("encode session: %v", err)
	}
	return string(b)
}

func TestMongoDBRoundTrip(t *testing.T) {
	t.Parallel()
	payloads := []struct {
		name string
		json string
	}{
		{"object", `{"a":{"b":[1,2,{"c":"d"}]},"s":"x\"y<>&","big":1234567890123,"neg":-7,"f":0.25}`},
		{"array", `[1,"a",null,true,{"k":[]}]`},
		{"string", `"just a string"`},
		{"number", `42`},
		{"float", `2.5`},
		{"bool", `false`},
		{"empty object", `{}`},
		{"empty array", `[]`},
		{"unicode", `{"name":"Zoë 日本 \u2028"}`},
		{"absent", ``},
	}
	store := newMongoDB(t)
	ctx := context.Background()
	for i, p := range payloads {
		t.Run(p.name, func(t *testing.T) {
			s := mongoSample(fmt.Sprintf("%032x", i+1))
			s.User, s.Data = nil, nil
			if p.json != "" {
				s.User, s.Data = json.RawMessage(p.json), json.RawMessage(p.json)
			}
			created, err := store.Create(ctx, s)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			got, err := store.GetOneByID(ctx, s.ID)
			if err != nil {
				t.Fatalf("GetOneByID: %v", err)
			}
			if got == nil {
				t.Fatalf("GetOneByID: got nil; want the session")
			}
			for name, g := range map[string]json.RawMessage{"created user": created.User, "user": got.User, "data": got.Data} {
				if !sameJSON(t, g, []byte(p.json)) {
					t.Errorf("%s: got %s; want %s", name, g, p.json)
				}
			}
			if g, w := wire(t, got), wire(t, s); g != w {
				t.Errorf("GetOneByID:\ngot  %s\nwant %s", g, w)
			}
		})
	}
}

func TestMongoDBCRUD(t *testing.T) {
	t.Parallel()
	store := newMongoDB(t)
	ctx := context.Background()
	s := mongoSample("a1")
	s.OpenTime = s.OpenTime.Add(123456 * time.Nanosecond) // below a millisecond
	if _, err := store.Create(ctx, s); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := store.Create(ctx, mongoSample("a1")); sessions.AsError(err) == nil || sessions.AsError(err).Category != sessions.CategoryConflict {
		t.Errorf("Create duplicate: got %v; want a Conflict error", err)
	}
	if _, err := store.Create(ctx, mongoSample("")); sessions.AsError(err) == nil || sessions.AsError(err).Code != sessions.CodeInvalidData {
		t.Errorf("Create without id: got %v; want code %s", err, sessions.CodeInvalidData)
	}
	got, err := store.GetOneByID(ctx, "a1")
	if err != nil || got == nil {
		t.Fatalf("GetOneByID: got %v, %v; want the session", got, err)
	}
	if want := mongoT0; !got.OpenTime.Equal(want) || got.OpenTime.Location() != time.UTC {
		t.Errorf("open_time: got %v; want %v in UTC", got.OpenTime, want)
	}
	if got, err := store.GetOneByID(ctx, "missing"); got != nil || err != nil {
		t.Errorf("GetOneByID(missing): got %v, %v; want nil, nil", got, err)
	}
	if got, err := store.Update(ctx, "missing", sessions.Update{RequestTime: mongoT0}); got != nil || err != nil {
		t.Errorf("Update(missing): got %v, %v; want nil, nil", got, err)
	}
	deleted, err := store.DeleteByID(ctx, "a1")
	if err != nil || deleted == nil || deleted.ID != "a1" {
		t.Fatalf("DeleteByID: got %v, %v; want session a1", deleted, err)
	}
	if !sameJSON(t, deleted.User, s.User) {
		t.Errorf("deleted user: got %s; want %s", deleted.User, s.User)
	}
	if got, err := store.DeleteByID(ctx, "a1"); got != nil || err != nil {
		t.Errorf("DeleteByID again: got %v, %v; want nil, nil", got, err)
	}
	if got, err := store.GetOneByID(ctx, "a1"); got != nil || err != nil {
		t.Errorf("GetOneByID after delete: got %v, %v; want nil, nil", got, err)
	}
}

// TestMongoDBUpdate checks that Update does to a stored session exactly
// what Update.Apply does in memory.
func TestMongoDBUpdate(t *testing.T) {
	t.Parallel()
	later := mongoT0.Add(time.Hour)
	closed := func(s *sessions.Session) { s.Active, s.CloseTime, s.CloseReason = false, mongoT0, "closed" }
	tests := []struct {
		name  string
		setup func(s *sessions.Session)
		u     sessions.Update
	}{
		{"nothing", nil, sessions.Update{}},
		{"data", nil, sessions.Update{Data: json.RawMessage(`{"cart":[1,2]}`), RequestTime: later}},
		{"user", nil, sessions.Update{User: json.RawMessage(`"bob"`), RequestTime: later}},
		{"null data clears", nil, sessions.Update{Data: json.RawMessage(`null`)}},
		{"renew", nil, sessions.Update{RequestTime: later, ExpireTime: later.Add(2 * time.Minute)}},
		{"push address", nil, sessions.Update{PushAddress: "room-2"}},
		{"details merge", nil, sessions.Update{Details: map[string]string{"os": "", "app": "tv", "v": "2"}}},
		{"details into none", func(s *sessions.Session) { s.Details = nil }, sessions.Update{Details: map[string]string{"app": "tv"}}},
		{"details emptied", nil, sessions.Update{Details: map[string]string{"os": ""}}},
		{"close", nil, sessions.Update{Data: json.RawMessage(`1`), Close: &sessions.Closing{Time: later, Reason: sessions.ReasonClosed}}},
		{"close evicted if active", nil, sessions.Update{IfActive: true, Close: &sessions.Closing{Time: later, Reason: sessions.ReasonEvicted}}},
		{"if active on closed", closed, sessions.Update{IfActive: true, RequestTime: later}},
		{"closed without if active", closed, sessions.Update{RequestTime: later}},
	}
	store := newMongoDB(t)
	ctx := context.Background()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mongoSample(fmt.Sprintf("u%02d", i))
			if tt.setup != nil {
				tt.setup(s)
			}
			if _, err := store.Create(ctx, s); err != nil {
				t.Fatalf("Create: %v", err)
			}
			want := s.Clone()
			applied := tt.u.Apply(want)
			got, err := store.Update(ctx, s.ID, tt.u)
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			if !applied {
				if got != nil {
					t.Errorf("Update: got %s; want nil", wire(t, got))
				}
				want = s
			} else if g, w := wire(t, got), wire(t, want); g != w {
				t.Errorf("Update result:\ngot  %s\nwant %s", g, w)
			}
			stored, err := store.GetOneByID(ctx, s.ID)
			if err != nil {
				t.Fatalf("GetOneByID: %v", err)
			}
			if g, w := wire(t, stored), wire(t, want); g != w {
				t.Errorf("stored:\ngot  %s\nwant %s", g, w)
			}
		})
	}
}

// TestMongoDBKeepsAnyDetailKey checks that details keep any key, as the
// memory and file stores do, including keys MongoDB cannot take as field
// names, at open and through merges.
func TestMongoDBKeepsAnyDetailKey(t *testing.T) {
	t.Parallel()
	uri := mongoURI(t)
	db := mongoDatabase(t, uri)
	store := openMongoDB(t, mongoSettings(uri, db))
	ctx := context.Background()
	keys := []string{"a.b", "$set", "", "a%2Eb", "%", "a$", "100%", " edge ", "x y", "é"}
	s := mongoSample("k1")
	for i, k := range keys {
		s.Details[k] = fmt.Sprint("v", i)
	}
	if _, err := store.Create(ctx, s); err != nil {
		t.Fatalf("Create: %v", err)
	}
	got, err := store.GetOneByID(ctx, s.ID)
	if err != nil || got == nil {
		t.Fatalf("GetOneByID: got %v, %v; want the session", got, err)
	}
	if g, w := wire(t, got), wire(t, s); g != w {
		t.Errorf("GetOneByID:\ngot  %s\nwant %s", g, w)
	}
	want := s.Clone()
	steps := []map[string]string{
		{"a.b": "", "$set": "changed", "": "", "b.c": "new", "$new": "new", "%": ""},
		{"$set": "", "b.c": "", "a%2Eb": "", "new.": "x"},
		// FerretDB refuses an update path whose part begins or ends with
		// white space; such keys are kept escaped, so both servers take them.
		{" edge ": "changed", "\tx": "tab"},
		{" edge ": ""},
	}
	for i, details := range steps {
		u := sessions.Update{Details: details}
		u.Apply(want)
		got, err := store.Update(ctx, s.ID, u)
		if err != nil {
			t.Fatalf("Update %d: %v", i, err)
		}
		if g, w := wire(t, got), wire(t, want); g != w {
			t.Errorf("Update %d:\ngot  %s\nwant %s", i, g, w)
		}
	}
}

// mongoPayloads are JSON payloads that must read back from MongoDB as
// exactly the text stored, as from the other stores; native tells whether
// they are kept as native BSON values (the rest are kept as JSON text).
var mongoPayloads = []struct {
	name, json string
	native     bool
}{
	{"object", `{"name":"Ann","roles":["admin","user"],"n":3,"f":1.5,"ok":true,"none":null,"big":9007199254740993}`, true},
	{"key order", `{"z":1,"a":{"y":2,"b":3}}`, true},
	{"escapes", `"q\"b\\n\nt\u0001<>&é日本"`, true},
	{"number", `0.1`, true},
	{"key with spaces", `{" x ":1}`, true},
	{"_id first", `{"_id":1,"o":{"_id":"abc","n":"n"},"a":[{"_id":2,"x":1}]}`, true},
	{"extended JSON lookalike", `{"$numberLong":"5"}`, false},
	{"date lookalike", `{"$date":"yesterday"}`, false},
	{"dotted key", `{"a.b":{"c":1}}`, false},
	{"empty key", `{"":1}`, false},
	{"repeated key", `{"a":1,"a":2}`, false},
	{"_id after another key", `{"a":1,"_id":2}`, false},
	{"_id after another key in an array", `[{"x":1,"_id":2}]`, false},
	{"_id after another key deep inside", `{"o":{"n":"n","_id":"abc"}}`, false},
	{"nested arrays", `[[1,2],[3]]`, false},
	{"huge exponent", `1e400`, false},
	{"big integer", `123456789012345678901234567890`, false},
	{"trailing zero", `1.0`, false},
	{"negative zero", `-0`, false},
	{"escaped letter", `"\u00e9"`, false},
}

// TestMongoDBPayloadsRoundTripExactly stores each payload at open and by
// update, in place of a payload of the other form, and reads it back.
func TestMongoDBPayloadsRoundTripExactly(t *testing.T) {
	t.Parallel()
	uri := mongoURI(t)
	db := mongoDatabase(t, uri)
	store := openMongoDB(t, mongoSettings(uri, db))
	coll := mongoCollection(t, uri, db)
	ctx := context.Background()
	for i, p := range mongoPayloads {
		t.Run(p.name, func(t *testing.T) {
			s := mongoSample(fmt.Sprintf("%032x", i+1))
			s.User, s.Data = json.RawMessage(p.json), json.RawMessage(p.json)
			created, err := store.Create(ctx, s)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			got, err := store.GetOneByID(ctx, s.ID)
			if err != nil || got == nil {
				t.Fatalf("GetOneByID: got %v, %v; want the session", got, err)
			}
			for name, g := range map[string]json.RawMessage{"created user": created.User, "user": got.User, "data": got.Data} {
				if string(g) != p.json {
					t.Errorf("%s: got %s; want %s", name, g, p.json)
				}
			}
			var raw bson.Raw
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: s.ID}}).Decode(&raw); err != nil {
				t.Fatalf("find: %v", err)
			}
			_, nativeErr := raw.LookupErr("data")
			text, textErr := raw.LookupErr("data_json")
			if native := nativeErr == nil; native != p.native || (textErr == nil) == p.native {
				t.Errorf("stored data native %t, text %v; want native %t", native, text, p.native)
			}

			// Replace each payload with one of the other form, then with
			// this one again: a document keeps one form of each.
			other := `{"plain":true}`
			if !p.native {
				other = `{"$other":true}`
			}
			for _, next := range []string{other, p.json} {
				got, err := store.Update(ctx, s.ID, sessions.Update{User: json.RawMessage(next), Data: json.RawMessage(next)})
				if err != nil || got == nil {
					t.Fatalf("Update to %s: got %v, %v; want the session", next, got, err)
				}
				if string(got.User) != next || string(got.Data) != next {
					t.Errorf("Update to %s: got user %s, data %s", next, got.User, got.Data)
				}
			}
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: s.ID}}).Decode(&raw); err != nil {
				t.Fatalf("find: %v", err)
			}
			_, nativeErr = raw.LookupErr("user")
			_, textErr = raw.LookupErr("user_json")
			if (nativeErr == nil) != p.native || (textErr == nil) == p.native {
				t.Errorf("after updates: stored %s; want user in one form only", raw)
			}

			page, err := store.GetPageByFilter(ctx, sessions.Filter{ID: s.ID}, sessions.Paging{Take: 1})
			if err != nil || len(page.Data) != 1 || page.Data[0].User != nil || page.Data[0].Data != nil {
				t.Errorf("GetPageByFilter: got %v, %v; want the session without payloads", page, err)
			}
			closed, err := store.Update(ctx, s.ID, sessions.Update{Close: &sessions.Closing{Time: mongoT0, Reason: sessions.ReasonClosed}})
			if err != nil || closed == nil || closed.User != nil || closed.Data != nil {
				t.Errorf("close: got %v, %v; want a closed session without payloads", closed, err)
			}
		})
	}
}

// TestMongoDBServiceKeepsAnyJSONPayload checks over HTTP that a valid JSON
// payload is never a 500 on MongoDB and is never rewritten, whichever
// command stores it.
func TestMongoDBServiceKeepsAnyJSONPayload(t *testing.T) {
	base := startMongoService(t, mongoParams(t))
	for _, p := range mongoPayloads {
		t.Run(p.name, func(t *testing.T) {
			r := command(t, base, "open_session", `{"user_id":"u","user":`+p.json+`,"data":`+p.json+`}`)
			wantStatus(t, r, http.StatusOK)
			var s struct {
				ID   string          `json:"id"`
				User json.RawMessage `json:"user"`
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(r.Body, &s); err != nil {
				t.Fatalf("open_session: %v", err)
			}
			if string(s.User) != p.json || string(s.Data) != p.json {
				t.Errorf("open_session: got user %s, data %s; want %s", s.User, s.Data, p.json)
			}
			wantStatus(t, command(t, base, "store_session_data", `{"session_id":"`+s.ID+`","data":[]}`), http.StatusOK)
			wantStatus(t, command(t, base, "update_session_user", `{"session_id":"`+s.ID+`","user":"x"}`), http.StatusOK)
			for _, c := range []struct{ name, arg string }{{"store_session_data", "data"}, {"update_session_user", "user"}} {
				r := command(t, base, c.name, `{"session_id":"`+s.ID+`","`+c.arg+`":`+p.json+`}`)
				wantStatus(t, r, http.StatusOK)
			}
			r = command(t, base, "get_session_by_id", map[string]string{"session_id": s.ID})
			wantStatus(t, r, http.StatusOK)
			if err := json.Unmarshal(r.Body, &s); err != nil {
				t.Fatalf("get_session_by_id: %v", err)
			}
			if string(s.User) != p.json || string(s.Data) != p.json {
				t.Errorf("get_session_by_id: got user %s, data %s; want %s", s.User, s.Data, p.json)
			}
		})
	}
}

// TestMongoDBPages compares every filter and page against the filter's
// own Match and the Newer order over the same sessions.
func TestMongoDBPages(t *testing.T) {
	t.Parallel()
	store := newMongoDB(t)
	ctx := context.Background()
	now := mongoT0.Add(10 * time.Minute)
	var all []*sessions.Session
	for i := range 24 {
		s := &sessions.Session{
			ID:          fmt.Sprintf("%032x", 1000+i),
			UserID:      fmt.Sprintf("user-%d", i%3),
			Active:      i%4 != 0,
			OpenTime:    mongoT0,
			RequestTime: mongoT0.Add(time.Duration(i/2) * time.Minute), // pairs share a time: ties by id
			Client:      []string{"web", "tv", ""}[i%3],
			DeviceID:    fmt.Sprintf("dev-%d", i%5),
			ParentID:    []string{"", "p1"}[i%2],
			User:        json.RawMessage(`{"secret":true}`),
			Data:        json.RawMessage(`[1]`),
		}
		switch i % 6 {
		case 1:
			s.ExpireTime = now.Add(-time.Second) // lapsed
		case 2:
			s.ExpireTime = now // lapses exactly now
		case 3:
			s.ExpireTime = now.Add(time.Second)
		}
		if !s.Active {
			s.CloseTime, s.CloseReason = now, sessions.ReasonClosed
		}
		if _, err := store.Create(ctx, s); err != nil {
			t.Fatalf("Create: %v", err)
		}
		all = append(all, s)
	}
	yes, no := true, false
	filters := []struct {
		name string
		f    sessions.Filter
	}{
		{"all", sessions.Filter{}},
		{"id", sessions.Filter{ID: all[5].ID}},
		{"user", sessions.Filter{UserID: "user-1"}},
		{"client", sessions.Filter{Client: "tv"}},
		{"device", sessions.Filter{DeviceID: "dev-2"}},
		{"parent", sessions.Filter{ParentID: "p1"}},
		{"active", sessions.Filter{Active: &yes}},
		{"inactive", sessions.Filter{Active: &no}},
		{"from", sessions.Filter{FromTime: mongoT0.Add(5 * time.Minute)}},
		{"to", sessions.Filter{ToTime: mongoT0.Add(5 * time.Minute)}},
		{"from to", sessions.Filter{FromTime: mongoT0.Add(2 * time.Minute), ToTime: mongoT0.Add(8 * time.Minute)}},
		{"user active range", sessions.Filter{UserID: "user-2", Active: &yes, FromTime: mongoT0.Add(time.Minute)}},
		{"device inactive", sessions.Filter{DeviceID: "dev-1", Active: &no}},
		{"parent client", sessions.Filter{ParentID: "p1", Client: "web"}},
		{"no match", sessions.Filter{UserID: "nobody"}},
	}
	pagings := []sessions.Paging{
		{Skip: 0, Take: 100, Total: true},
		{Skip: 0, Take: 5},
		{Skip: 3, Take: 4, Total: true},
		{Skip: 30, Take: 10, Total: true},
	}
	for _, tt := range filters {
		tt.f.Now = now
		var want []*sessions.Session
		for _, s := range all {
			if tt.f.Match(s) {
				want = append(want, s)
			}
		}
		slices.SortFunc(want, sessions.Newer)
		for _, p := range pagings {
			t.Run(fmt.Sprintf("%s/skip=%d,take=%d,total=%t", tt.name, p.Skip, p.Take, p.Total), func(t *testing.T) {
				page, err := store.GetPageByFilter(ctx, tt.f, p)
				if err != nil {
					t.Fatalf("GetPageByFilter: %v", err)
				}
				if p.Total {
					if page.Total == nil || *page.Total != int64(len(want)) {
						t.Errorf("total: got %v; want %d", page.Total, len(want))
					}
				} else if page.Total != nil {
					t.Errorf("total: got %d; want nil", *page.Total)
				}
				w := want[min(int(p.Skip), len(want)):]
				w = w[:min(int(p.Take), len(w))]
				var gotIDs, wantIDs []string
				for _, s := range page.Data {
					gotIDs = append(gotIDs, s.ID)
					if s.User != nil || s.Data != nil {
						t.Errorf("session %s: got user %s, data %s; want neither", s.ID, s.User, s.Data)
					}
				}
				for _, s := range w {
					wantIDs = append(wantIDs, s.ID)
				}
				if !slices.Equal(gotIDs, wantIDs) {
					t.Errorf("ids:\ngot  %v\nwant %v", gotIDs, wantIDs)
				}
				if page.Data == nil {
					t.Errorf("data: got nil; want an empty list")
				}
			})
		}
	}
}

// TestMongoDBReadsNodeDocuments checks that documents as the Node service
// stores them (nulls for absent values, dates, native payloads) load.
func TestMongoDBReadsNodeDocuments(t *testing.T) {
	t.Parallel()
	uri := mongoURI(t)
	db := mongoDatabase(t, uri)
	store := openMongoDB(t, mongoSettings(uri, db))
	coll := mongoCollection(t, uri, db)
	ctx := context.Background()
	doc := bson.D{
		{Key: "_id", Value: "8f14e45fceea167a5a36dedd4bea2543"},
		{Key: "user_id", Value: "1"},
		{Key: "user_name", Value: nil},
		{Key: "active", Value: true},
		{Key: "open_time", Value: mongoT0},
		{Key: "request_time", Value: mongoT0},
		{Key: "close_time", Value: nil},
		{Key: "address", Value: "127.0.0.1"},
		{Key: "client", Value: nil},
		{Key: "user", Value: bson.D{{Key: "id", Value: "1"}, {Key: "name", Value: "Test User"}, {Key: "n", Value: int32(5)}}},
		{Key: "data", Value: nil},
	}
	if _, err := coll.InsertOne(ctx, doc); err != nil {
		t.Fatalf("insert: %v", err)
	}
	got, err := store.GetOneByID(ctx, "8f14e45fceea167a5a36dedd4bea2543")
	if err != nil || got == nil {
		t.Fatalf("GetOneByID: got %v, %v; want the session", got, err)
	}
	want := &sessions.Session{
		ID: "8f14e45fceea167a5a36dedd4bea2543", UserID: "1", Active: true,
		OpenTime: mongoT0, RequestTime: mongoT0, Address: "127.0.0.1",
		User: json.RawMessage(`{"id":"1","name":"Test User","n":5}`),
	}
	if g, w := wire(t, got), wire(t, want); g != w {
		t.Errorf("got  %s\nwant %s", g, w)
	}
	closed, err := store.Update(ctx, want.ID, sessions.Update{Close: &sessions.Closing{Time: mongoT0, Reason: sessions.ReasonClosed}})
	if err != nil || closed == nil || closed.Active || closed.User != nil {
		t.Errorf("close: got %v, %v; want a closed session without user", closed, err)
	}
}

// TestMongoDBStoresNativeDocuments checks what lands in the collection:
// _id, BSON dates, payloads as native BSON, no empty optional fields.
func TestMongoDBStoresNativeDocuments(t *testing.T) {
	t.Parallel()
	uri := mongoURI(t)
	db := mongoDatabase(t, uri)
	store := openMongoDB(t, mongoSettings(uri, db))
	coll := mongoCollection(t, uri, db)
	ctx := context.Background()
	s := &sessions.Session{ID: "n1", UserID: "u", Active: true, OpenTime: mongoT0, RequestTime: mongoT0,
		User: json.RawMessage(`{"name":"Ann"}`), Data: json.RawMessage(`[1,2]`)}
	if _, err := store.Create(ctx, s); err != nil {
		t.Fatalf("Create: %v", err)
	}
	var raw bson.Raw
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "n1"}}).Decode(&raw); err != nil {
		t.Fatalf("find: %v", err)
	}
	types := map[string]bson.Type{
		"_id": bson.TypeString, "open_time": bson.TypeDateTime, "request_time": bson.TypeDateTime,
		"user": bson.TypeEmbeddedDocument, "data": bson.TypeArray, "active": bson.TypeBoolean,
	}
	for key, want := range types {
		v, err := raw.LookupErr(key)
		if err != nil {
			t.Errorf("%s: got no field; want %s", key, want)
			continue
		}
		if v.Type != want {
			t.Errorf("%s: got %s; want %s", key, v.Type, want)
		}
	}
	for _, key := range []string{"id", "close_time", "expire_time", "details", "device_id", "user_name"} {
		if _, err := raw.LookupErr(key); err == nil {
			t.Errorf("%s: got a field; want none", key)
		}
	}
}

// TestMongoDBIndexes checks that Open creates an index for every filter key
// and for the page order, so no query scans the collection.
func TestMongoDBIndexes(t *testing.T) {
	t.Parallel()
	uri := mongoURI(t)
	db := mongoDatabase(t, uri)
	openMongoDB(t, mongoSettings(uri, db))
	coll := mongoCollection(t, uri, db)
	ctx := context.Background()
	cur, err := coll.Indexes().List(ctx)
	if err != nil {
		t.Fatalf("list indexes: %v", err)
	}
	var specs []struct {
		Name string `bson:"name"`
		Key  bson.D `bson:"key"`
	}
	if err := cur.All(ctx, &specs); err != nil {
		t.Fatalf("read indexes: %v", err)
	}
	var indexes []string
	for _, s := range specs {
		var parts []string
		for _, e := range s.Key {
			parts = append(parts, fmt.Sprintf("%s:%v", e.Key, e.Value))
		}
		indexes = append(indexes, strings.Join(parts, ","))
	}
	sort := "request_time:-1,_id:-1"
	tests := []struct {
		name   string
		prefix string // an index must start with this
	}{
		{"id", "_id:1"},
		{"user_id in page order", "user_id:1," + sort},
		{"device_id in page order", "device_id:1," + sort},
		{"parent_id in page order", "parent_id:1," + sort},
		{"push_address in page order", "push_address:1," + sort},
		{"client in page order", "client:1," + sort},
		{"active in page order", "active:1," + sort},
		{"lapsed leases", "active:1,expire_time:1"},
		{"page order and time range", sort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !slices.ContainsFunc(indexes, func(ix string) bool { return ix == tt.prefix || strings.HasPrefix(ix, tt.prefix+",") }) {
				t.Errorf("got indexes %v; want one starting with %s", indexes, tt.prefix)
			}
		})
	}
	// Opening again on the same collection keeps working.
	openMongoDB(t, mongoSettings(uri, db))
}

// TestMongoDBInstancesStartingTogetherOnAFreshDatabaseAllStart opens four
// stores at once on each of three empty databases: each builds the same
// indexes, and every start succeeds.
func TestMongoDBInstancesStartingTogetherOnAFreshDatabaseAllStart(t *testing.T) {
	t.Parallel()
	uri := mongoURI(t)
	for range 3 {
		cfg := mongoSettings(uri, mongoDatabase(t, uri))
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				m := persistence.NewMongoDB()
				if errs[i] = m.Configure(cfg); errs[i] != nil {
					return
				}
				if errs[i] = m.SetReferences(container.NewReferences()); errs[i] != nil {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if errs[i] = m.Open(ctx); errs[i] == nil {
					errs[i] = m.Close(ctx)
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("instance %d: %v", i, err)
			}
		}
	}
}

// TestMongoDBIndexBuildThatCannotSucceedFailsTheStartAtOnce opens a store
// on a database whose places hold two slots of one place, so the unique
// place index cannot be built: the start fails at the first build, without
// the tries a concurrent build calls for.
func TestMongoDBIndexBuildThatCannotSucceedFailsTheStartAtOnce(t *testing.T) {
	t.Parallel()
	uri := mongoURI(t)
	db := mongoDatabase(t, uri)
	slots := mongoCollection(t, uri, db).Database().Collection("sessions_slots")
	for _, id := range []string{"a", "b"} {
		if _, err := slots.InsertOne(t.Context(), bson.D{{Key: "_id", Value: id}, {Key: "home_id", Value: "acct"}, {Key: "index", Value: 0}}); err != nil {
			t.Fatal(err)
		}
	}
	core, logs := observer.New(zapcore.InfoLevel)
	refs := container.NewReferences()
	refs.Put(logging.Locator, zap.New(core))
	m := persistence.NewMongoDB()
	if err := m.Configure(mongoSettings(uri, db)); err != nil {
		t.Fatal(err)
	}
	if err := m.SetReferences(refs); err != nil {
		t.Fatal(err)
	}
	err := m.Open(t.Context())
	if err == nil {
		m.Close(t.Context())
		t.Fatal("Open: got no error; want the place index's build refused")
	}
	if !strings.Contains(err.Error(), "create indexes on "+db+".sessions_slots") {
		t.Errorf("Open: got %v; want the build of the places' indexes refused", err)
	}
	if n := logs.FilterMessageSnippet("looking again").Len(); n != 0 {
		t.Errorf("tries logged: got %d; want none for a build that cannot succeed", n)
	}
}

// storeOnOwnServer starts a FerretDB server of the test's own, which it
// may stop, and opens a store on it with the timeouts given, holding one
// session, "before".
func storeOnOwnServer(t *testing.T, connectTimeout, opTimeout time.Duration) (*mongoServer, *persistence.MongoDB) {
	t.Helper()
	server := startMongoServer(t)
	cfg := mongoSettings(server.URI(), "own")
	cfg["options"] = map[string]any{"connect_timeout": fmt.Sprint(connectTimeout.Milliseconds()),
		"operation_timeout": fmt.Sprint(opTimeout.Milliseconds())}
	store := openMongoDB(t, cfg)
	if _, err := store.Create(context.Background(), mongoSample("before")); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return server, store
}

// TestMongoDBOutage stops the database under an open store, expects quick
// STORE_UNAVAILABLE errors, then restarts it and expects the same store to
// work again without being reopened.
func TestMongoDBOutage(t *testing.T) {
	t.Parallel()
	const opTimeout = time.Second
	server, store := storeOnOwnServer(t, 5*time.Second, opTimeout)
	ctx := context.Background()

	server.Stop(t)
	ops := []struct {
		name string
		call func() error
	}{
		{"GetOneByID", func() error { _, err := store.GetOneByID(ctx, "before"); return err }},
		{"Create", func() error { _, err := store.Create(ctx, mongoSample("during")); return err }},
		{"Update", func() error {
			_, err := store.Update(ctx, "before", sessions.Update{RequestTime: mongoT0})
			return err
		}},
		{"GetPageByFilter", func() error {
			_, err := store.GetPageByFilter(ctx, sessions.Filter{UserID: "u1"}, sessions.Paging{Take: 10, Total: true})
			return err
		}},
		{"DeleteByID", func() error { _, err := store.DeleteByID(ctx, "before"); return err }},
		{"ExpiredIDs", func() error {
			_, err := store.ExpiredIDs(ctx, sessions.Expiry{IdleBefore: mongoT0, Now: mongoT0})
			return err
		}},
	}
	for _, op := range ops {
		t.Run("down/"+op.name, func(t *testing.T) {
			start := time.Now()
			err := op.call()
			took := time.Since(start)
			var e *sessions.Error
			if !errors.As(err, &e) || e.Code != sessions.CodeStoreUnavailable || e.Category != sessions.CategoryNoResponse {
				t.Errorf("got error %v; want a *sessions.Error with code %s", err, sessions.CodeStoreUnavailable)
			}
			if limit := opTimeout + 2*time.Second; took > limit { // still short of the 5 s connect timeout
				t.Errorf("failed after %v; want at most %v", took, limit)
			}
		})
	}

	server.Start(t)
	// The driver finds the server again by itself; give it a few tries.
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := store.GetOneByID(ctx, "before")
		if err == nil {
			if got == nil || got.ID != "before" {
				t.Fatalf("GetOneByID after restart: got %v; want session before", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetOneByID after restart: still failing after 15s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, op := range ops {
		t.Run("up/"+op.name, func(t *testing.T) {
			if err := op.call(); err != nil {
				t.Errorf("got error %v; want none", err)
			}
		})
	}
}

// TestMongoDBNotOpen checks that a store used before Open answers
// STORE_UNAVAILABLE instead of crashing.
func TestMongoDBNotOpen(t *testing.T) {
	t.Parallel()
	store := persistence.NewMongoDB()
	ctx := context.Background()
	ops := []struct {
		name string
		call func() error
	}{
		{"GetOneByID", func() error { _, err := store.GetOneByID(ctx, "x"); return err }},
		{"Create", func() error { _, err := store.Create(ctx, mongoSample("x")); return err }},
		{"Update", func() error { _, err := store.Update(ctx, "x", sessions.Update{RequestTime: mongoT0}); return err }},
		{"GetPageByFilter", func() error {
			_, err := store.GetPageByFilter(ctx, sessions.Filter{}, sessions.Paging{Take: 1})
			return err
		}},
		{"DeleteByID", func() error { _, err := store.DeleteByID(ctx, "x"); return err }},
		{"ExpiredIDs", func() error {
			_, err := store.ExpiredIDs(ctx, sessions.Expiry{IdleBefore: mongoT0, Now: mongoT0})
			return err
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			if e := sessions.AsError(op.call()); e == nil || e.Code != sessions.CodeStoreUnavailable {
				t.Errorf("got %v; want code %s", e, sessions.CodeStoreUnavailable)
			}
		})
	}
	if err := store.Close(ctx); err != nil {
		t.Errorf("Close before Open: got %v; want nil", err)
	}
}

// A database that answers the start with a refusal, of the login here, is
// told as one at once, not as a database that did not answer in time.
func TestMongoDBThatRefusesTheLoginSaysSo(t *testing.T) {
	hosts := strings.TrimPrefix(mongoURI(t), "mongodb://")
	hosts, _, _ = strings.Cut(hosts, "/")
	if at := strings.LastIndex(hosts, "@"); at >= 0 { // a MONGO_URI's own login goes
		hosts = hosts[at+1:]
	}
	m := persistence.NewMongoDB()
	if err := m.Configure(container.Config{
		"connection": map[string]any{"uri": "mongodb://" + hosts + "/app?authMechanism=SCRAM-SHA-256"},
		"credential": map[string]any{"username": "nobody", "password": "s3cret-pw"},
	}); err != nil {
		t.Fatal(err)
	}
	err := m.Open(context.Background())
	if err == nil {
		_ = m.Close(context.Background())
		t.Fatal("Open: got no error; want the login refused")
	}
	if msg := err.Error(); !strings.Contains(msg, "refused the connection") || strings.Contains(msg, "s3cret-pw") {
		t.Errorf("Open: got %q; want the refusal told as one, without the password", msg)
	}
}

// TestMongoDBUnreachable checks that start-up against an address where no
// database listens fails after the connect timeout, with one line naming
// the server and never the password.
func TestMongoDBUnreachable(t *testing.T) {
	t.Parallel()
	free, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	addr := free.String()
	host, port, _ := strings.Cut(addr, ":")
	tests := []struct {
		name string
		cfg  container.Config
		want string
	}{
		{"host and port", container.Config{
			"connection": map[string]any{"uri": "", "host": host, "port": port, "database": "app"},
			"credential": map[string]any{"username": "admin", "password": "s3cret-pw"},
		}, addr + "/app"},
		{"uri", container.Config{
			"connection": map[string]any{"uri": "mongodb://admin:s3cret-pw@" + addr + "/app"},
		}, addr},
	}
	const connectTimeout = 700 * time.Millisecond
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg["options"] = map[string]any{"connect_timeout": fmt.Sprint(connectTimeout.Milliseconds())}
			m := persistence.NewMongoDB()
			if err := m.Configure(tt.cfg); err != nil {
				t.Fatalf("Configure: %v", err)
			}
			start := time.Now()
			err := m.Open(context.Background())
			took := time.Since(start)
			if err == nil {
				_ = m.Close(context.Background()) // unexpected success
				t.Fatalf("Open: got no error; want one")
			}
			msg := err.Error()
			t.Logf("Open: %s", msg)
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, "did not answer within") {
				t.Errorf("Open: got %q; want a message naming %s", msg, tt.want)
			}
			if strings.Contains(msg, "s3cret-pw") || strings.Contains(msg, "\n") {
				t.Errorf("Open: got %q; want one line without the password", msg)
			}
			if took < connectTimeout-50*time.Millisecond || took > connectTimeout+2*time.Second {
				t.Errorf("Open failed after %v; want about %v", took, connectTimeout)
			}
		})
	}
}

func TestMongoDBConfigure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     container.Config
		wantErr string
	}{
		{"defaults", container.Config{}, ""},
		{"node config without uri", container.Config{
			"collection": "sessions",
			"connection": map[string]any{"uri": "", "host": "localhost", "port": "27017", "database": "app"},
			"credential": map[string]any{"username": "", "password": ""},
		}, ""},
		{"uri", container.Config{"connection": map[string]any{"uri": "mongodb://h1:1,h2:2/db?replicaSet=rs"}}, ""},
		{"bad uri", container.Config{"connection": map[string]any{"uri": "mysql://u:topsecret@h/db"}}, "connection.uri"},
		{"bad port", container.Config{"connection": map[string]any{"port": "http"}}, "connection.port"},
		{"port out of range", container.Config{"connection": map[string]any{"port": "70000"}}, "connection.port"},
		{"bad pool", container.Config{"options": map[string]any{"max_pool_size": "many"}}, "options.max_pool_size"},
		{"negative timeout", container.Config{"options": map[string]any{"operation_timeout": "-1"}}, "options.operation_timeout"},
		{"longest timeout", container.Config{"options": map[string]any{"operation_timeout": "15000"}}, ""},
		{"timeout past a quarter of the grace of a place", container.Config{"options": map[string]any{"operation_timeout": "15001"}}, "options.operation_timeout"},
		{"bad connect timeout", container.Config{"options": map[string]any{"connect_timeout": "soon"}}, "options.connect_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := persistence.NewMongoDB().Configure(tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v; want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %v; want an error naming %s", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "topsecret"):
				t.Errorf("got %v; want no password", err)
			}
		})
	}
}

// An index a previous deployment made with the same keys under another
// name is kept, in every collection, rather than failing the start; but
// the places of homes must be unique, and an index on them that is not
// stops the start, as it would let a quota be exceeded.
func TestMongoDBKeepsIndexesMadeUnderOtherNamesButNotANonUniquePlaceIndex(t *testing.T) {
	uri := mongoURI(t)
	legacy := func(t *testing.T, coll *mongo.Collection, keys bson.D, unique ...bool) {
		t.Helper()
		opts := options.Index().SetName("legacy")
		if len(unique) > 0 {
			opts.SetUnique(unique[0])
		}
		if _, err := coll.Indexes().CreateOne(t.Context(), mongo.IndexModel{Keys: keys, Options: opts}); err != nil {
			t.Fatal(err)
		}
	}
	indexNames := func(t *testing.T, coll *mongo.Collection) []string {
		t.Helper()
		names, err := coll.Indexes().ListSpecifications(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range names {
			out = append(out, n.Name)
		}
		slices.Sort(out)
		return out
	}
	open := func(db string) error {
		m := persistence.NewMongoDB()
		if err := m.Configure(mongoSettings(uri, db)); err != nil {
			return err
		}
		if err := m.SetReferences(container.NewReferences()); err != nil {
			return err
		}
		if err := m.Open(t.Context()); err != nil {
			return err
		}
		return m.Close(t.Context())
	}

	t.Run("kept", func(t *testing.T) {
		db := mongoDatabase(t, uri)
		sessionsColl := mongoCollection(t, uri, db)
		legacy(t, sessionsColl, bson.D{{Key: "user_id", Value: 1}, {Key: "request_time", Value: -1}, {Key: "_id", Value: -1}})
		legacy(t, sessionsColl.Database().Collection("sessions_devices"), bson.D{{Key: "user_id", Value: 1}, {Key: "_id", Value: 1}})
		legacy(t, sessionsColl.Database().Collection("sessions_events"), bson.D{{Key: "last", Value: 1}})
		slots := sessionsColl.Database().Collection("sessions_slots")
		legacy(t, slots, bson.D{{Key: "home_id", Value: 1}, {Key: "index", Value: 1}}, true)
		if err := open(db); err != nil {
			t.Fatalf("open over indexes of other names: %v", err)
		}
		// Each is the one wanted: none is built twice, now or at the next start.
		before := indexNames(t, sessionsColl)
		if len(before) != 9 {
			t.Errorf("sessions indexes: got %v; want 9: _id's and the eight TestMongoDBIndexes lists", before)
		}
		if got := indexNames(t, slots); !slices.Equal(got, []string{"_id_", "legacy", "session_id_1"}) {
			t.Errorf("slots indexes: got %v; want _id_, legacy (the unique place index) and session_id_1", got)
		}
		if err := open(db); err != nil {
			t.Fatalf("open again: %v", err)
		}
		if after := indexNames(t, sessionsColl); !slices.Equal(after, before) {
			t.Errorf("sessions indexes after a second start: got %v; want %v", after, before)
		}
	})
	t.Run("not unique", func(t *testing.T) {
		db := mongoDatabase(t, uri)
		legacy(t, mongoCollection(t, uri, db).Database().Collection("sessions_slots"), bson.D{{Key: "home_id", Value: 1}, {Key: "index", Value: 1}})
		err := open(db)
		if err == nil || !strings.Contains(err.Error(), "not a plain unique index") {
			t.Errorf("open over a place index that is not unique: got %v; want the index named as not unique", err)
		}
	})
}
