package persistence

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
	"go.uber.org/zap"
)

// openTestFile opens a file store with no logging and helpers to change it.
func openTestFile(t *testing.T) (f *File, path string, create, remove func(id string)) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "sessions.dat")
	f = NewFile(path)
	f.log = zap.NewNop()
	if err := f.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(context.Background()) })
	create = func(id string) {
		t.Helper()
		now := time.Now()
		if _, err := f.Create(t.Context(), &sessions.Session{ID: id, UserID: "u", Active: true, OpenTime: now, RequestTime: now}); err != nil {
			t.Fatal(err)
		}
	}
	remove = func(id string) {
		t.Helper()
		if _, err := f.DeleteByID(t.Context(), id); err != nil {
			t.Fatal(err)
		}
	}
	return f, path, create, remove
}

// loadCopy loads the store copied at path and returns what it holds of ids.
func loadCopy(t *testing.T, path string, ids ...string) map[string]bool {
	t.Helper()
	c := NewFile(path)
	c.log = zap.NewNop()
	st, err := c.load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	st.journal.close()
	held := map[string]bool{}
	for _, id := range ids {
		held[id] = c.mem.get(id) != nil
	}
	return held
}

// A compaction between the copy of the snapshot and that of the journals
// removes a journal the snapshot copied needs: the copy is stale, and
// copyStore starts again.
func TestABackupCopyThatACompactionMadeStaleStartsAgain(t *testing.T) {
	f, path, create, remove := openTestFile(t)
	create("base")
	if err := f.compact(); err != nil {
		t.Fatal(err)
	}
	create("x") // acknowledged before the backup began

	copied := filepath.Join(t.TempDir(), "sessions.dat")
	gen, err := copySnapshot(path, copied)
	if err != nil {
		t.Fatal(err)
	}
	remove("x")
	create("y")
	if err := f.compact(); err != nil {
		t.Fatal(err)
	}
	if _, whole, err := copyJournals(path, copied, gen); err != nil || whole {
		t.Fatalf("journals after a compaction: got whole %v, %v; want the gap found", whole, err)
	}

	copied = filepath.Join(t.TempDir(), "sessions.dat")
	if _, err := copyStore(t.Context(), path, copied); err != nil {
		t.Fatal(err)
	}
	if got := loadCopy(t, copied, "base", "x", "y"); !got["base"] || got["x"] || !got["y"] {
		t.Errorf("the copy holds %v; want base and y, as the store does", got)
	}
}

// A copy taken while a compaction runs, between its start of a new journal
// and its snapshot of memory, holds the store of one moment: a change made
// after the copy never shows without the changes made before it.
func TestABackupCopyTakenInTheMiddleOfACompactionHoldsOneMoment(t *testing.T) {
	f, path, create, remove := openTestFile(t)
	create("base")
	if err := f.compact(); err != nil {
		t.Fatal(err)
	}
	// compact, step by step: a new journal first.
	rotated := make(rotation, 1)
	f.ask(func() { f.rotateReq = rotated })
	r := <-rotated
	if r.err != nil {
		t.Fatal(r.err)
	}
	create("x") // in the new journal, acknowledged before the backup began

	copied := filepath.Join(t.TempDir(), "sessions.dat")
	if _, err := copyStore(t.Context(), path, copied); err != nil {
		t.Fatal(err)
	}
	remove("x") // after the copy: x deleted, then y created
	create("y")
	// compact, the rest: the snapshot of memory and the old journal's removal.
	synced := make(chan error, 1)
	f.ask(func() { f.syncReq = synced })
	if err := <-synced; err != nil {
		t.Fatal(err)
	}
	if _, err := writeSnapshot(path, r.gen, f.mem.snapshot(), f.mem.tables.state()); err != nil {
		t.Fatal(err)
	}
	removeJournalsBefore(path, r.gen, f.log)

	if got := loadCopy(t, copied, "base", "x", "y"); !got["base"] || !got["x"] || got["y"] {
		t.Errorf("the copy holds %v; want base and x, the store when it was copied", got)
	}
}
