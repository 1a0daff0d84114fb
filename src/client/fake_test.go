package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/client"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

func TestFakeClosesIdleSessionsOnItsClock(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 21, 21, 34, 17, 379_000_000, time.UTC)
	f := client.NewFake()
	f.Now = func() time.Time { return now }

	idle, err := f.OpenSession(ctx, client.OpenSessionArgs{UserID: "u1", Data: 1})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(23 * time.Hour)
	recent, err := f.OpenSession(ctx, client.OpenSessionArgs{UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Hour) // idle is 25 h old, recent 2 h
	if err := f.CloseExpiredSessions(ctx); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		id         string
		wantActive bool
		wantReason string
	}{
		{idle.ID, false, sessions.ReasonExpired},
		{recent.ID, true, ""},
	} {
		got, err := f.GetSessionByID(ctx, tc.id)
		if err != nil || got == nil {
			t.Fatalf("get %s: got %v, %v", tc.id, got, err)
		}
		if got.Active != tc.wantActive || got.CloseReason != tc.wantReason {
			t.Errorf("session %s: got active=%v reason=%q; want active=%v reason=%q",
				tc.id, got.Active, got.CloseReason, tc.wantActive, tc.wantReason)
		}
		if !tc.wantActive && (got.Data != nil || !got.CloseTime.Equal(now)) {
			t.Errorf("expired session: got data %s, close_time %v; want no data, closed at %v", got.Data, got.CloseTime, now)
		}
	}
}

func TestFakeResultsAreCopies(t *testing.T) {
	ctx := context.Background()
	f := client.NewFake()
	s, err := f.OpenSession(ctx, client.OpenSessionArgs{UserID: "u1", Data: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	s.UserID = "changed"
	s.Data[1] = 'X'
	got, err := f.GetSessionByID(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != "u1" || string(got.Data) != `"abc"` {
		t.Errorf("stored session: got user %q and data %s; want u1 and \"abc\"", got.UserID, got.Data)
	}
}

func TestFakeLogsADeviceOutOfTheAccountItLeaves(t *testing.T) {
	ctx := context.Background()
	f := client.NewFake()
	get := func(id string) *sessions.Session {
		t.Helper()
		s, err := f.GetSessionByID(ctx, id)
		if err != nil || s == nil {
			t.Fatalf("get %s: got %v, %v", id, s, err)
		}
		return s
	}
	if _, err := f.RegisterDevice(ctx, "tv", "acct"); err != nil {
		t.Fatal(err)
	}
	onTV, err := f.OpenSession(ctx, client.OpenSessionArgs{DeviceID: "tv"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.RegisterDevice(ctx, "tv", "buyer"); err != nil {
		t.Fatal(err)
	}
	if s := get(onTV.ID); s.Active || s.CloseReason != sessions.ReasonClosed {
		t.Errorf("acct's session on the moved tv: got active=%v reason=%q; want closed", s.Active, s.CloseReason)
	}
	onTV, err = f.OpenSession(ctx, client.OpenSessionArgs{DeviceID: "tv"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.DeleteDevice(ctx, "tv"); err != nil {
		t.Fatal(err)
	}
	if s := get(onTV.ID); s.Active || s.UserID != "buyer" {
		t.Errorf("buyer's session on the deleted tv: got active=%v account %q; want buyer's, closed", s.Active, s.UserID)
	}
}

func TestFakeEvictsOneSessionAndNoneOverALoweredLimit(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	f := client.NewFake()
	f.Now = func() time.Time { return now }
	setHome := func(max int64) {
		if _, err := f.SetHome(ctx, &sessions.Home{ID: "acct", MaxSessions: max, Policy: sessions.PolicyEvictOldest}); err != nil {
			t.Fatal(err)
		}
	}
	open := func() error {
		now = now.Add(time.Second)
		_, err := f.OpenSession(ctx, client.OpenSessionArgs{UserID: "acct"})
		return err
	}
	setHome(3)
	for range 3 {
		if err := open(); err != nil {
			t.Fatal(err)
		}
	}
	setHome(2)
	var e *sessions.Error
	if err := open(); !errors.As(err, &e) || e.Code != sessions.CodeMaxSessionsExceeded {
		t.Fatalf("open over a lowered limit: got %v; want MAX_SESSIONS_EXCEEDED", err)
	}
	setHome(3)
	if err := open(); err != nil {
		t.Fatalf("open at the limit: %v", err)
	}
	if s, _ := f.GetHome(ctx, "acct"); s.ActiveCount != 3 {
		t.Errorf("live sessions after one eviction: got %d; want 3", s.ActiveCount)
	}
}

// As the service shows it, a lapsed session reads inactive before
// anything closes it.
func TestFakeShowsALapsedSessionInactive(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 21, 21, 34, 17, 379_000_000, time.UTC)
	f := client.NewFake()
	f.Now = func() time.Time { return now }
	if _, err := f.SetHome(ctx, &sessions.Home{ID: "acct", MaxSessions: 2, LeaseTimeout: 10_000}); err != nil {
		t.Fatal(err)
	}
	s, err := f.OpenSession(ctx, client.OpenSessionArgs{UserID: "acct"})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(11 * time.Second)
	got, err := f.GetSessionByID(ctx, s.ID)
	if err != nil || got.Active || !got.CloseTime.IsZero() {
		t.Errorf("get_session_by_id: got %+v, %v; want inactive, not yet closed", got, err)
	}
	page, err := f.GetSessions(ctx, sessions.FilterParams{"active": "false"}, nil)
	if err != nil || len(page.Data) != 1 || page.Data[0].Active {
		t.Errorf("get_sessions active=false: got %+v, %v; want the lapsed session, inactive", page, err)
	}
	if bound, err := f.BindPushAddress(ctx, s.ID, "tv-room"); err != nil || bound != nil {
		t.Errorf("bind_push_address: got %+v, %v; want nothing bound to a lapsed session", bound, err)
	}
}
