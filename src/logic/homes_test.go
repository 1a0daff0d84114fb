package logic_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/events"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// run executes a command and returns its result and error.
func run(c *logic.Controller, name, args string) (any, error) {
	for _, cmd := range c.Commands() {
		if cmd.Name == name {
			return cmd.Execute(context.Background(), []byte(args))
		}
	}
	return nil, fmt.Errorf("no command %s", name)
}

func wantCode(t *testing.T, err error, code string) *sessions.Error {
	t.Helper()
	var e *sessions.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("error: got %v; want code %s", err, code)
	}
	return e
}

func open(t *testing.T, c *logic.Controller, args string) *sessions.Session {
	t.Helper()
	return execute(t, c, "open_session", args).(*sessions.Session)
}

func TestOpenAtTheLimitIsDeniedWithTheActiveSessions(t *testing.T) {
	c, clk := newController(t, container.Config{})
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":2}}`)
	a := open(t, c, `{"user_id":"acct","device_id":"tv","client":"app"}`)
	clk.advance(time.Millisecond)
	b := open(t, c, `{"user_id":"acct","device_id":"phone"}`)

	_, err := run(c, "open_session", `{"user_id":"acct","device_id":"laptop"}`)
	e := wantCode(t, err, sessions.CodeMaxSessionsExceeded)
	if e.Category != sessions.CategoryConflict {
		t.Errorf("category: got %s; want Conflict", e.Category)
	}
	// The details are what a client decodes from the wire: numbers are
	// float64, the sessions a list, newest first.
	if e.Details["max_sessions"] != 2.0 {
		t.Errorf("details.max_sessions: got %#v; want float64 2", e.Details["max_sessions"])
	}
	active, _ := e.Details["active"].([]any)
	want := []map[string]any{
		{"id": b.ID, "device_id": "phone", "client": nil, "request_time": b.RequestTime.Format(sessions.TimeLayout)},
		{"id": a.ID, "device_id": "tv", "client": "app", "request_time": a.RequestTime.Format(sessions.TimeLayout)},
	}
	if len(active) != len(want) {
		t.Fatalf("details.active: got %#v; want the 2 active sessions", e.Details["active"])
	}
	for i, w := range want {
		if got, _ := active[i].(map[string]any); !maps.Equal(got, w) {
			t.Errorf("details.active[%d]: got %#v; want %#v", i, active[i], w)
		}
	}
}

func TestEvictOldestClosesTheLeastRecentlyRenewedSession(t *testing.T) {
	c, clk := newController(t, container.Config{})
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":2,"policy":"evict_oldest"}}`)
	first := open(t, c, `{"user_id":"acct"}`)
	clk.advance(time.Second)
	second := open(t, c, `{"user_id":"acct"}`)
	clk.advance(time.Second)
	execute(t, c, "renew_session", `{"session_id":"`+first.ID+`"}`) // second is now the oldest
	clk.advance(time.Second)

	third := open(t, c, `{"user_id":"acct"}`)
	got := execute(t, c, "get_session_by_id", `{"session_id":"`+second.ID+`"}`).(*sessions.Session)
	if got.Active || got.CloseReason != sessions.ReasonEvicted {
		t.Errorf("oldest session: got active=%v reason=%q; want closed as evicted", got.Active, got.CloseReason)
	}
	status := execute(t, c, "get_home", `{"home_id":"acct"}`).(*sessions.HomeStatus)
	if status.ActiveCount != 2 {
		t.Errorf("active_count: got %d; want 2", status.ActiveCount)
	}
	ids := map[string]bool{}
	for _, s := range status.Sessions {
		ids[s.ID] = true
	}
	if !ids[first.ID] || !ids[third.ID] {
		t.Errorf("active sessions: got %v; want %s and %s", ids, first.ID, third.ID)
	}
}

func TestTheSameDeviceGetsItsSessionBackRenewedWithoutASlot(t *testing.T) {
	c, clk := newController(t, container.Config{})
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1,"lease_timeout":60000}}`)
	s := open(t, c, `{"user_id":"acct","device_id":"tv"}`)
	clk.advance(30 * time.Second)
	again := open(t, c, `{"user_id":"acct","device_id":"tv"}`)
	if again.ID != s.ID {
		t.Fatalf("reopen from the same device: got session %s; want %s", again.ID, s.ID)
	}
	if want := clk.now().Add(time.Minute); !again.ExpireTime.Equal(want) {
		t.Errorf("expire_time: got %v; want %v", again.ExpireTime, want)
	}
}

func TestALapsedSessionFreesItsSlotAtOnce(t *testing.T) {
	c, clk := newController(t, container.Config{})
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1,"lease_timeout":10000}}`)
	old := open(t, c, `{"user_id":"acct","device_id":"tv"}`)
	clk.advance(11 * time.Second) // past the lease; no sweep runs

	open(t, c, `{"user_id":"acct","device_id":"phone"}`)
	got := execute(t, c, "get_session_by_id", `{"session_id":"`+old.ID+`"}`).(*sessions.Session)
	if got.Active || got.CloseReason != sessions.ReasonExpired {
		t.Errorf("lapsed session: got active=%v reason=%q; want closed as expired", got.Active, got.CloseReason)
	}
}

func TestALapsedSessionKeepsNoOneOutOfAHomeThatFillsLater(t *testing.T) {
	c, clk := newController(t, container.Config{})
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":2,"lease_timeout":10000}}`)
	old := open(t, c, `{"user_id":"acct","device_id":"tv"}`)
	clk.advance(11 * time.Second) // past the lease; no sweep runs

	open(t, c, `{"user_id":"acct","device_id":"phone"}`)  // a place was free
	open(t, c, `{"user_id":"acct","device_id":"tablet"}`) // the lapsed session's place
	got := execute(t, c, "get_session_by_id", `{"session_id":"`+old.ID+`"}`).(*sessions.Session)
	if got.Active || got.CloseReason != sessions.ReasonExpired {
		t.Errorf("lapsed session: got active=%v reason=%q; want closed as expired", got.Active, got.CloseReason)
	}
	if n := execute(t, c, "get_home", `{"home_id":"acct"}`).(*sessions.HomeStatus).ActiveCount; n != 2 {
		t.Errorf("active_count: got %d; want 2", n)
	}
}

// A home without a lease of its own, under a service without
// options.lease_timeout, leases its sessions for 120 s.
func TestTheDefaultLeaseIsTwoMinutes(t *testing.T) {
	c, clk := newController(t, container.Config{})
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":3}}`)
	s := open(t, c, `{"user_id":"acct"}`)
	if want := clk.now().Add(120 * time.Second); !s.ExpireTime.Equal(want) {
		t.Errorf("expire_time at open: got %v; want now + 120 s (%v)", s.ExpireTime, want)
	}
}

func TestRenewExtendsTheLeaseAndRefusesClosedOrLapsedSessions(t *testing.T) {
	c, clk := newController(t, container.Config{"options": map[string]any{"lease_timeout": 5000}})
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":3}}`)
	s := open(t, c, `{"user_id":"acct"}`)
	if want := clk.now().Add(5 * time.Second); !s.ExpireTime.Equal(want) {
		t.Errorf("expire_time at open: got %v; want now + options.lease_timeout (%v)", s.ExpireTime, want)
	}
	clk.advance(4 * time.Second)
	renewed := execute(t, c, "renew_session", `{"session_id":"`+s.ID+`"}`).(*sessions.Session)
	if want := clk.now().Add(5 * time.Second); !renewed.ExpireTime.Equal(want) || !renewed.RequestTime.Equal(clk.now()) {
		t.Errorf("renewed: got expire %v request %v; want %v and %v", renewed.ExpireTime, renewed.RequestTime, want, clk.now())
	}

	clk.advance(6 * time.Second)
	_, err := run(c, "renew_session", `{"session_id":"`+s.ID+`"}`)
	if e := wantCode(t, err, sessions.CodeSessionExpired); e.Category != sessions.CategoryNotFound {
		t.Errorf("category: got %s; want NotFound", e.Category)
	}
	_, err = run(c, "renew_session", `{"session_id":"`+s.ID+`"}`)
	wantCode(t, err, sessions.CodeSessionExpired)

	closed := open(t, c, `{"user_id":"acct"}`)
	execute(t, c, "close_session", `{"session_id":"`+closed.ID+`"}`)
	_, err = run(c, "renew_session", `{"session_id":"`+closed.ID+`"}`)
	wantCode(t, err, sessions.CodeSessionNotFound)
	_, err = run(c, "renew_session", `{"session_id":"nope"}`)
	wantCode(t, err, sessions.CodeSessionNotFound)
}

// A lapsed session reads inactive at once, wherever a caller reads it,
// though nothing closed it yet: it has no close_time until something does.
func TestALapsedSessionReadsInactiveBeforeAnythingClosesIt(t *testing.T) {
	c, clk := newController(t, container.Config{})
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":3,"lease_timeout":10000}}`)
	s := open(t, c, `{"user_id":"acct"}`)
	sub, err := c.Events().Subscribe(t.Context(), events.Filter{Types: []string{sessions.EventUpdated}}, events.Resume{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	clk.advance(11 * time.Second) // past the lease; no sweep runs
	id := `"session_id":"` + s.ID + `"`
	for _, tc := range []struct{ command, args string }{
		{"get_session_by_id", `{` + id + `}`},
		{"store_session_data", `{` + id + `,"data":1}`},
		{"update_session_user", `{` + id + `,"user":1}`},
		{"update_session_details", `{` + id + `,"details":{"k":"v"}}`},
	} {
		got := execute(t, c, tc.command, tc.args).(*sessions.Session)
		if got.Active || !got.CloseTime.IsZero() {
			t.Errorf("%s: got active=%v close_time=%v; want inactive, not yet closed", tc.command, got.Active, got.CloseTime)
		}
	}
	if e := <-sub.Events(); e.Session.Active {
		t.Error("the updated event: got the lapsed session active")
	}
	page := execute(t, c, "get_sessions", `{"filter":{"active":false}}`).(*sessions.Page)
	if len(page.Data) != 1 || page.Data[0].Active {
		t.Errorf("get_sessions active=false: got %+v; want the lapsed session, inactive", page.Data)
	}
	// No active session to bind: it is lapsed, closed or not.
	if r, err := run(c, "bind_push_address", `{`+id+`,"address":"tv-room"}`); err != nil || r != nil {
		t.Errorf("bind_push_address: got %v, %v; want nothing bound", r, err)
	}
	if got := execute(t, c, "delete_session_by_id", `{`+id+`}`).(*sessions.Session); got.Active {
		t.Error("delete_session_by_id: got the lapsed session active")
	}
}

func TestTheSweepClosesLapsedSessionsAsExpired(t *testing.T) {
	c, clk := newController(t, container.Config{})
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":3,"lease_timeout":10000}}`)
	s := open(t, c, `{"user_id":"acct"}`)
	clk.advance(11 * time.Second)
	execute(t, c, "close_expired_sessions", ``)
	got := execute(t, c, "get_session_by_id", `{"session_id":"`+s.ID+`"}`).(*sessions.Session)
	if got.Active || got.CloseReason != sessions.ReasonExpired {
		t.Errorf("after sweep: got active=%v reason=%q; want closed as expired", got.Active, got.CloseReason)
	}
}

func TestLoweringMaxSessionsClosesNothingAndNewOpensWaitUntilUnderTheLimit(t *testing.T) {
	c, _ := newController(t, container.Config{})
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":4}}`)
	var ids []string
	for range 4 {
		ids = append(ids, open(t, c, `{"user_id":"acct"}`).ID)
	}
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":2}}`)
	if n := execute(t, c, "get_home", `{"home_id":"acct"}`).(*sessions.HomeStatus).ActiveCount; n != 4 {
		t.Fatalf("after lowering: got %d active; want all 4 still open", n)
	}
	// Close the two sessions in the lowest places: 2 remain, the limit is 2.
	execute(t, c, "close_session", `{"session_id":"`+ids[0]+`"}`)
	execute(t, c, "close_session", `{"session_id":"`+ids[1]+`"}`)
	_, err := run(c, "open_session", `{"user_id":"acct"}`)
	wantCode(t, err, sessions.CodeMaxSessionsExceeded)

	execute(t, c, "close_session", `{"session_id":"`+ids[2]+`"}`)
	open(t, c, `{"user_id":"acct"}`)
	_, err = run(c, "open_session", `{"user_id":"acct"}`)
	wantCode(t, err, sessions.CodeMaxSessionsExceeded)
}

func TestSetHomeCountsSessionsOpenedBeforeIt(t *testing.T) {
	c, _ := newController(t, container.Config{})
	open(t, c, `{"user_id":"acct"}`)
	open(t, c, `{"user_id":"acct"}`)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":2}}`)
	_, err := run(c, "open_session", `{"user_id":"acct"}`)
	wantCode(t, err, sessions.CodeMaxSessionsExceeded)
}

func TestDeleteHomeLiftsTheQuota(t *testing.T) {
	c, _ := newController(t, container.Config{})
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1}}`)
	open(t, c, `{"user_id":"acct"}`)
	if h := execute(t, c, "delete_home", `{"home_id":"acct"}`).(*sessions.Home); h.ID != "acct" {
		t.Errorf("deleted home: got %v; want acct", h)
	}
	open(t, c, `{"user_id":"acct"}`)
	open(t, c, `{"user_id":"acct"}`)
	if r, _ := run(c, "get_home", `{"home_id":"acct"}`); r != nil {
		t.Errorf("get_home after delete: got %v; want nothing", r)
	}
}

func TestConcurrentOpensNeverExceedTheLimit(t *testing.T) {
	for _, policy := range []string{sessions.PolicyDeny, sessions.PolicyEvictOldest} {
		t.Run(policy, func(t *testing.T) {
			c, _ := newController(t, container.Config{})
			execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":3,"policy":"`+policy+`"}}`)
			var wg sync.WaitGroup
			var mu sync.Mutex
			opened, denied := 0, 0
			for i := range 64 {
				wg.Go(func() {
					_, err := run(c, "open_session", fmt.Sprintf(`{"user_id":"acct","device_id":"d%d"}`, i))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						opened++
					case errors.As(err, new(*sessions.Error)):
						denied++
					default:
						t.Errorf("open: %v", err)
					}
				})
			}
			wg.Wait()
			status := execute(t, c, "get_home", `{"home_id":"acct"}`).(*sessions.HomeStatus)
			if status.ActiveCount != 3 {
				t.Errorf("active sessions: got %d; want exactly 3", status.ActiveCount)
			}
			if policy == sessions.PolicyDeny && (opened != 3 || denied != 61) {
				t.Errorf("deny: got %d opened, %d denied; want 3 and 61", opened, denied)
			}
			if policy == sessions.PolicyEvictOldest && opened < 3 {
				t.Errorf("evict_oldest: got %d opened; want at least 3", opened)
			}
		})
	}
}

func TestOpenByDeviceForwardsToItsAccount(t *testing.T) {
	c, _ := newController(t, container.Config{})
	execute(t, c, "register_device", `{"device_id":"tv-1","user_id":"acct"}`)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1}}`)
	s := open(t, c, `{"device_id":"tv-1"}`)
	if s.UserID != "acct" || s.DeviceID != "tv-1" {
		t.Errorf("session: got user %q device %q; want acct on tv-1", s.UserID, s.DeviceID)
	}
	execute(t, c, "register_device", `{"device_id":"tv-2","user_id":"acct"}`)
	_, err := run(c, "open_session", `{"device_id":"tv-2"}`)
	wantCode(t, err, sessions.CodeMaxSessionsExceeded)

	_, err = run(c, "open_session", `{"device_id":"ghost"}`)
	if e := wantCode(t, err, sessions.CodeDeviceNotRegistered); e.Category != sessions.CategoryNotFound {
		t.Errorf("category: got %s; want NotFound", e.Category)
	}
	_, err = run(c, "open_session", `{}`)
	if e := wantCode(t, err, sessions.CodeInvalidData); e.Message != "Validation failed: user_id must not be null" {
		t.Errorf("message: got %q", e.Message)
	}

	execute(t, c, "register_device", `{"device_id":"tv-1","user_id":"other"}`)
	if d := execute(t, c, "get_device", `{"device_id":"tv-1"}`).(*sessions.Device); d.UserID != "other" {
		t.Errorf("re-registered device: got user %q; want other", d.UserID)
	}
	page := execute(t, c, "get_devices", `{"filter":{"user_id":"acct"}}`).(*sessions.DevicePage)
	if len(page.Data) != 1 || page.Data[0].ID != "tv-2" {
		t.Errorf("devices of acct: got %v; want only tv-2", page.Data)
	}
	execute(t, c, "delete_device", `{"device_id":"tv-2"}`)
	if r, _ := run(c, "get_device", `{"device_id":"tv-2"}`); r != nil {
		t.Errorf("deleted device: got %v; want nothing", r)
	}
}

func TestBadHomesAreRejected(t *testing.T) {
	c, _ := newController(t, container.Config{})
	for _, args := range []string{
		`{"home":{"id":"a","max_sessions":-1}}`,
		`{"home":{"id":"a","max_sessions":1000000000}}`,
		`{"home":{"id":"a","max_sessions":1,"lease_timeout":-5}}`,
		`{"home":{"id":"a","max_sessions":1,"lease_timeout":99999999999999}}`,
		`{"home":{"id":"a","max_sessions":1,"policy":"random"}}`,
		`{"home":{"max_sessions":1}}`,
		`{"home":{"id":"a","max_sessions":"many"}}`,
		`{}`,
	} {
		_, err := run(c, "set_home", args)
		if e := wantCode(t, err, sessions.CodeInvalidData); e.Category != sessions.CategoryBadRequest {
			t.Errorf("set_home %s: got category %s; want BadRequest", args, e.Category)
		}
	}
	for _, tc := range []struct{ name, args string }{
		{"get_home", `{}`}, {"delete_home", `{}`}, {"register_device", `{"device_id":"x"}`}, {"get_device", `{}`},
	} {
		_, err := run(c, tc.name, tc.args)
		wantCode(t, err, sessions.CodeInvalidData)
	}
}

func TestEmptyListsAreEmptyArraysOnTheWire(t *testing.T) {
	c, _ := newController(t, container.Config{})
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":2}}`)
	for _, tc := range []struct{ name, args, want string }{
		{"get_homes", `{"filter":{"id":"nobody"}}`, `"data":[]`},
		{"get_homes", `{"paging":{"skip":5}}`, `"data":[]`},
		{"get_devices", `{"filter":{"user_id":"nobody"}}`, `"data":[]`},
		{"get_devices", `{}`, `"data":[]`},
		{"get_home", `{"home_id":"acct"}`, `"sessions":[]`},
	} {
		b, err := json.Marshal(execute(t, c, tc.name, tc.args))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("%s %s: got %s; want %s", tc.name, tc.args, b, tc.want)
		}
	}
}

func TestADeviceThatLeavesAnAccountIsLoggedOutOfIt(t *testing.T) {
	c, _ := newController(t, container.Config{})
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1}}`)
	execute(t, c, "register_device", `{"device_id":"tv","user_id":"acct"}`)
	onTV := open(t, c, `{"device_id":"tv"}`)
	kept := open(t, c, `{"user_id":"other","device_id":"tv"}`) // another account on the same device

	execute(t, c, "register_device", `{"device_id":"tv","user_id":"buyer"}`)
	if s := execute(t, c, "get_session_by_id", `{"session_id":"`+onTV.ID+`"}`).(*sessions.Session); s.Active || s.CloseReason != sessions.ReasonClosed {
		t.Errorf("acct's session on the moved tv: got active=%v reason=%q; want closed", s.Active, s.CloseReason)
	}
	if s := execute(t, c, "get_session_by_id", `{"session_id":"`+kept.ID+`"}`).(*sessions.Session); !s.Active {
		t.Errorf("another account's session on the tv: closed as %q; want it left open", s.CloseReason)
	}
	open(t, c, `{"user_id":"acct","device_id":"phone"}`) // the tv's place is free again
	onTV = open(t, c, `{"device_id":"tv"}`)
	if onTV.UserID != "buyer" {
		t.Errorf("open on the moved tv: got account %q; want buyer", onTV.UserID)
	}

	execute(t, c, "delete_device", `{"device_id":"tv"}`)
	if s := execute(t, c, "get_session_by_id", `{"session_id":"`+onTV.ID+`"}`).(*sessions.Session); s.Active {
		t.Errorf("buyer's session on the deleted tv: still active; want closed")
	}
}

func TestASessionTakenIntoANewHomeGetsItsLease(t *testing.T) {
	c, clk := newController(t, container.Config{})
	s := open(t, c, `{"user_id":"acct","device_id":"tv"}`)
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":1,"lease_timeout":10000}}`)
	got := execute(t, c, "get_session_by_id", `{"session_id":"`+s.ID+`"}`).(*sessions.Session)
	if want := clk.now().Add(10 * time.Second); !got.ExpireTime.Equal(want) {
		t.Errorf("expire_time: got %v; want now + the home's lease_timeout (%v)", got.ExpireTime, want)
	}

	// Its device went away: an open after the lease takes its place.
	clk.advance(11 * time.Second)
	open(t, c, `{"user_id":"acct","device_id":"phone"}`)
	got = execute(t, c, "get_session_by_id", `{"session_id":"`+s.ID+`"}`).(*sessions.Session)
	if got.Active || got.CloseReason != sessions.ReasonExpired {
		t.Errorf("lapsed session: got active=%v reason=%q; want closed as expired", got.Active, got.CloseReason)
	}
}
