package logic_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// TestCommandsKeepNothingOfTheBody overwrites each request body once its
// command has returned, as a transport that reuses its buffers does, and
// checks that neither the result nor what was stored changed with it.
func TestCommandsKeepNothingOfTheBody(t *testing.T) {
	c, _ := newController(t, container.Config{})
	ctx := context.Background()
	run := func(name, args string) []byte {
		t.Helper()
		for _, cmd := range c.Commands() {
			if cmd.Name != name {
				continue
			}
			body := []byte(args)
			r, err := cmd.Execute(ctx, body)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			before, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			copy(body, bytes.Repeat([]byte{'#'}, len(body)))
			after, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Fatalf("%s result changed with its body: got %s; want %s", name, after, before)
			}
			return after
		}
		t.Fatalf("no command %s", name)
		return nil
	}
	var s sessions.Session
	opened := run("open_session", `{"user_id":"u1","user_name":"Ann","address":"10.0.0.1","client":"web",`+
		`"user":{"id":"u1","roles":["admin"]},"data":{"cart":[1,2]},"device_id":"d1","details":{"k":"v"}}`)
	if err := json.Unmarshal(opened, &s); err != nil {
		t.Fatal(err)
	}
	idArgs := `{"session_id":"` + s.ID + `"}`
	run("store_session_data", `{"session_id":"`+s.ID+`","data":{"step":2}}`)
	run("update_session_user", `{"session_id":"`+s.ID+`","user":{"name":"Ann B"}}`)
	run("update_session_details", `{"session_id":"`+s.ID+`","details":{"theme":"dark"}}`)
	run("bind_push_address", `{"session_id":"`+s.ID+`","address":"push-1"}`)
	run("get_sessions", `{"filter":{"user_id":"u1","client":"web"},"paging":{"take":"5","total":true}}`)
	stored := run("get_session_by_id", idArgs)
	var got sessions.Session
	if err := json.Unmarshal(stored, &got); err != nil {
		t.Fatal(err)
	}
	if got.UserID != "u1" || got.UserName != "Ann" || got.Client != "web" || got.DeviceID != "d1" ||
		got.PushAddress != "push-1" || string(got.User) != `{"name":"Ann B"}` || string(got.Data) != `{"step":2}` ||
		got.Details["k"] != "v" || got.Details["theme"] != "dark" {
		t.Errorf("stored session: got %s", stored)
	}
}

// Arguments are read as the Node service reads them, with JSON.parse: by
// exact key, the last of a repeated key counting; a key in another case is
// an unknown key, ignored. The escaped keys send the body down the slow
// path, which must read it the same way.
func TestArgumentKeysMatchExactly(t *testing.T) {
	c, _ := newController(t, container.Config{})
	for _, tc := range []struct{ body, want string }{
		{`{"user_id":"alice","User_Id":"mallory"}`, "alice"},
		{`{"User_Id":"mallory","user_id":"alice"}`, "alice"},
		{`{"user_id":"alice","USER_ID":"mallory","ſ":"x"}`, "alice"},
		{`{"user\u005fid":"alice","User_Id":"mallory"}`, "alice"},
		{`{"User\u005fId":"mallory","user_id":"alice"}`, "alice"},
		{`{"user_id":"mallory","user\u005fid":"alice"}`, "alice"},
	} {
		t.Run(tc.body, func(t *testing.T) {
			if got := open(t, c, tc.body).UserID; got != tc.want {
				t.Errorf("user_id: got %q; want %q", got, tc.want)
			}
		})
	}
	for _, body := range []string{`{"USER_ID":"x"}`, `{"User_Id":"x"}`, `{"USER\u005fID":"x"}`} {
		t.Run(body, func(t *testing.T) {
			_, err := run(c, "open_session", body)
			if e := wantCode(t, err, sessions.CodeInvalidData); e.Message != "Validation failed: user_id must not be null" {
				t.Errorf("message: got %q; want user_id must not be null", e.Message)
			}
		})
	}
}

func TestHomeKeysMatchExactly(t *testing.T) {
	c, _ := newController(t, container.Config{})
	for _, tc := range []struct {
		body string
		want sessions.Home
	}{
		{`{"home":{"id":"h","max_sessions":2,"Max_Sessions":9}}`, sessions.Home{ID: "h", MaxSessions: 2}},
		{`{"home":{"Max_Sessions":9,"id":"h","max_sessions":2}}`, sessions.Home{ID: "h", MaxSessions: 2}},
		{`{"home":{"id":"h","max_sessions":2,"policy":"evict_oldest","POLICY":"deny"}}`,
			sessions.Home{ID: "h", MaxSessions: 2, Policy: sessions.PolicyEvictOldest}},
		{`{"home":{"id":"h","max_sessions":2},"Home":{"id":"x","max_sessions":9}}`, sessions.Home{ID: "h", MaxSessions: 2}},
		{`{"home":{"id":"x","lease_timeout":5000},"home":{"id":"h","max_sessions":3}}`, sessions.Home{ID: "h", MaxSessions: 3}},
	} {
		t.Run(tc.body, func(t *testing.T) {
			got := execute(t, c, "set_home", tc.body).(*sessions.Home)
			if tc.want.Policy == "" {
				tc.want.Policy = sessions.PolicyDeny
			}
			if *got != tc.want {
				t.Errorf("home: got %+v; want %+v", *got, tc.want)
			}
		})
	}
	_, err := run(c, "set_home", `{"home":{"ID":"h","max_sessions":2}}`)
	if e := wantCode(t, err, sessions.CodeInvalidData); e.Message != "Validation failed: home.id must not be null" {
		t.Errorf("message: got %q; want home.id must not be null", e.Message)
	}
}

// A home without max_sessions would admit no one: set_home refuses it, as
// it refuses a home without an id.
func TestAHomeNeedsItsIDAndMaxSessions(t *testing.T) {
	c, _ := newController(t, container.Config{})
	for _, tc := range []struct{ args, want string }{
		{`{"home":{"id":"h"}}`, "home.max_sessions must not be null"},
		{`{"home":{"id":"h","max_sessions":null}}`, "home.max_sessions must not be null"},
		{`{"home":{"id":"h","max_sessions":2,"max_sessions":null}}`, "home.max_sessions must not be null"},
		{`{"home":{"max_sessions":2}}`, "home.id must not be null"},
		{`{"home":{"id":null,"max_sessions":2}}`, "home.id must not be null"},
		{`{"home":{"policy":"evict_oldest"}}`, "home.id must not be null, home.max_sessions must not be null"},
		{`{"home":{"id":"h","max_sessions":"2x"}}`, "home.max_sessions type must be long but found string"},
		// The home's other problems are told with a missing field's.
		{`{"home":{"max_sessions":-1}}`, "home.id must not be null, home.max_sessions must be between 0 and 10000"},
		{`{"home":{"id":"h","policy":"bogus"}}`, `home.max_sessions must not be null, home.policy "bogus" must be deny or evict_oldest`},
		// In the order of the fields, whichever problem each has.
		{`{"home":{"id":"` + strings.Repeat("h", 257) + `","policy":"bogus"}}`,
			`home.id must not be longer than 256 characters, home.max_sessions must not be null, home.policy "bogus" must be deny or evict_oldest`},
	} {
		t.Run(tc.args, func(t *testing.T) {
			_, err := run(c, "set_home", tc.args)
			if e := wantCode(t, err, sessions.CodeInvalidData); e.Message != "Validation failed: "+tc.want {
				t.Errorf("message: got %q; want %q", e.Message, "Validation failed: "+tc.want)
			}
		})
	}
	if h := execute(t, c, "set_home", `{"home":{"id":"h","max_sessions":0}}`).(*sessions.Home); h.MaxSessions != 0 {
		t.Errorf("max_sessions 0: got %d; want 0, a home that admits no one", h.MaxSessions)
	}
}

func TestANumberThatIsNoLongIsNamedForWhatItIs(t *testing.T) {
	c, _ := newController(t, container.Config{})
	for _, tc := range []struct{ args, want string }{
		{`{"home":{"id":"h","max_sessions":1.5}}`, "home.max_sessions type must be long but found double"},
		{`{"home":{"id":"h","max_sessions":1e400}}`, "home.max_sessions type must be long but found a number out of range"},
		{`{"home":{"id":"h","max_sessions":9223372036854775808}}`, "home.max_sessions type must be long but found a number out of range"},
		{`{"home":{"id":"h","max_sessions":-9223372036854775809}}`, "home.max_sessions type must be long but found a number out of range"},
		{`{"home":{"id":"h","max_sessions":1e19}}`, "home.max_sessions type must be long but found a number out of range"},
		{`{"home":{"id":1.5,"max_sessions":1}}`, "home.id type must be string but found double"},
		{`{"home":{"id":7,"max_sessions":1}}`, "home.id type must be string but found long"},
	} {
		t.Run(tc.args, func(t *testing.T) {
			_, err := run(c, "set_home", tc.args)
			if e := wantCode(t, err, sessions.CodeInvalidData); e.Message != "Validation failed: "+tc.want {
				t.Errorf("message: got %q; want %q", e.Message, "Validation failed: "+tc.want)
			}
		})
	}
}

// JSON.parse reads 3.0 and 3e0 as the integer 3, and so does the service.
func TestAnIntegerMayBeWrittenAsJSONParseReadsIt(t *testing.T) {
	c, _ := newController(t, container.Config{})
	for _, number := range []string{"3", "3.0", "3e0", "0.3e1"} {
		h := execute(t, c, "set_home", `{"home":{"id":"h","max_sessions":`+number+`}}`).(*sessions.Home)
		if h.MaxSessions != 3 {
			t.Errorf("max_sessions %s: got %d; want 3", number, h.MaxSessions)
		}
	}
}

func TestABadDetailsEntryIsNamed(t *testing.T) {
	c, _ := newController(t, container.Config{})
	s := open(t, c, `{"user_id":"u1"}`)
	for _, tc := range []struct{ details, want string }{
		{`{"plan":{"tier":"gold"}}`, "details.plan type must be string but found map"},
		{`{"plan":2}`, "details.plan type must be string but found long"},
	} {
		_, err := run(c, "update_session_details", `{"session_id":"`+s.ID+`","details":`+tc.details+`}`)
		if e := wantCode(t, err, sessions.CodeInvalidData); e.Message != "Validation failed: "+tc.want {
			t.Errorf("details %s: got %q; want %q", tc.details, e.Message, "Validation failed: "+tc.want)
		}
	}
}

// Every id is limited in characters, not bytes: an account whose id is 200
// Cyrillic letters (400 bytes) opens sessions and may have a home.
func TestAHomeIDIsLimitedInCharactersAsTheUserIDIs(t *testing.T) {
	c, _ := newController(t, container.Config{})
	account := strings.Repeat("ж", 200)
	open(t, c, `{"user_id":"`+account+`"}`)
	if got := execute(t, c, "set_home", `{"home":{"id":"`+account+`","max_sessions":1}}`).(*sessions.Home); got.ID != account {
		t.Errorf("home id: got %q; want the account's", got.ID)
	}
}

// Hostile nesting is refused under any key, an unknown one included, by
// every command, and nothing is stored.
func TestEveryCommandRefusesABodyNestedTooDeeply(t *testing.T) {
	c, _ := newController(t, container.Config{})
	levels := func(n int) string { // an unknown key whose value nests n-1 levels in the body's one
		return `{"user_id":"u1","extra":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}`
	}
	for _, cmd := range c.Commands() {
		_, err := cmd.Execute(context.Background(), []byte(levels(sessions.MaxBodyDepth+1)))
		want := "Validation failed: request body must not nest deeper than 64 levels"
		if e := wantCode(t, err, sessions.CodeInvalidData); e.Message != want {
			t.Errorf("%s: got %q; want %q", cmd.Name, e.Message, want)
		}
	}
	open(t, c, levels(sessions.MaxBodyDepth))
	if got := execute(t, c, "get_sessions", `{"paging":{"total":true}}`).(*sessions.Page); *got.Total != 1 {
		t.Errorf("sessions stored: got %d; want only the one whose body nests %d levels", *got.Total, sessions.MaxBodyDepth)
	}
}

// Every problem of a body is named at once, in the order of the
// arguments, as the Node service's validation names them.
func TestEveryProblemOfTheArgumentsIsNamedInTheirOrder(t *testing.T) {
	c, _ := newController(t, container.Config{})
	for _, tc := range []struct{ command, body, want string }{
		{"open_session", `{"user_id":5,"user_name":5}`,
			"user_id type must be string but found long, user_name type must be string but found long"},
		{"update_session_user", `{"user":null,"session_id":[]}`,
			"session_id type must be string but found array, user must not be null"},
		{"store_session_data", `{"session_id":5,"data":null}`,
			"session_id type must be string but found long, data must not be null"},
		{"update_session_details", `{"session_id":"s","details":{"b":1,"a":true}}`,
			"details.a type must be string but found boolean"},
		{"set_home", `{"home":{"id":1.5,"max_sessions":"x"}}`,
			"home.id type must be string but found double, home.max_sessions type must be long but found string"},
		// A missing user_id is named in its place, as Node names it, though
		// a device_id may stand in for it.
		{"open_session", `{"client":5}`,
			"user_id must not be null, client type must be string but found long"},
		{"open_session", `{"address":true,"user_id":null,"device_id":""}`,
			"user_id must not be null, address type must be string but found boolean"},
		{"open_session", `{"device_id":5}`, "device_id type must be string but found long"},
		{"send_notification", `{"method":[]}`,
			"user_id or push_address must not be null, method type must be string but found array"},
	} {
		_, err := run(c, tc.command, tc.body)
		if e := wantCode(t, err, sessions.CodeInvalidData); e.Message != "Validation failed: "+tc.want {
			t.Errorf("%s %s: got %q; want %q", tc.command, tc.body, e.Message, "Validation failed: "+tc.want)
		}
	}
}
