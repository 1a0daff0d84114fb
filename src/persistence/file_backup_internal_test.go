package persistence

import (
	"context"
	"fmt"
	"maps"
	"os"
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

// A store stopped while its snapshot is copied writes a newer snapshot and
// removes the journal the copy needs: the copy, with no journal, is not a
// clean stop's, and starts again.
func TestABackupCopyOfAStoreThatStopsMeanwhileStartsAgain(t *testing.T) {
	f, path, create, _ := openTestFile(t)
	create("base")
	if err := f.compact(); err != nil {
		t.Fatal(err)
	}
	create("x")
	copied := filepath.Join(t.TempDir(), "sessions.dat")
	gen, err := copySnapshot(path, copied)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	last, whole, err := copyJournals(path, copied, gen)
	if err != nil {
		t.Fatal(err)
	}
	now, _ := snapshotGen(path)
	if settled(gen, now, last, whole) {
		t.Fatalf("a copy of snapshot %d and no journal, the store's snapshot now %d: settled; want it started again", gen, now)
	}
	again := filepath.Join(t.TempDir(), "sessions.dat")
	if _, err := copyStore(t.Context(), path, again); err != nil {
		t.Fatal(err)
	}
	if got := loadCopy(t, again, "base", "x"); !got["base"] || !got["x"] {
		t.Errorf("the copy holds %v; want base and x", got)
	}
}

// stoppedCopy copies the files of the store at path, open, into a new
// folder, as a killed service would leave them, and returns the copy's path.
func stoppedCopy(t *testing.T, path string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), filepath.Base(path))
	if _, err := copyStore(t.Context(), path, to); err != nil {
		t.Fatal(err)
	}
	return to
}

// A restore killed after any of its steps leaves a store that starts: the
// old one until the new snapshot is renamed in place, the restored one
// after, the old journals left beside it notwithstanding.
func TestARestoreKilledAfterAnyStepLeavesAStoreThatStarts(t *testing.T) {
	backup, _, create, _ := openTestFile(t)
	create("restored")
	src := filepath.Join(t.TempDir(), "backup.dat")
	if err := backup.Backup(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	live, path, create, _ := openTestFile(t)
	create("old-1")
	for range 3 { // journals of later generations than the backup's
		if err := live.compact(); err != nil {
			t.Fatal(err)
		}
	}
	create("old-2") // in a journal

	for _, tc := range []struct {
		steps int
		want  string
	}{{1, "old"}, {2, "old"}, {3, "restored"}} {
		t.Run(fmt.Sprintf("after %d steps", tc.steps), func(t *testing.T) {
			stopped := stoppedCopy(t, path)
			work, err := os.MkdirTemp(filepath.Dir(stopped), restorePrefix(stopped)+"20261122T000000Z-")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := prepareRestore(t.Context(), stopped, src, work); err != nil {
				t.Fatal(err)
			}
			if tc.steps >= 2 {
				gens, _ := listJournals(stopped)
				if err := linkStoreAside(stopped, gens, work); err != nil {
					t.Fatal(err)
				}
			}
			if tc.steps >= 3 {
				if err := os.Rename(filepath.Join(work, "restored"), stopped); err != nil {
					t.Fatal(err)
				}
			}
			// Whoever opens the store next finishes the restore: it shows
			// the replaced files when the store was replaced, else drops them.
			finishKilledRestores(stopped, "", zap.NewNop())
			shown, _ := filepath.Glob(stopped + ".replaced-*")
			if _, err := os.Stat(work); !os.IsNotExist(err) || len(shown) != map[bool]int{true: 1}[tc.steps >= 3] {
				t.Errorf("after the next open: the restore's folder %v, shown %v", err, shown)
			}
			if tc.steps >= 3 {
				if got := loadCopy(t, filepath.Join(shown[0], filepath.Base(stopped)), "restored", "old-1", "old-2"); !got["old-1"] || !got["old-2"] || got["restored"] {
					t.Errorf("the replaced files shown hold %v; want the old store", got)
				}
			}
			held := loadCopy(t, stopped, "restored", "old-1", "old-2")
			want := map[string]bool{"restored": tc.want == "restored", "old-1": tc.want == "old", "old-2": tc.want == "old"}
			if !maps.Equal(held, want) {
				t.Errorf("the store holds %v; want the %s store alone: %v", held, tc.want, want)
			}
		})
	}
}

// A restore that fails after it replaced the store, before it showed the
// replaced files, keeps them in its folder, without the copy of the
// backup, and the next open shows them.
func TestARestoreThatFailsAfterReplacingKeepsTheReplacedFilesForTheNextOpen(t *testing.T) {
	backup, _, create, _ := openTestFile(t)
	create("restored")
	src := filepath.Join(t.TempDir(), "backup.dat")
	if err := backup.Backup(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	live, path, create, _ := openTestFile(t)
	create("old")
	if err := live.compact(); err != nil {
		t.Fatal(err)
	}
	stopped := stoppedCopy(t, path)
	work := filepath.Join(filepath.Dir(stopped), restorePrefix(stopped)+"20261122T000000Z-1")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := prepareRestore(t.Context(), stopped, src, work); err != nil {
		t.Fatal(err)
	}
	gens, _ := listJournals(stopped)
	if err := linkStoreAside(stopped, gens, work); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(work, "restored"), stopped); err != nil {
		t.Fatal(err)
	}
	endRestore(stopped, work, true, zap.NewNop()) // as a failure to show them ends it

	left, _ := os.ReadDir(work)
	if len(left) != 1 || left[0].Name() != "replaced" {
		t.Fatalf("the restore's folder holds %v; want the replaced files alone", left)
	}
	finishKilledRestores(stopped, "", zap.NewNop())
	shown := filepath.Join(filepath.Dir(stopped), filepath.Base(stopped)+".replaced-20261122T000000Z-1")
	if got := loadCopy(t, filepath.Join(shown, filepath.Base(stopped)), "old", "restored"); !got["old"] || got["restored"] {
		t.Errorf("the replaced files shown hold %v; want the old store", got)
	}
	if _, err := os.Stat(work); !os.IsNotExist(err) {
		t.Errorf("the restore's folder: got %v; want it gone", err)
	}
}

// A restore's folder whose removal was cut short says it was to go: what
// is left of it is removed, never shown, whatever it holds.
func TestTheRestOfADroppedRestoreFolderIsRemovedNotShown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.dat")
	drop := filepath.Join(filepath.Dir(path), restorePrefix(path)+dropped+"20261122T000000Z-1")
	if err := os.MkdirAll(filepath.Join(drop, "replaced"), 0o700); err != nil {
		t.Fatal(err)
	}
	finishKilledRestores(path, "", zap.NewNop())
	if _, err := os.Stat(drop); !os.IsNotExist(err) {
		t.Errorf("the dropped folder: got %v; want it removed", err)
	}
	if shown, _ := filepath.Glob(path + ".replaced-*"); len(shown) != 0 {
		t.Errorf("shown: %v; want nothing", shown)
	}
}

// What a failed restore made goes, but only what is still empty of
// anything anyone else put there.
func TestAFailedRestoreUnmakesOnlyWhatIsItsAlone(t *testing.T) {
	root := t.TempDir()
	made := filepath.Join(root, "a")
	path := filepath.Join(made, "b", "sessions.dat")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	unmake(path, made, true, zap.NewNop())
	if _, err := os.Stat(made); !os.IsNotExist(err) {
		t.Errorf("the folders made: got %v; want them gone", err)
	}

	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".journal.0", []byte("a service's"), 0o600); err != nil {
		t.Fatal(err)
	}
	unmake(path, made, true, zap.NewNop())
	if _, err := os.Stat(path + ".journal.0"); err != nil {
		t.Errorf("a journal someone else wrote: got %v; want it kept", err)
	}
}

// After a power loss the rename over path may be on disk while the
// restore's folder still shows the new snapshot under its old name: that
// store was replaced, and its replaced files are shown.
func TestARestoreFolderWhoseSnapshotIsAlsoTheStoresWasAReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.dat")
	if _, err := writeSnapshot(path, 1, nil, nil); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(filepath.Dir(path), restorePrefix(path)+"20261122T000000Z-1")
	if err := os.MkdirAll(filepath.Join(work, "replaced"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(path, filepath.Join(work, "restored")); err != nil {
		t.Fatal(err)
	}
	finishKilledRestores(path, "", zap.NewNop())
	if shown, _ := filepath.Glob(path + ".replaced-*"); len(shown) != 1 {
		t.Errorf("shown: %v; want the replaced files", shown)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the store's snapshot: %v; want it kept", err)
	}
}
