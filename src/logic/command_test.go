package logic_test

import (
	"bytes"
	"context"
	"encoding/json"
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
