package logic_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newController(t *testing.T, cfg container.Config) (*logic.Controller, *clock) {
	t.Helper()
	return newControllerOver(t, persistence.NewMemory(), cfg)
}

// newControllerOver returns a controller over store, configured with cfg,
// on a clock the test sets.
func newControllerOver(t *testing.T, store logic.Store, cfg container.Config) (*logic.Controller, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	c := logic.NewController(store, clk.now)
	if err := c.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	return c, clk
}

func execute(t *testing.T, c *logic.Controller, name, args string) any {
	t.Helper()
	for _, cmd := range c.Commands() {
		if cmd.Name == name {
			r, err := cmd.Execute(context.Background(), []byte(args))
			if err != nil {
				t.Fatalf("%s %s: %v", name, args, err)
			}
			return r
		}
	}
	t.Fatalf("no command %s", name)
	return nil
}

func TestCloseExpiredSessionsClosesOnlyThoseIdlePastTheTimeout(t *testing.T) {
	c, clk := newController(t, container.Config{"options": map[string]any{"expire_timeout": "60000"}})
	old := execute(t, c, "open_session", `{"user_id":"u1"}`).(*sessions.Session)
	clk.advance(30 * time.Second)
	fresh := execute(t, c, "open_session", `{"user_id":"u1"}`).(*sessions.Session)
	clk.advance(31 * time.Second) // old idle 61 s, fresh 31 s

	if r := execute(t, c, "close_expired_sessions", ``); r != nil {
		t.Errorf("close_expired_sessions result: got %v; want nothing", r)
	}
	got := execute(t, c, "get_session_by_id", `{"session_id":"`+old.ID+`"}`).(*sessions.Session)
	if got.Active || got.CloseTime.IsZero() || got.CloseReason != sessions.ReasonExpired {
		t.Errorf("idle session: got active=%v close_time=%v reason=%q; want closed as expired", got.Active, got.CloseTime, got.CloseReason)
	}
	if got := execute(t, c, "get_session_by_id", `{"session_id":"`+fresh.ID+`"}`).(*sessions.Session); !got.Active {
		t.Errorf("fresh session: got closed; want active")
	}
}

func TestMissingSessionIsANilResultNotATypedNil(t *testing.T) {
	c, _ := newController(t, container.Config{})
	if r := execute(t, c, "get_session_by_id", `{"session_id":"nope"}`); r != nil {
		t.Errorf("result: got %#v; want untyped nil", r)
	}
}

func TestPagingDefaultsAndCap(t *testing.T) {
	c, _ := newController(t, container.Config{"options": map[string]any{"max_page_size": 3}})
	for range 5 {
		execute(t, c, "open_session", `{"user_id":"u1"}`)
	}
	for _, tc := range []struct {
		args string
		want int
	}{
		{`{}`, 3},
		{`{"paging":{"take":2}}`, 2},
		{`{"paging":{"take":"50"}}`, 3},
		{`{"paging":{"skip":4}}`, 1},
		{`{"paging":{"skip":-1,"take":null}}`, 3},
		{`{"paging":{"take":0}}`, 3},
		{`{"paging":{"take":-7}}`, 3},
	} {
		page := execute(t, c, "get_sessions", tc.args).(*sessions.Page)
		if len(page.Data) != tc.want {
			t.Errorf("get_sessions %s: got %d items; want %d", tc.args, len(page.Data), tc.want)
		}
	}
}

func TestConfigureRejectsBadValuesNamingTheKey(t *testing.T) {
	for _, tc := range []struct {
		cfg  container.Config
		want string
	}{
		{container.Config{"options": map[string]any{"expire_timeout": "abc"}}, `options.expire_timeout: "abc" is not a number of milliseconds`},
		{container.Config{"options": map[string]any{"max_page_size": 0}}, `options.max_page_size: 0 must be at least 1`},
		{container.Config{"options": map[string]any{"event_buffer": int64(1) << 40}}, `options.event_buffer: 1099511627776 must be between 1 and 1000000`},
		{container.Config{"options": map[string]any{"subscriber_buffer": 0}}, `options.subscriber_buffer: 0 must be between 1 and 65536`},
		{container.Config{"options": map[string]any{"notification_queue": 5000}}, `options.notification_queue: 5000 must be between 1 and 4096`},
	} {
		err := logic.NewController(persistence.NewMemory(), nil).Configure(tc.cfg)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Configure(%v): got %v; want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestPayloadsAreStoredCompactly(t *testing.T) {
	c, _ := newController(t, container.Config{})
	s := execute(t, c, "open_session", `{"user_id":"u1","data":{ "a" : [1, 2] }}`).(*sessions.Session)
	if string(s.Data) != `{"a":[1,2]}` {
		t.Errorf("data: got %s; want compact JSON", s.Data)
	}
	var v any
	if err := json.Unmarshal(s.Data, &v); err != nil {
		t.Errorf("data is not valid JSON: %v", err)
	}
}

func TestASessionHasAtMostAHundredDetailsWhateverTheMerges(t *testing.T) {
	c, _ := newController(t, container.Config{})
	s := open(t, c, `{"user_id":"u1","details":{"keep":"1"}}`)
	details := func(prefix string, n int) string {
		entries := make([]string, n)
		for i := range entries {
			entries[i] = fmt.Sprintf(`"%s%d":"v"`, prefix, i)
		}
		return `{"session_id":"` + s.ID + `","details":{` + strings.Join(entries, ",") + `}}`
	}
	execute(t, c, "update_session_details", details("a", 99)) // 100 entries
	_, err := run(c, "update_session_details", details("b", 1))
	wantCode(t, err, sessions.CodeInvalidData)

	// Deleting makes room, and a merge that replaces values adds none.
	execute(t, c, "update_session_details", `{"session_id":"`+s.ID+`","details":{"keep":"","b0":"v"}}`)
	execute(t, c, "update_session_details", details("a", 99))
	got := execute(t, c, "get_session_by_id", `{"session_id":"`+s.ID+`"}`).(*sessions.Session)
	if len(got.Details) != 100 || got.Details["keep"] != "" || got.Details["b0"] != "v" {
		t.Errorf("details: got %d entries (keep=%q, b0=%q); want 100 without keep, with b0", len(got.Details), got.Details["keep"], got.Details["b0"])
	}
}

// Details take at most 16 KiB of JSON, so that no page, event or answer
// that carries them grows large, whatever characters fill them: a control
// character takes 6 bytes of JSON.
func TestASessionsDetailsTakeAtMost16KiBOfJSONWhateverTheMerges(t *testing.T) {
	c, _ := newController(t, container.Config{})
	entries := func(prefix string, n int, value string) string {
		list := make([]string, n)
		for i := range list {
			list[i] = fmt.Sprintf(`"%s%02d":"%s"`, prefix, i, value)
		}
		return "{" + strings.Join(list, ",") + "}"
	}
	control := strings.Repeat(`\u0001`, 200) // 200 characters, 1 200 bytes of JSON
	_, err := run(c, "open_session", `{"user_id":"u1","details":`+entries("k", 14, control)+`}`)
	if e := wantCode(t, err, sessions.CodeInvalidData); !strings.Contains(e.Message, "details must not take more than 16384 bytes as JSON") {
		t.Errorf("open with 14 × 1 200 bytes of details: got %q; want the 16 KiB bound named", e.Message)
	}

	s := open(t, c, `{"user_id":"u1","details":`+entries("a", 13, control)+`}`) // about 15.8 KiB
	update := func(details string) error {
		_, err := run(c, "update_session_details", `{"session_id":"`+s.ID+`","details":`+details+`}`)
		return err
	}
	err = update(entries("b", 1, control))
	if e := wantCode(t, err, sessions.CodeInvalidData); !strings.Contains(e.Message, "details would take") {
		t.Errorf("a merge past 16 KiB: got %q; want it refused", e.Message)
	}
	// Deleting makes room.
	if err := update(`{"a00":"","b00":"v"}`); err != nil {
		t.Errorf("a merge that shrinks the details: got %v; want it taken", err)
	}
	got := execute(t, c, "get_session_by_id", `{"session_id":"`+s.ID+`"}`).(*sessions.Session)
	if n := len(sessions.AppendStringMap(nil, got.Details)); n > sessions.MaxMapBytes || got.Details["b00"] != "v" {
		t.Errorf("details: got %d bytes of JSON with b00=%q; want at most %d, with b00", n, got.Details["b00"], sessions.MaxMapBytes)
	}
}

// Details stored before the bounds, larger than they allow, may still
// shrink, a key at a time, but not grow.
func TestDetailsLargerThanTheBoundsMayShrinkButNotGrow(t *testing.T) {
	store := persistence.NewMemory()
	c, _ := newControllerOver(t, store, container.Config{})
	details := map[string]string{}
	for i := range 120 {
		details[fmt.Sprintf("k%03d", i)] = strings.Repeat("v", 256)
	}
	s, err := store.Create(t.Context(), &sessions.Session{ID: "s1", UserID: "u1", Active: true, Details: details})
	if err != nil {
		t.Fatal(err)
	}
	update := func(details string) error {
		_, err := run(c, "update_session_details", `{"session_id":"`+s.ID+`","details":`+details+`}`)
		return err
	}
	if err := update(`{"k000":""}`); err != nil {
		t.Errorf("deleting a key of 120: got %v; want it taken", err)
	}
	if err := update(`{"k001":"short"}`); err != nil {
		t.Errorf("shortening a value: got %v; want it taken", err)
	}
	wantCode(t, update(`{"k001":"`+strings.Repeat("v", 256)+`"}`), sessions.CodeInvalidData)
	wantCode(t, update(`{"new":"v"}`), sessions.CodeInvalidData)
}

func TestCloseSessionClearsUserAndDataStoredAfterTheSessionClosed(t *testing.T) {
	c, clk := newController(t, container.Config{})
	s := open(t, c, `{"user_id":"u1","user":{"name":"A"},"data":{"cart":1}}`)
	closed := execute(t, c, "close_session", `{"session_id":"`+s.ID+`"}`).(*sessions.Session)
	clk.advance(time.Minute)
	execute(t, c, "store_session_data", `{"session_id":"`+s.ID+`","data":{"after":"close"}}`)
	execute(t, c, "update_session_user", `{"session_id":"`+s.ID+`","user":{"name":"B"}}`)

	again := execute(t, c, "close_session", `{"session_id":"`+s.ID+`"}`).(*sessions.Session)
	if again.User != nil || again.Data != nil {
		t.Errorf("second close: got user %s, data %s; want both cleared", again.User, again.Data)
	}
	if again.Active || !again.CloseTime.Equal(closed.CloseTime) || again.CloseReason != sessions.ReasonClosed {
		t.Errorf("second close: got active=%v close_time=%v reason=%q; want the first close's %v, closed",
			again.Active, again.CloseTime, again.CloseReason, closed.CloseTime)
	}
	stored := execute(t, c, "get_session_by_id", `{"session_id":"`+s.ID+`"}`).(*sessions.Session)
	if stored.User != nil || stored.Data != nil {
		t.Errorf("stored: got user %s, data %s; want both cleared", stored.User, stored.Data)
	}
}

func TestClosingASessionMarksItUsedAtTheClose(t *testing.T) {
	c, clk := newController(t, container.Config{})
	s := open(t, c, `{"user_id":"u1"}`)
	clk.advance(time.Minute)
	closed := execute(t, c, "close_session", `{"session_id":"`+s.ID+`"}`).(*sessions.Session)
	if !closed.RequestTime.Equal(closed.CloseTime) || !closed.CloseTime.Equal(s.OpenTime.Add(time.Minute)) {
		t.Errorf("close: got request_time %v, close_time %v; want both %v", closed.RequestTime, closed.CloseTime, s.OpenTime.Add(time.Minute))
	}

	idle := open(t, c, `{"user_id":"u1"}`)
	clk.advance(25 * time.Hour) // past the default expire_timeout of 24 h
	execute(t, c, "close_expired_sessions", `{}`)
	expired := execute(t, c, "get_session_by_id", `{"session_id":"`+idle.ID+`"}`).(*sessions.Session)
	if expired.Active || !expired.RequestTime.Equal(expired.CloseTime) || expired.RequestTime.Equal(idle.RequestTime) {
		t.Errorf("expiry: got active=%v request_time %v, close_time %v; want closed, both the sweep's time",
			expired.Active, expired.RequestTime, expired.CloseTime)
	}
}

// A sweep of several chunks closes every expired session, each once, and
// leaves the others open.
func TestASweepOfManyChunksClosesEveryExpiredSession(t *testing.T) {
	c, clk := newController(t, container.Config{})
	var idle []string
	for range 1000 {
		idle = append(idle, open(t, c, `{"user_id":"u1"}`).ID)
	}
	clk.advance(25 * time.Hour) // past the default expire_timeout of 24 h
	fresh := open(t, c, `{"user_id":"u2"}`)
	execute(t, c, "close_expired_sessions", `{}`)
	page := execute(t, c, "get_sessions", `{"filter":{"active":"true"},"paging":{"total":true}}`).(*sessions.Page)
	if *page.Total != 1 || page.Data[0].ID != fresh.ID {
		t.Errorf("active after the sweep: got %d; want the fresh session alone", *page.Total)
	}
	for _, id := range idle {
		if s := execute(t, c, "get_session_by_id", `{"session_id":"`+id+`"}`).(*sessions.Session); s.Active || s.CloseReason != sessions.ReasonExpired {
			t.Fatalf("session %s: got active %v, close reason %q; want it expired", id, s.Active, s.CloseReason)
		}
	}
}

// The background sweep, paced between its chunks, closes every expired
// session too.
func TestThePacedSweepClosesEveryExpiredSession(t *testing.T) {
	store := persistence.NewMemory()
	c, clk := newControllerOver(t, store, container.Config{"options": map[string]any{"cleanup_interval": 50}})
	for range 1000 {
		open(t, c, `{"user_id":"u1"}`)
	}
	clk.advance(25 * time.Hour)
	if err := c.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	active := true
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		page, err := store.GetPageByFilter(t.Context(), sessions.Filter{Active: &active}, sessions.Paging{Take: 1, Total: true})
		if err != nil {
			t.Fatal(err)
		}
		if *page.Total == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still active 10 s after they expired; want the sweep to have closed them", *page.Total)
		}
	}
}

func TestStoringDataOrUserNeedsAValue(t *testing.T) {
	c, _ := newController(t, container.Config{})
	s := open(t, c, `{"user_id":"u1","user":{"name":"A"},"data":{"cart":1}}`)
	for _, tc := range []struct{ command, body, message string }{
		{"store_session_data", `{"session_id":"` + s.ID + `"}`, "Validation failed: data must not be null"},
		{"store_session_data", `{"session_id":"` + s.ID + `","data":null}`, "Validation failed: data must not be null"},
		{"update_session_user", `{"session_id":"` + s.ID + `","user":null}`, "Validation failed: user must not be null"},
		{"update_session_user", `{}`, "Validation failed: session_id must not be null, user must not be null"},
	} {
		_, err := run(c, tc.command, tc.body)
		wantCode(t, err, sessions.CodeInvalidData)
		if e := sessions.AsError(err); e == nil || e.Message != tc.message {
			t.Errorf("%s %s: got %v; want %q", tc.command, tc.body, err, tc.message)
		}
	}
	got := execute(t, c, "get_session_by_id", `{"session_id":"`+s.ID+`"}`).(*sessions.Session)
	if string(got.User) != `{"name":"A"}` || string(got.Data) != `{"cart":1}` {
		t.Errorf("after refused updates: got user %s, data %s; want both kept", got.User, got.Data)
	}
}

// A meter that records what the controller tells it.
type recordingMeter struct {
	active tally[int64]  // the counts of active sessions
	opens  tally[string] // the open results
	stored tally[string] // the store operations timed
}

func (m *recordingMeter) ActiveSessions(n int64)               { m.active.add(n) }
func (m *recordingMeter) SessionEvent(sessions.Event, bool)    {}
func (m *recordingMeter) OpenResult(result string)             { m.opens.add(result) }
func (m *recordingMeter) StoreDone(op string, _ time.Duration) { m.stored.add(op) }

func (m *recordingMeter) told() []int64      { return m.active.all() }
func (m *recordingMeter) results() []string  { return m.opens.all() }
func (m *recordingMeter) storeOps() []string { return m.stored.all() }

// tally is what a meter was told, in order, safe to read while it is told
// more.
type tally[T any] struct {
	mu    sync.Mutex
	items []T
}

func (l *tally[T]) add(v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items = append(l.items, v)
}

func (l *tally[T]) all() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.items)
}

// meteredController returns a controller configured with cfg over store,
// on the clock now (nil for the wall clock), whose meter records what it
// is told.
func meteredController(t *testing.T, store logic.Store, now func() time.Time, cfg container.Config) (*logic.Controller, *recordingMeter) {
	t.Helper()
	meter := &recordingMeter{}
	refs := container.NewReferences()
	refs.Put(persistenceDescriptor("memory"), store)
	refs.Put(container.Descriptor{Group: "pip-services", Type: "counters", Kind: "test", Name: "default", Version: "1.0"}, meter)
	c := logic.NewController(nil, now)
	if err := c.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReferences(refs); err != nil {
		t.Fatal(err)
	}
	return c, meter
}

// Every store operation is timed, the homes' and devices' too.
func TestEveryStoreOperationIsTimed(t *testing.T) {
	c, meter := meteredController(t, persistence.NewMemory(), nil, container.Config{})
	for _, call := range []struct{ route, command, args string }{
		{sessions.HomesRoute, "set_home", `{"home":{"id":"acct","max_sessions":2}}`},
		{sessions.HomesRoute, "get_home", `{"home_id":"acct"}`},
		{sessions.HomesRoute, "get_homes", `{}`},
		{sessions.DevicesRoute, "register_device", `{"device_id":"tv","user_id":"acct"}`},
		{sessions.DevicesRoute, "get_device", `{"device_id":"tv"}`},
		{sessions.DevicesRoute, "get_devices", `{"user_id":"acct"}`},
		{sessions.DevicesRoute, "delete_device", `{"device_id":"tv"}`},
		{sessions.HomesRoute, "delete_home", `{"home_id":"acct"}`},
	} {
		if _, err := c.Execute(t.Context(), call.route, call.command, json.RawMessage(call.args)); err != nil {
			t.Fatalf("%s: %v", call.command, err)
		}
	}
	if _, err := c.SetMaxSessions(t.Context(), "other", 3); err != nil { // the Cloudstate routes' call
		t.Fatal(err)
	}
	got := meter.storeOps()
	for _, op := range []string{"set_home", "set_max_sessions", "get_home", "get_homes", "set_device", "get_device", "get_devices", "delete_device", "delete_home"} {
		if !slices.Contains(got, op) {
			t.Errorf("store operations timed: got %v; want %s among them", got, op)
		}
	}
}

func persistenceDescriptor(kind string) container.Descriptor {
	return container.Descriptor{Group: "service-sessions", Type: "persistence", Kind: kind, Name: "default", Version: "1.0"}
}

func TestOfSeveralPersistencesTheLastIsUsedAsInNode(t *testing.T) {
	first, last := persistence.NewMemory(), persistence.NewMemory()
	core, logs := observer.New(zapcore.WarnLevel)
	refs := container.NewReferences()
	refs.Put(container.Descriptor{Group: "pip-services", Type: "logger", Kind: "console", Name: "default", Version: "1.0"}, zap.New(core))
	refs.Put(persistenceDescriptor("memory"), first)
	refs.Put(persistenceDescriptor("file"), last)
	c := logic.NewController(nil, nil)
	if err := c.SetReferences(refs); err != nil {
		t.Fatal(err)
	}
	open(t, c, `{"user_id":"u1"}`)
	if first.Len() != 0 || last.Len() != 1 {
		t.Errorf("sessions stored: %d in the first persistence, %d in the last; want 0 and 1", first.Len(), last.Len())
	}
	// The warning names the one used as the config does.
	want := persistenceDescriptor("file").String()
	if warnings := logs.All(); len(warnings) != 1 || warnings[0].ContextMap()["used"] != want {
		t.Errorf("warnings: got %v; want one naming %s as used", warnings, want)
	}
}

func TestTheActiveGaugeStartsWithEverySessionStoredActive(t *testing.T) {
	store := persistence.NewMemory()
	c, clk := newControllerOver(t, store, container.Config{})
	execute(t, c, "set_home", `{"home":{"id":"acct","max_sessions":5,"lease_timeout":1000}}`)
	open(t, c, `{"user_id":"acct"}`)
	open(t, c, `{"user_id":"plain"}`)
	clk.advance(2 * time.Second) // the lease of acct's session lapses; no sweep has closed it

	// A restart over the same store: the lapsed session counts until it is
	// closed, since its close (an expired event) counts it down.
	again, meter := meteredController(t, store, clk.now, container.Config{})
	if err := again.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer again.Close(context.Background())
	if got := meter.told(); !slices.Equal(got, []int64{2}) {
		t.Errorf("active sessions at start: got %v; want [2]", got)
	}
}

// A store that cannot count the active sessions at start does not stop
// the start: the gauge counts from 0 until a later try counts them, with
// the expiry sweep off too.
func TestAStartGoesOnWhenTheActiveSessionsCannotBeCounted(t *testing.T) {
	store := persistence.NewMemory()
	c, _ := newControllerOver(t, store, container.Config{})
	open(t, c, `{"user_id":"u1"}`)

	again, meter := meteredController(t, &hookStore{Memory: store,
		listFails: func() error { return sessions.Unavailable(context.DeadlineExceeded) }}, // once
		nil, container.Config{"options": map[string]any{"cleanup_interval": 0}})
	if err := again.Open(t.Context()); err != nil {
		t.Fatalf("open: %v; want a start whatever the count", err)
	}
	defer again.Close(context.Background())
	// Nothing is told until a count succeeds, so 1 is the first value told.
	for deadline := time.Now().Add(5 * time.Second); !slices.Equal(meter.told(), []int64{1}); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("active sessions told: %v; want [1] alone, counted again", meter.told())
		}
	}
}

// stuckStore is a database that does not answer the expiry sweep's query
// until its context ends; that error is sent on ended.
type stuckStore struct {
	*persistence.Memory
	entered chan struct{}
	ended   chan error
}

func (s *stuckStore) ExpiredIDs(ctx context.Context, _ sessions.Expiry) ([]string, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	select {
	case s.ended <- ctx.Err():
	default:
	}
	return nil, ctx.Err()
}

func TestCloseCancelsARunningExpirySweep(t *testing.T) {
	store := &stuckStore{Memory: persistence.NewMemory(), entered: make(chan struct{}, 1), ended: make(chan error, 1)}
	// A pass may take twice the cleanup interval, here two seconds after
	// it starts; ended by Close, it is cancelled instead of timing out.
	c := logic.NewController(store, nil)
	if err := c.Configure(container.Config{"options": map[string]any{"cleanup_interval": 1000}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-store.entered
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-store.ended; !errors.Is(err, context.Canceled) {
		t.Errorf("the running pass ended with %v; want it cancelled by Close", err)
	}
}
