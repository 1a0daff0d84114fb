package test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/client"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// The controller is what the in-process client runs on.
var _ client.Executor = (*logic.Controller)(nil)

// TestSDKContract runs one behavioural suite against every implementation
// of the SDK: over HTTP on the real service, in process on the controller,
// and the in-memory fake. They must agree wherever they overlap.
func TestSDKContract(t *testing.T) {
	for _, tc := range []struct {
		name string
		api  func(t *testing.T) client.API
		wire bool // errors carry the HTTP status
	}{
		{"http", func(t *testing.T) client.API { return client.NewHTTP(startMemory(t)) }, true},
		{"direct", func(*testing.T) client.API {
			return client.NewDirect(logic.NewController(persistence.NewMemory(), nil))
		}, false},
		{"fake", func(*testing.T) client.API { return client.NewFake() }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testSDK(t, tc.api(t), tc.wire)
		})
	}
}

// Arguments larger than the service takes in a body by default are refused
// with BODY_TOO_LARGE by the service and by the fake, so that a test
// against the fake fails as production would; the in-process client sends
// no body and has no such bound.
func TestSDKRefusesArgumentsOverTheDefaultBodyBound(t *testing.T) {
	for _, tc := range []struct {
		name string
		api  func(t *testing.T) client.API
		wire bool
	}{
		{"http", func(t *testing.T) client.API { return client.NewHTTP(startMemory(t)) }, true},
		{"fake", func(*testing.T) client.API { return client.NewFake() }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := tc.api(t)
			ctx := sessions.WithCorrelationID(context.Background(), "big-1")
			data := json.RawMessage(`"` + strings.Repeat("x", sessions.DefaultMaxBodySize) + `"`)
			_, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "big", Data: data})
			sdkWantError(t, err, tc.wire, 413, sessions.CategoryBadRequest, sessions.CodeBodyTooLarge, "big-1")
			s, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "big", Data: json.RawMessage(`"small"`)})
			if err != nil {
				t.Fatal(err)
			}
			_, err = api.SendNotification(ctx, client.SendNotificationArgs{UserID: "big", Method: "m", Params: data})
			sdkWantError(t, err, tc.wire, 413, sessions.CategoryBadRequest, sessions.CodeBodyTooLarge, "big-1")
			page, err := api.GetSessions(ctx, sessions.FilterParams{"user_id": "big"}, nil)
			if err != nil || len(page.Data) != 1 || page.Data[0].ID != s.ID {
				t.Errorf("sessions of big: got %v, %v; want only the small one", page, err)
			}
		})
	}
}

// testSDK is the contract every implementation of client.API meets.
func testSDK(t *testing.T, api client.API, wire bool) {
	ctx := context.Background()
	missing := strings.Repeat("0", 32)

	t.Run("open get store update close delete", func(t *testing.T) {
		s, err := api.OpenSession(ctx, client.OpenSessionArgs{
			UserID: "u1", UserName: "Ann", Address: "10.0.0.1", Client: "web", DeviceID: "tv-1",
			User: map[string]any{"name": "Ann", "roles": []string{"admin"}},
			Data: json.RawMessage(`{"cart": 3}`),
		})
		if err != nil {
			t.Fatalf("open_session: %v", err)
		}
		if !idPattern.MatchString(s.ID) {
			t.Errorf("id: got %q; want 32 lowercase hex characters", s.ID)
		}
		for _, f := range []struct{ name, got, want string }{
			{"user_id", s.UserID, "u1"}, {"user_name", s.UserName, "Ann"}, {"address", s.Address, "10.0.0.1"},
			{"client", s.Client, "web"}, {"device_id", s.DeviceID, "tv-1"},
		} {
			if f.got != f.want {
				t.Errorf("%s: got %q; want %q", f.name, f.got, f.want)
			}
		}
		if !s.Active || s.OpenTime.IsZero() || !s.RequestTime.Equal(s.OpenTime) || !s.CloseTime.IsZero() {
			t.Errorf("new session: got active=%v open=%v request=%v close=%v; want active, open = request, no close time",
				s.Active, s.OpenTime, s.RequestTime, s.CloseTime)
		}
		sdkWantJSON(t, "user", s.User, `{"name":"Ann","roles":["admin"]}`)
		sdkWantJSON(t, "data", s.Data, `{"cart":3}`)

		got, err := api.GetSessionByID(ctx, s.ID)
		if err != nil || got == nil {
			t.Fatalf("get_session_by_id: got %v, %v; want the session", got, err)
		}
		if got.ID != s.ID || !got.OpenTime.Equal(s.OpenTime) {
			t.Errorf("get_session_by_id: got %s opened %v; want %s opened %v", got.ID, got.OpenTime, s.ID, s.OpenTime)
		}
		sdkWantJSON(t, "user", got.User, `{"name":"Ann","roles":["admin"]}`)

		time.Sleep(3 * time.Millisecond) // request_time has millisecond precision
		stored, err := api.StoreSessionData(ctx, s.ID, map[string]string{"k": "v"})
		if err != nil || stored == nil {
			t.Fatalf("store_session_data: got %v, %v; want the session", stored, err)
		}
		sdkWantJSON(t, "data", stored.Data, `{"k":"v"}`)
		sdkWantJSON(t, "user", stored.User, `{"name":"Ann","roles":["admin"]}`)
		if !stored.RequestTime.After(s.RequestTime) {
			t.Errorf("request_time: got %v; want later than %v", stored.RequestTime, s.RequestTime)
		}

		updated, err := api.UpdateSessionUser(ctx, s.ID, "Bob")
		if err != nil || updated == nil {
			t.Fatalf("update_session_user: got %v, %v; want the session", updated, err)
		}
		sdkWantJSON(t, "user", updated.User, `"Bob"`)
		sdkWantJSON(t, "data", updated.Data, `{"k":"v"}`)

		closed, err := api.CloseSession(ctx, s.ID)
		if err != nil || closed == nil {
			t.Fatalf("close_session: got %v, %v; want the session", closed, err)
		}
		if closed.Active || closed.CloseTime.IsZero() || closed.User != nil || closed.Data != nil {
			t.Errorf("closed session: got active=%v close_time=%v user=%s data=%s; want inactive, a close time, no user or data",
				closed.Active, closed.CloseTime, closed.User, closed.Data)
		}

		deleted, err := api.DeleteSessionByID(ctx, s.ID)
		if err != nil || deleted == nil || deleted.ID != s.ID {
			t.Fatalf("delete_session_by_id: got %v, %v; want session %s", deleted, err, s.ID)
		}
		if got, err := api.GetSessionByID(ctx, s.ID); err != nil || got != nil {
			t.Errorf("get after delete: got %v, %v; want nil, nil", got, err)
		}
	})

	t.Run("nothing found is a nil result", func(t *testing.T) {
		for _, tc := range []struct {
			command string
			call    func() (isNil bool, err error)
		}{
			{"get_session_by_id", func() (bool, error) { s, err := api.GetSessionByID(ctx, missing); return s == nil, err }},
			{"store_session_data", func() (bool, error) { s, err := api.StoreSessionData(ctx, missing, 1); return s == nil, err }},
			{"update_session_user", func() (bool, error) { s, err := api.UpdateSessionUser(ctx, missing, 1); return s == nil, err }},
			{"close_session", func() (bool, error) { s, err := api.CloseSession(ctx, missing); return s == nil, err }},
			{"delete_session_by_id", func() (bool, error) { s, err := api.DeleteSessionByID(ctx, missing); return s == nil, err }},
			{"get_home", func() (bool, error) { h, err := api.GetHome(ctx, missing); return h == nil, err }},
			{"delete_home", func() (bool, error) { h, err := api.DeleteHome(ctx, missing); return h == nil, err }},
			{"get_device", func() (bool, error) { d, err := api.GetDevice(ctx, missing); return d == nil, err }},
			{"delete_device", func() (bool, error) { d, err := api.DeleteDevice(ctx, missing); return d == nil, err }},
		} {
			t.Run(tc.command, func(t *testing.T) {
				isNil, err := tc.call()
				if err != nil || !isNil {
					t.Errorf("got nil=%v, %v; want nil, nil", isNil, err)
				}
			})
		}
		if err := api.CloseExpiredSessions(ctx); err != nil {
			t.Errorf("close_expired_sessions: got %v; want nil", err)
		}
	})

	t.Run("a call whose context is done fails with its error and does nothing", func(t *testing.T) {
		done, cancel := context.WithCancel(ctx)
		cancel()
		if s, err := api.OpenSession(done, client.OpenSessionArgs{UserID: "done-user"}); !errors.Is(err, context.Canceled) || s != nil {
			t.Errorf("open_session: got %v, %v; want nil and context.Canceled", s, err)
		}
		if err := api.CloseExpiredSessions(done); !errors.Is(err, context.Canceled) {
			t.Errorf("close_expired_sessions: got %v; want context.Canceled", err)
		}
		page, err := api.GetSessions(ctx, sessions.FilterParams{"user_id": "done-user"}, nil)
		if err != nil || len(page.Data) != 0 {
			t.Errorf("sessions of done-user: got %v, %v; want none", page, err)
		}
	})

	t.Run("results are the caller's to change", func(t *testing.T) {
		s, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "copies", Details: map[string]string{"k": "v"}})
		if err != nil {
			t.Fatal(err)
		}
		page, err := api.GetSessions(ctx, sessions.FilterParams{"user_id": "copies"}, nil)
		if err != nil || len(page.Data) != 1 {
			t.Fatalf("get_sessions: got %v, %v; want the session", page, err)
		}
		page.Data[0].Details["k"] = "changed by the caller"
		s.Details["k"] = "changed by the caller"
		if got, err := api.GetSessionByID(ctx, s.ID); err != nil || got.Details["k"] != "v" {
			t.Errorf("stored details: got %v, %v; want k=v", got.Details, err)
		}
	})

	t.Run("validation errors carry category code and correlation id", func(t *testing.T) {
		for _, tc := range []struct {
			command, message string
			call             func(ctx context.Context) error
		}{
			{"open_session", "Validation failed: user_id must not be null", func(ctx context.Context) error {
				_, err := api.OpenSession(ctx, client.OpenSessionArgs{UserName: "nobody"})
				return err
			}},
			{"get_session_by_id", "Validation failed: session_id must not be null", func(ctx context.Context) error {
				_, err := api.GetSessionByID(ctx, "")
				return err
			}},
			{"get_sessions", `Validation failed: filter.active "maybe" must be a boolean`, func(ctx context.Context) error {
				_, err := api.GetSessions(ctx, sessions.FilterParams{"active": "maybe"}, nil)
				return err
			}},
			{"open_session too long", "Validation failed: user_id must not be longer than 256 characters", func(ctx context.Context) error {
				_, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: strings.Repeat("é", 257)})
				return err
			}},
			{"open_session too many details", "Validation failed: details must not have more than 100 entries", func(ctx context.Context) error {
				details := map[string]string{}
				for i := range 101 {
					details[fmt.Sprint("k", i)] = "v"
				}
				_, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "u1", Details: details})
				return err
			}},
			{"open_session nested too deep", "Validation failed: data must not nest deeper than 32 levels", func(ctx context.Context) error {
				var data any = 1
				for range 33 {
					data = []any{data}
				}
				_, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "u1", Data: data})
				return err
			}},
			{"update_session_details long entry", "Validation failed: session_id must not be longer than 64 characters, details entries must not be longer than 256 characters", func(ctx context.Context) error {
				_, err := api.UpdateSessionDetails(ctx, strings.Repeat("s", 65), map[string]string{"k": strings.Repeat("v", 257)})
				return err
			}},
			{"open_session without an account", "Validation failed: user_id must not be null, user_name must not be longer than 256 characters", func(ctx context.Context) error {
				_, err := api.OpenSession(ctx, client.OpenSessionArgs{UserName: strings.Repeat("n", 257)})
				return err
			}},
			{"send_notification to no one", "Validation failed: user_id or push_address must not be null, method must not be null", func(ctx context.Context) error {
				_, err := api.SendNotification(ctx, client.SendNotificationArgs{})
				return err
			}},
			{"store_session_data", "Validation failed: data must not be null", func(ctx context.Context) error {
				_, err := api.StoreSessionData(ctx, "any-session", nil)
				return err
			}},
			{"update_session_user", "Validation failed: session_id must not be null, user must not be null", func(ctx context.Context) error {
				_, err := api.UpdateSessionUser(ctx, "", nil)
				return err
			}},
			{"register_device", "Validation failed: device_id must not be null, user_id must not be null", func(ctx context.Context) error {
				_, err := api.RegisterDevice(ctx, "", "")
				return err
			}},
			{"set_home", "Validation failed: home must not be null", func(ctx context.Context) error {
				_, err := api.SetHome(ctx, nil)
				return err
			}},
			{"set_home policy", `Validation failed: home.policy "random" must be deny or evict_oldest`, func(ctx context.Context) error {
				_, err := api.SetHome(ctx, &sessions.Home{ID: "h", MaxSessions: 1, Policy: "random"})
				return err
			}},
		} {
			t.Run(tc.command, func(t *testing.T) {
				correlationID := "sdk-" + tc.command
				err := tc.call(sessions.WithCorrelationID(ctx, correlationID))
				var e *sessions.Error
				if !errors.As(err, &e) {
					t.Fatalf("got error %v (%T); want a *sessions.Error", err, err)
				}
				if e.Code != sessions.CodeInvalidData || e.Category != sessions.CategoryBadRequest || e.Message != tc.message {
					t.Errorf("got %s/%s %q; want %s/%s %q", e.Category, e.Code, e.Message,
						sessions.CategoryBadRequest, sessions.CodeInvalidData, tc.message)
				}
				if e.CorrelationID != correlationID {
					t.Errorf("correlation id: got %q; want %q", e.CorrelationID, correlationID)
				}
				if wire && e.Status != 400 {
					t.Errorf("status: got %d; want 400", e.Status)
				}
			})
		}
	})

	t.Run("a correlation id is cut to 256 bytes, at a character's start", func(t *testing.T) {
		long := strings.Repeat("x", 255) + "é" // é takes bytes 256 and 257
		_, err := api.OpenSession(sessions.WithCorrelationID(ctx, long), client.OpenSessionArgs{})
		sdkWantError(t, err, wire, 400, sessions.CategoryBadRequest, sessions.CodeInvalidData, long[:255])
	})

	t.Run("update_session_details refuses a merge past 100 entries", func(t *testing.T) {
		details := map[string]string{}
		for i := range 100 {
			details[fmt.Sprint("k", i)] = "v"
		}
		s, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "detailed", Details: details})
		if err != nil {
			t.Fatal(err)
		}
		_, err = api.UpdateSessionDetails(ctx, s.ID, map[string]string{"one": "more"})
		if e := sessions.AsError(err); e == nil || e.Code != sessions.CodeInvalidData {
			t.Errorf("101st entry: got %v; want INVALID_DATA", err)
		}
		got, err := api.UpdateSessionDetails(ctx, s.ID, map[string]string{"k0": "", "one": "more"})
		if err != nil || got == nil || len(got.Details) != 100 || got.Details["one"] != "more" {
			t.Errorf("a merge that deletes one and adds one: got %v, %v; want 100 entries with one", got, err)
		}
	})

	t.Run("get_sessions filters pages and orders newest first", func(t *testing.T) {
		var ids []string
		for i := range 5 {
			s, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "pager", Client: "web", Data: i, User: "x"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, s.ID)
			time.Sleep(2 * time.Millisecond)
		}
		if _, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "someone else"}); err != nil {
			t.Fatal(err)
		}
		if _, err := api.CloseSession(ctx, ids[0]); err != nil {
			t.Fatal(err)
		}

		page, err := api.GetSessions(ctx, sessions.FilterParams{"user_id": "pager", "active": "true"},
			sessions.NewPagingParams(1, 2, true))
		if err != nil {
			t.Fatal(err)
		}
		if page.Total == nil || *page.Total != 4 {
			t.Errorf("total: got %v; want 4 active sessions", page.Total)
		}
		// Newest first: ids[4], ids[3], ids[2], ids[1]; skip 1, take 2.
		if got := sdkPageIDs(page); !reflect.DeepEqual(got, []string{ids[3], ids[2]}) {
			t.Errorf("page: got %v; want %v", got, []string{ids[3], ids[2]})
		}
		for _, s := range page.Data {
			if s.User != nil || s.Data != nil {
				t.Errorf("page item %s: got user %s and data %s; want neither", s.ID, s.User, s.Data)
			}
		}

		page, err = api.GetSessions(ctx, sessions.FilterParams{"user_id": "pager"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Closing a session uses it, as in Pip: ids[0] is now the newest.
		want := []string{ids[0], ids[4], ids[3], ids[2], ids[1]}
		if got := sdkPageIDs(page); page.Total != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("without paging: got total %v and %v; want no total and %v", page.Total, got, want)
		}

		newest, err := api.GetSessionByID(ctx, ids[0])
		if err != nil || newest == nil {
			t.Fatalf("get_session_by_id: got %v, %v", newest, err)
		}
		from := newest.RequestTime.Format(sessions.TimeLayout)
		page, err = api.GetSessions(ctx, sessions.FilterParams{"user_id": "pager", "from_time": from}, nil)
		if got := sdkPageIDs(page); err != nil || !reflect.DeepEqual(got, []string{ids[0]}) {
			t.Errorf("from_time=%s (inclusive): got %v, %v; want [%s]", from, got, err, ids[0])
		}
		page, err = api.GetSessions(ctx, sessions.FilterParams{"user_id": "pager", "to_time": from}, nil)
		if got := sdkPageIDs(page); err != nil || len(got) != 4 || got[0] != ids[4] {
			t.Errorf("to_time=%s (exclusive): got %v, %v; want the 4 older sessions", from, got, err)
		}

		page, err = api.GetSessions(ctx, sessions.FilterParams{"user_id": "nobody"}, nil)
		if err != nil || page == nil || len(page.Data) != 0 {
			t.Errorf("no match: got %v, %v; want an empty page", page, err)
		}
	})

	t.Run("devices open sessions for their account", func(t *testing.T) {
		d, err := api.RegisterDevice(ctx, "tv-9", "owner")
		if err != nil || d == nil || d.ID != "tv-9" || d.UserID != "owner" || d.CreateTime.IsZero() {
			t.Fatalf("register_device: got %+v, %v; want tv-9 of owner with a create time", d, err)
		}
		if _, err := api.RegisterDevice(ctx, "phone-9", "owner"); err != nil {
			t.Fatal(err)
		}
		if got, err := api.GetDevice(ctx, "tv-9"); err != nil || got == nil || got.UserID != "owner" {
			t.Errorf("get_device: got %+v, %v; want tv-9 of owner", got, err)
		}
		page, err := api.GetDevices(ctx, sessions.FilterParams{"user_id": "owner"}, &sessions.PagingParams{Total: true})
		if err != nil || page.Total == nil || *page.Total != 2 || len(page.Data) != 2 || page.Data[0].ID != "phone-9" {
			t.Errorf("get_devices: got %+v, %v; want phone-9 then tv-9, total 2", page, err)
		}

		s, err := api.OpenSession(ctx, client.OpenSessionArgs{DeviceID: "tv-9"})
		if err != nil || s.UserID != "owner" || s.DeviceID != "tv-9" {
			t.Fatalf("open_session by device: got %+v, %v; want a session of owner on tv-9", s, err)
		}
		_, err = api.OpenSession(sessions.WithCorrelationID(ctx, "dev-1"), client.OpenSessionArgs{DeviceID: "unknown"})
		sdkWantError(t, err, wire, 404, sessions.CategoryNotFound, sessions.CodeDeviceNotRegistered, "dev-1")

		if moved, err := api.RegisterDevice(ctx, "tv-9", "neighbour"); err != nil || moved.UserID != "neighbour" {
			t.Errorf("register_device again: got %+v, %v; want tv-9 moved to neighbour", moved, err)
		}
		if got, err := api.DeleteDevice(ctx, "tv-9"); err != nil || got == nil || got.ID != "tv-9" {
			t.Errorf("delete_device: got %+v, %v; want tv-9", got, err)
		}
		if got, err := api.GetDevice(ctx, "tv-9"); err != nil || got != nil {
			t.Errorf("get_device after delete: got %+v, %v; want nil, nil", got, err)
		}
	})

	t.Run("a session opened before its account had a home gets the home's lease", func(t *testing.T) {
		s, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "latecomer", DeviceID: "tv"})
		if err != nil || !s.ExpireTime.IsZero() {
			t.Fatalf("open_session: got %+v, %v; want a session without a lease", s, err)
		}
		before := time.Now()
		if _, err := api.SetHome(ctx, &sessions.Home{ID: "latecomer", MaxSessions: 1, LeaseTimeout: 60_000}); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		got, err := api.GetSessionByID(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if earliest, latest := before.Add(time.Minute).Truncate(time.Millisecond), after.Add(time.Minute); got.ExpireTime.Before(earliest) || got.ExpireTime.After(latest) {
			t.Errorf("expire_time: got %v; want set_home's time + lease, between %v and %v", got.ExpireTime, earliest, latest)
		}
	})

	t.Run("a lapsed session keeps its place, unclosed, until its home is full", func(t *testing.T) {
		if _, err := api.SetHome(ctx, &sessions.Home{ID: "lapsing", MaxSessions: 3, LeaseTimeout: 1000}); err != nil {
			t.Fatal(err)
		}
		lapsed, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "lapsing"})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // past the lease of a second
		if _, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "lapsing"}); err != nil {
			t.Fatal(err)
		}
		got, err := api.GetSessionByID(ctx, lapsed.ID)
		if err != nil || got == nil || got.Active || !got.CloseTime.IsZero() || got.CloseReason != "" {
			t.Errorf("the lapsed session after an open into a home with room: got %+v, %v; want inactive, not closed", got, err)
		}
	})

	t.Run("an open by an unregistered device is refused before its parent is looked for", func(t *testing.T) {
		_, err := api.OpenSession(ctx, client.OpenSessionArgs{DeviceID: "unregistered", ParentID: missing})
		sdkWantError(t, err, wire, 404, sessions.CategoryNotFound, sessions.CodeDeviceNotRegistered, "")
	})

	t.Run("arguments nested past what a body may hold are refused as the body", func(t *testing.T) {
		deep := json.RawMessage(strings.Repeat("[", 70) + strings.Repeat("]", 70))
		_, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: strings.Repeat("u", 300), Data: deep})
		e := sdkWantError(t, err, wire, 400, sessions.CategoryBadRequest, sessions.CodeInvalidData, "")
		if want := "Validation failed: request body must not nest deeper than 64 levels"; e != nil && e.Message != want {
			t.Errorf("message: got %q; want %q, the body's problem alone", e.Message, want)
		}
	})

	t.Run("homes limit sessions and renew_session extends their lease", func(t *testing.T) {
		h, err := api.SetHome(ctx, &sessions.Home{ID: "family", MaxSessions: 2, LeaseTimeout: 60_000})
		if err != nil || h == nil || h.Policy != sessions.PolicyDeny || h.MaxSessions != 2 {
			t.Fatalf("set_home: got %+v, %v; want family, 2 sessions, policy deny", h, err)
		}
		first, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "family", DeviceID: "tv"})
		if err != nil {
			t.Fatal(err)
		}
		if want := first.RequestTime.Add(time.Minute); !first.ExpireTime.Equal(want) {
			t.Errorf("expire_time: got %v; want request_time + lease = %v", first.ExpireTime, want)
		}
		time.Sleep(2 * time.Millisecond)
		second, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "family", DeviceID: "phone"})
		if err != nil {
			t.Fatal(err)
		}

		_, err = api.OpenSession(sessions.WithCorrelationID(ctx, "full-1"), client.OpenSessionArgs{UserID: "family", DeviceID: "tablet"})
		e := sdkWantError(t, err, wire, 409, sessions.CategoryConflict, sessions.CodeMaxSessionsExceeded, "full-1")
		// The details hold what JSON decodes to, on every variant, and list
		// the home's sessions newest first.
		if e != nil {
			if got := e.Details["max_sessions"]; got != 2.0 {
				t.Errorf("details.max_sessions: got %#v; want float64 2", got)
			}
			active, _ := e.Details["active"].([]any)
			var ids []any
			for _, a := range active {
				if a, ok := a.(map[string]any); ok {
					ids = append(ids, a["id"])
				}
			}
			if want := []any{second.ID, first.ID}; !slices.Equal(ids, want) {
				t.Errorf("details.active: got %#v; want the sessions %v, newest first", e.Details["active"], want)
			}
		}

		time.Sleep(2 * time.Millisecond)
		again, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "family", DeviceID: "tv"})
		if err != nil || again.ID != first.ID || !again.RequestTime.After(first.RequestTime) {
			t.Errorf("open from the same device: got %+v, %v; want session %s renewed", again, err, first.ID)
		}

		status, err := api.GetHome(ctx, "family")
		if err != nil || status == nil || status.ActiveCount != 2 || len(status.Sessions) != 2 || status.ID != "family" {
			t.Fatalf("get_home: got %+v, %v; want family with 2 active sessions", status, err)
		}

		time.Sleep(2 * time.Millisecond)
		renewed, err := api.RenewSession(ctx, second.ID)
		if err != nil || renewed == nil || !renewed.ExpireTime.After(second.ExpireTime) {
			t.Errorf("renew_session: got %+v, %v; want expire_time later than %v", renewed, err, second.ExpireTime)
		}
		_, err = api.RenewSession(sessions.WithCorrelationID(ctx, "gone-1"), missing)
		sdkWantError(t, err, wire, 404, sessions.CategoryNotFound, sessions.CodeSessionNotFound, "gone-1")

		// evict_oldest closes the least recently renewed session: the first.
		if _, err := api.SetHome(ctx, &sessions.Home{ID: "family", MaxSessions: 2, Policy: sessions.PolicyEvictOldest}); err != nil {
			t.Fatal(err)
		}
		if _, err := api.RenewSession(ctx, second.ID); err != nil {
			t.Fatal(err)
		}
		third, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "family", DeviceID: "tablet"})
		if err != nil {
			t.Fatalf("open with evict_oldest: %v", err)
		}
		evicted, err := api.GetSessionByID(ctx, first.ID)
		if err != nil || evicted == nil || evicted.Active || evicted.CloseReason != sessions.ReasonEvicted {
			t.Errorf("oldest session: got %+v, %v; want it evicted", evicted, err)
		}
		_, err = api.RenewSession(ctx, first.ID)
		if e := sdkWantError(t, err, wire, 404, sessions.CategoryNotFound, sessions.CodeSessionNotFound, ""); e != nil &&
			e.Details["close_reason"] != sessions.ReasonEvicted {
			t.Errorf("renewing the evicted session: details %v; want its close_reason", e.Details)
		}

		homes, err := api.GetHomes(ctx, sessions.FilterParams{"id": "family"}, &sessions.PagingParams{Total: true})
		if err != nil || homes.Total == nil || *homes.Total != 1 || len(homes.Data) != 1 || homes.Data[0].Policy != sessions.PolicyEvictOldest {
			t.Errorf("get_homes: got %+v, %v; want the family home with evict_oldest", homes, err)
		}
		if got, err := api.DeleteHome(ctx, "family"); err != nil || got == nil || got.ID != "family" {
			t.Errorf("delete_home: got %+v, %v; want family", got, err)
		}
		if _, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "family"}); err != nil {
			t.Errorf("open without a home: got %v; want no quota", err)
		}
		if got, err := api.GetSessionByID(ctx, third.ID); err != nil || got == nil || !got.Active {
			t.Errorf("session after delete_home: got %+v, %v; want it still open", got, err)
		}
	})

	t.Run("close_expired_sessions keeps recent sessions open", func(t *testing.T) {
		s, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "recent"})
		if err != nil {
			t.Fatal(err)
		}
		if err := api.CloseExpiredSessions(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := api.GetSessionByID(ctx, s.ID)
		if err != nil || got == nil || !got.Active {
			t.Errorf("after close_expired_sessions: got %v, %v; want the session still active", got, err)
		}
	})

	t.Run("details parents push addresses and logout from every device", func(t *testing.T) {
		parent, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "meta", Details: map[string]string{"app": "tv", "lang": "en"}})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]string{"app": "tv", "lang": "en"}; !reflect.DeepEqual(parent.Details, want) {
			t.Errorf("details at open: got %v; want %v", parent.Details, want)
		}
		child, err := api.OpenSession(ctx, client.OpenSessionArgs{UserID: "meta", ParentID: parent.ID})
		if err != nil || child.ParentID != parent.ID {
			t.Fatalf("open with parent_id: got %+v, %v; want a child of %s", child, err, parent.ID)
		}
		_, err = api.OpenSession(sessions.WithCorrelationID(ctx, "orphan-1"), client.OpenSessionArgs{UserID: "meta", ParentID: missing})
		sdkWantError(t, err, wire, 400, sessions.CategoryBadRequest, sessions.CodeParentNotFound, "orphan-1")
		page, err := api.GetSessions(ctx, sessions.FilterParams{"parent_id": parent.ID}, nil)
		if got := sdkPageIDs(page); err != nil || !reflect.DeepEqual(got, []string{child.ID}) {
			t.Errorf("get_sessions parent_id: got %v, %v; want [%s]", got, err, child.ID)
		}

		merged, err := api.UpdateSessionDetails(ctx, parent.ID, map[string]string{"lang": "", "theme": "dark"})
		if want := map[string]string{"app": "tv", "theme": "dark"}; err != nil || merged == nil || !reflect.DeepEqual(merged.Details, want) {
			t.Errorf("update_session_details: got %+v, %v; want details %v", merged, err, want)
		}
		bound, err := api.BindPushAddress(ctx, child.ID, "meta-topic")
		if err != nil || bound == nil || bound.PushAddress != "meta-topic" {
			t.Errorf("bind_push_address: got %+v, %v; want meta-topic", bound, err)
		}
		for _, tc := range []struct {
			command string
			call    func() (isNil bool, err error)
		}{
			{"update_session_details", func() (bool, error) {
				s, err := api.UpdateSessionDetails(ctx, missing, map[string]string{"a": "b"})
				return s == nil, err
			}},
			{"bind_push_address", func() (bool, error) { s, err := api.BindPushAddress(ctx, missing, "t"); return s == nil, err }},
		} {
			if isNil, err := tc.call(); err != nil || !isNil {
				t.Errorf("%s of a missing session: got nil=%v, %v; want nil, nil", tc.command, isNil, err)
			}
		}

		// No device streams are connected here.
		if n, err := api.SendNotification(ctx, client.SendNotificationArgs{UserID: "meta", Method: "ping"}); err != nil || n != 0 {
			t.Errorf("send_notification: got %d, %v; want 0", n, err)
		}
		_, err = api.SendNotification(sessions.WithCorrelationID(ctx, "nobody-1"), client.SendNotificationArgs{Method: "ping"})
		sdkWantError(t, err, wire, 400, sessions.CategoryBadRequest, sessions.CodeInvalidData, "nobody-1")

		for _, tc := range []struct {
			command string
			close   func() (int64, error)
			want    int64
		}{
			{"close_address_sessions", func() (int64, error) { return api.CloseAddressSessions(ctx, "meta-topic") }, 1},
			{"close_user_sessions", func() (int64, error) { return api.CloseUserSessions(ctx, "meta") }, 1},
			{"close_user_sessions again", func() (int64, error) { return api.CloseUserSessions(ctx, "meta") }, 0},
		} {
			if n, err := tc.close(); err != nil || n != tc.want {
				t.Errorf("%s: got %d, %v; want %d", tc.command, n, err, tc.want)
			}
		}
		for _, id := range []string{parent.ID, child.ID} {
			got, err := api.GetSessionByID(ctx, id)
			if err != nil || got == nil || got.Active || got.CloseReason != sessions.ReasonClosed {
				t.Errorf("session %s after logout: got %+v, %v; want it closed", id, got, err)
			}
		}
	})
}

// sdkWantError checks a coded error; the status only when it came over
// HTTP, the correlation id only when one was sent.
func sdkWantError(t *testing.T, err error, wire bool, status int, category, code, correlationID string) *sessions.Error {
	t.Helper()
	var e *sessions.Error
	if !errors.As(err, &e) {
		t.Errorf("got error %v (%T); want a *sessions.Error %s/%s", err, err, category, code)
		return nil
	}
	if e.Category != category || e.Code != code {
		t.Errorf("got %s/%s (%s); want %s/%s", e.Category, e.Code, e.Message, category, code)
	}
	if wire && e.Status != status {
		t.Errorf("status: got %d; want %d", e.Status, status)
	}
	if correlationID != "" && e.CorrelationID != correlationID {
		t.Errorf("correlation id: got %q; want %q", e.CorrelationID, correlationID)
	}
	return e
}

func sdkPageIDs(p *sessions.Page) []string {
	if p == nil {
		return nil
	}
	ids := []string{}
	for _, s := range p.Data {
		ids = append(ids, s.ID)
	}
	return ids
}

// sdkWantJSON compares a JSON payload with the expected JSON by value.
func sdkWantJSON(t *testing.T, name string, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: got %q, not JSON: %v", name, got, err)
		return
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: got %s; want %s", name, got, want)
	}
}
