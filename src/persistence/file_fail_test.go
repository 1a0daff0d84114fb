package persistence

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// TestAFailedJournalWriteStopsEveryLaterChange breaks the journal under an
// open file store, as a full or failing disk would: the write that meets it
// and every later change are refused with STORE_UNAVAILABLE, reads go on,
// the store reports the fault (the heartbeat's 503), and a restart finds
// exactly the writes that were acknowledged.
func TestAFailedJournalWriteStopsEveryLaterChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	session := func(id string) *sessions.Session {
		return &sessions.Session{ID: id, UserID: "u1", Active: true, OpenTime: now, RequestTime: now}
	}
	ctx := context.Background()
	f := NewFile(path)
	if err := f.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Create(ctx, session("acknowledged")); err != nil {
		t.Fatal(err)
	}

	if err := f.Fault(); err != nil {
		t.Errorf("fault while the journal works: got %v; want nil", err)
	}

	if err := f.journal.fh.Close(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"meets-the-failure", "after-the-failure"} {
		_, err := f.Create(ctx, session(id))
		if e := sessions.AsError(err); e == nil || e.Code != sessions.CodeStoreUnavailable {
			t.Errorf("create %s: got %v; want %s", id, err, sessions.CodeStoreUnavailable)
		}
	}
	if _, err := f.Update(ctx, "acknowledged", sessions.Update{RequestTime: now.Add(time.Second)}); sessions.AsError(err) == nil {
		t.Errorf("update after the failure: got %v; want %s", err, sessions.CodeStoreUnavailable)
	}
	if err := f.Fault(); err == nil {
		t.Error("fault after the journal failed: got nil; want the write's error, until a restart")
	}
	// The failed group is in memory already; what came after it is not.
	for id, want := range map[string]bool{"acknowledged": true, "meets-the-failure": true, "after-the-failure": false} {
		if s, err := f.GetOneByID(ctx, id); err != nil || (s != nil) != want {
			t.Errorf("read after the failure, %s: got %v, %v; want found %v", id, s, err, want)
		}
	}
	if err := f.Close(ctx); err == nil {
		t.Error("close: got no error; want the journal's")
	}

	again := NewFile(path)
	if err := again.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer again.Close(ctx)
	for id, want := range map[string]bool{"acknowledged": true, "meets-the-failure": false, "after-the-failure": false} {
		if s, err := again.GetOneByID(ctx, id); err != nil || (s != nil) != want {
			t.Errorf("after restart, %s: got %v, %v; want stored %v", id, s, err, want)
		}
	}
}

// TestFileRotationFsyncsThePreviousJournalFirst: with sync "interval", a
// rotation fsyncs the journal it leaves before it creates the next one, so
// a power loss can tear the end of the last journal only (a torn record in
// an earlier journal is corruption, fatal at start-up). A previous journal
// that cannot be fsynced stops the store, and no next journal is created.
func TestFileRotationFsyncsThePreviousJournalFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	ctx := context.Background()
	f := NewFile("")
	// An interval longer than the test: nothing is fsynced but by the rotation.
	if err := f.Configure(container.Config{"path": path, "options": map[string]any{"sync_interval": 3_600_000}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer f.Close(ctx)
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	if _, err := f.Create(ctx, &sessions.Session{ID: "unsynced", UserID: "u1", Active: true, OpenTime: now, RequestTime: now}); err != nil {
		t.Fatal(err)
	}

	if err := f.journal.fh.Close(); err != nil { // its fsync fails now
		t.Fatal(err)
	}
	if err := f.compact(); err == nil {
		t.Error("compact: got no error; want the previous journal's fsync error")
	}
	if _, err := os.Stat(journalName(path, 1)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("next journal: got %v; want none created", err)
	}
	_, err := f.Create(ctx, &sessions.Session{ID: "after", UserID: "u1", Active: true, OpenTime: now, RequestTime: now})
	if e := sessions.AsError(err); e == nil || e.Code != sessions.CodeStoreUnavailable {
		t.Errorf("create after the failed fsync: got %v; want %s", err, sessions.CodeStoreUnavailable)
	}
}
