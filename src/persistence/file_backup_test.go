package persistence_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// changes records what writers asked for and what the store acknowledged.
type changes struct {
	mu                sync.Mutex
	creating, created map[string]bool
	deleting, deleted map[string]bool
	homes             map[string]bool
}

func newChanges() *changes {
	return &changes{creating: map[string]bool{}, created: map[string]bool{},
		deleting: map[string]bool{}, deleted: map[string]bool{}, homes: map[string]bool{}}
}

func (c *changes) add(m map[string]bool, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m[id] = true
}

func (c *changes) copy() *changes {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &changes{creating: maps.Clone(c.creating), created: maps.Clone(c.created),
		deleting: maps.Clone(c.deleting), deleted: maps.Clone(c.deleted), homes: maps.Clone(c.homes)}
}

// A backup taken while writers create and delete sessions and set homes,
// and while compactions fold the journals, restores every change
// acknowledged before it began, and no session that was never made.
func TestABackupOfARunningStoreRestoresEveryChangeAcknowledgedBeforeIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.dat")
	// Compact whenever the journal outgrows the snapshot: many compactions
	// while the backups copy.
	store := openFile(t, path, map[string]any{"compact_min_size": 0, "compact_ratio": 1})
	ctx := t.Context()

	done := make(chan struct{})
	acked := newChanges()
	var writers sync.WaitGroup
	t.Cleanup(func() { close(done); writers.Wait() }) // before the store closes
	for w := range 4 {
		writers.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				s := sessionN(w*10_000_000 + n)
				acked.add(acked.creating, s.ID)
				if _, err := store.Create(ctx, s); err != nil {
					t.Errorf("create: %v", err)
					return
				}
				acked.add(acked.created, s.ID)
				if n >= 200 { // each writer keeps its last 200: a small snapshot, compacted often
					id := sessionN(w*10_000_000 + n - 200).ID
					acked.add(acked.deleting, id)
					if _, err := store.DeleteByID(ctx, id); err != nil {
						t.Errorf("delete: %v", err)
						return
					}
					acked.add(acked.deleted, id)
				}
				if n%10 == 0 {
					home := fmt.Sprintf("home-%d-%d", w, n/10%50)
					if _, err := store.SetHome(ctx, &sessions.Home{ID: home, MaxSessions: 3, Policy: sessions.PolicyDeny}); err != nil {
						t.Errorf("set home: %v", err)
						return
					}
					acked.add(acked.homes, home)
				}
			}
		})
	}
	// Each backup is short; many of them, back to back, make some meet a
	// compaction.
	for deadline := time.Now().Add(10 * time.Second); len(acked.copy().created) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("writers made no session within 10 s")
		}
	}
	for i := range 20 {
		time.Sleep(20 * time.Millisecond)
		before := acked.copy()
		dst := filepath.Join(t.TempDir(), "backup.dat")
		if err := store.Backup(ctx, dst); err != nil {
			t.Fatalf("backup %d: %v", i, err)
		}
		after := acked.copy()
		checkBackup(t, dst, before, after)
	}
}

// checkBackup checks that the backup at dst holds what was acknowledged
// before it began, and nothing that was not asked for by its end.
func checkBackup(t *testing.T, dst string, before, after *changes) {
	t.Helper()
	if len(before.created) == 0 {
		t.Fatal("writers made no session before the backup")
	}
	restored := restore(t, dst)
	page, err := restored.GetPageByFilter(t.Context(), sessions.Filter{}, sessions.Paging{Take: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range page.Data {
		got[s.ID] = true
		if !after.creating[s.ID] {
			t.Fatalf("restored session %s was never made", s.ID)
		}
	}
	for id := range before.created {
		if !got[id] && !after.deleting[id] {
			t.Fatalf("session %s, made before the backup and not deleted by its end, is not restored", id)
		}
	}
	for id := range before.deleted {
		if got[id] {
			t.Fatalf("session %s, deleted before the backup, is restored", id)
		}
	}
	for home := range before.homes {
		if h, err := restored.GetHome(t.Context(), home); err != nil || h == nil {
			t.Fatalf("home %s, set before the backup: got %v, %v", home, h, err)
		}
	}
	if err := restored.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// restore puts a backup in place as the README says, in a new folder, and
// opens a store on it.
func restore(t *testing.T, backup string) *persistence.File {
	t.Helper()
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sessions.dat")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return openFile(t, path, nil)
}

func TestABackupIsOneFileAndLeavesNothingElse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.dat")
	store := openFile(t, path, nil)
	create(t, store, seq(1, 10))
	dir := t.TempDir()
	dst := filepath.Join(dir, "backup.dat")
	for range 2 { // a second backup replaces the first
		if err := store.Backup(t.Context(), dst); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "backup.dat" {
		t.Errorf("files beside the backup: got %v; want only backup.dat", entries)
	}
	restored := restore(t, dst)
	assertStored(t, restored, seq(1, 10), 0)
}

func TestABackupIsRefusedWhereItWouldHarmOrMislead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.dat")
	none := persistence.NewFile("")
	if err := none.Configure(container.Config{"path": path}); err != nil {
		t.Fatal(err)
	}
	if err := none.Backup(t.Context(), filepath.Join(t.TempDir(), "b.dat")); err == nil || !strings.Contains(err.Error(), "no store there") {
		t.Errorf("backup of a path with no store: got %v; want it refused", err)
	}

	store := openFile(t, path, nil)
	create(t, store, seq(1, 3))
	link := filepath.Join(t.TempDir(), "store")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.dat")
	if err := os.Symlink(filepath.Join(t.TempDir(), "target.dat"), other); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, dst, want string }{
		{"the snapshot", path, "among the store's own files"},
		{"a journal", path + ".journal.7", "among the store's own files"},
		{"the lock", path + ".lock", "among the store's own files"},
		{"the snapshot through a symlinked folder", filepath.Join(link, "sessions.dat"), "among the store's own files"},
		{"a journal through a symlinked folder", filepath.Join(link, "sessions.dat.journal.1"), "among the store's own files"},
		{"a folder", t.TempDir(), "not a regular file"},
		{"a symlink", other, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := store.Backup(t.Context(), tc.dst)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("backup to %s: got %v; want it refused as %q", tc.dst, err, tc.want)
			}
		})
	}
	assertStored(t, store, seq(1, 3), 0)
}

// A copy whose last journal ends in a write that is not whole (the write
// in flight on a running store, damage on a stopped one) leaves that write
// out of the backup, and says so, naming the store's journal.
func TestABackupTellsOfTheCutEndItLeavesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.dat")
	store := openFile(t, path, nil)
	create(t, store, seq(1, 5))
	crashed := crashCopy(t, path)
	name := journal(t, crashed)
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, b[:len(b)-40], 0o600); err != nil { // half of the last record
		t.Fatal(err)
	}

	core, logs := observer.New(zapcore.InfoLevel)
	refs := container.NewReferences()
	refs.Put(container.Descriptor{Group: "pip-services", Type: "logger", Kind: "console", Name: "default", Version: "1.0"}, zap.New(core))
	stopped := persistence.NewFile(crashed)
	if err := stopped.SetReferences(refs); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "backup.dat")
	if err := stopped.Backup(t.Context(), dst); err != nil {
		t.Fatal(err)
	}
	told := logs.FilterMessageSnippet("ends in a write that is not whole").All()
	if len(told) != 1 || told[0].ContextMap()["journal"] != name {
		t.Errorf("log: got %v; want the cut end told once, naming %s", logs.All(), name)
	}
	assertStored(t, restore(t, dst), seq(1, 4), 0)
}

// undo restores into a new store the files that a restore replaced beside
// the store at path, and opens it.
func undo(t *testing.T, path string) *persistence.File {
	t.Helper()
	aside, _ := filepath.Glob(path + ".replaced-*")
	if len(aside) != 1 {
		t.Fatalf("folders of replaced files: got %v; want one", aside)
	}
	undone := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := persistence.NewFile(undone).Restore(t.Context(), filepath.Join(aside[0], filepath.Base(path))); err != nil {
		t.Fatal(err)
	}
	return openFile(t, undone, nil)
}

// backedUp opens a store of sessions 1 to n and backs it up.
func backedUp(t *testing.T, n int) (store *persistence.File, path, backup string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "sessions.dat")
	store = openFile(t, path, nil)
	create(t, store, seq(1, n))
	backup = filepath.Join(t.TempDir(), "backup.dat")
	if err := store.Backup(t.Context(), backup); err != nil {
		t.Fatal(err)
	}
	return store, path, backup
}

// Restore puts a backup in place of a stopped store, whatever journals it
// has, and keeps the store's files aside.
func TestARestoredStoreHoldsTheBackupAndItsFilesAreKeptAside(t *testing.T) {
	store, path, dst := backedUp(t, 5)
	// Each clean stop starts a journal of the next generation: the store
	// comes to have journals of later generations than the backup's.
	for _, ns := range [][]int{seq(6, 10), seq(11, 20)} {
		mustClose(t, store)
		store = openFile(t, path, nil)
		create(t, store, ns)
	}
	crashed := crashCopy(t, path) // the store as a killed service leaves it
	before, _ := filepath.Glob(crashed + "*")
	chmod(t, crashed, 0o640)
	killed := filepath.Join(filepath.Dir(crashed), ".sessions.dat.restore-20261122T000000Z-1") // a restore's, killed
	if err := os.Mkdir(killed, 0o700); err != nil {
		t.Fatal(err)
	}

	stopped := persistence.NewFile(crashed)
	if err := stopped.Restore(t.Context(), dst); err != nil {
		t.Fatal(err)
	}
	assertMode(t, crashed, 0o640)
	if _, err := os.Stat(killed); !os.IsNotExist(err) {
		t.Errorf("a killed restore's folder: got %v; want it removed", err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(crashed), ".sessions.dat.restore-*")); len(left) != 0 {
		t.Errorf("folders the restore left: %v; want none", left)
	}
	assertStored(t, openFile(t, crashed, nil), seq(1, 5), 0)
	aside, _ := filepath.Glob(crashed + ".replaced-*")
	if len(aside) != 1 {
		t.Fatalf("folders of replaced files: got %v; want one", aside)
	}
	for _, name := range before {
		if strings.HasSuffix(name, ".lock") {
			continue
		}
		if _, err := os.Stat(filepath.Join(aside[0], filepath.Base(name))); err != nil {
			t.Errorf("%s is not kept aside: %v", filepath.Base(name), err)
		}
	}

	// The replaced store, snapshot and journals, can be restored in turn.
	assertStored(t, undo(t, crashed), seq(1, 20), 0)
}

func TestARestoreIsRefusedWhereItWouldHarm(t *testing.T) {
	store, path, dst := backedUp(t, 3)
	notBackup := filepath.Join(t.TempDir(), "sessions.txt")
	if err := os.WriteFile(notBackup, []byte("sessions: a, b"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.dat")
	if err := os.WriteFile(cut, b[:len(b)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	given := func(name string) func(string) string { return func(string) string { return name } }
	for _, tc := range []struct {
		name string
		src  func(target string) string
		want string
	}{
		{"the service runs", given(dst), "stop the service first"},
		{"not a backup", given(notBackup), "not a backup"},
		{"a folder", given(t.TempDir()), "not a regular file"},
		{"a damaged backup", given(cut), "does not load"},
		{"no such file", given(filepath.Join(t.TempDir(), "none.dat")), "no such file"},
		{"the store's own journal", func(target string) string { return journal(t, target) }, "one of the store's own files"},
		{"a link to the store's own journal", func(target string) string {
			link := filepath.Join(t.TempDir(), "link.dat")
			if err := os.Symlink(journal(t, target), link); err != nil {
				t.Fatal(err)
			}
			return link
		}, "one of the store's own files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target, running := path, tc.name == "the service runs"
			if !running {
				target = crashCopy(t, path) // stopped
			}
			err := persistence.NewFile(target).Restore(t.Context(), tc.src(target))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v; want it refused: %q", err, tc.want)
			}
			if aside, _ := filepath.Glob(target + ".replaced-*"); len(aside) != 0 {
				t.Errorf("the store's files were set aside: %v", aside)
			}
			if !running {
				assertStored(t, openFile(t, target, nil), seq(1, 3), 0)
			}
		})
	}
	assertStored(t, store, seq(1, 3), 0)
}

// A store of journals alone (never compacted yet) is kept aside as a store
// a restore can take, and a restore of another store's leaves it alone.
func TestARestoreOfAStoreOfJournalsAloneCanBeUndone(t *testing.T) {
	store, path, dst := backedUp(t, 3)
	create(t, store, seq(4, 6))
	crashed := crashCopy(t, path)
	if _, err := os.Stat(crashed); !os.IsNotExist(err) {
		t.Fatalf("the store's snapshot: got %v; want none, journals alone", err)
	}
	other := filepath.Join(filepath.Dir(crashed), ".other.json.restore-20261122T000000Z-1") // another store's restore, running
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := persistence.NewFile(crashed).Restore(t.Context(), dst); err != nil {
		t.Fatal(err)
	}
	assertStored(t, openFile(t, crashed, nil), seq(1, 3), 0)
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another store's restore folder: got %v; want it left", err)
	}
	assertStored(t, undo(t, crashed), seq(1, 6), 0)
}

// A store whose snapshot is an empty file (an empty store) with journals
// beside it is kept aside as a store a restore can take.
func TestARestoreOfAStoreBesideAnEmptyFileCanBeUndone(t *testing.T) {
	store, path, dst := backedUp(t, 3)
	crashed := crashCopy(t, path)
	if err := os.WriteFile(crashed, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := persistence.NewFile(crashed).Restore(t.Context(), dst); err != nil {
		t.Fatal(err)
	}
	assertStored(t, undo(t, crashed), seq(1, 3), 0)
	assertStored(t, store, seq(1, 3), 0)
}

// Whatever file is at the store's path, if not empty, is kept aside, even
// one no start could read: restoring is how one recovers from it.
func TestARestoreKeepsADamagedFileAside(t *testing.T) {
	_, _, dst := backedUp(t, 3)
	for _, content := range []string{"damaged, but someone may want it", "\u00a0\v\f"} {
		path := filepath.Join(t.TempDir(), "sessions.dat")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := persistence.NewFile(path).Restore(t.Context(), dst); err != nil {
			t.Fatal(err)
		}
		aside, _ := filepath.Glob(path + ".replaced-*")
		if len(aside) != 1 {
			t.Fatalf("%q: folders of replaced files: got %v; want one", content, aside)
		}
		if b, err := os.ReadFile(filepath.Join(aside[0], "sessions.dat")); err != nil || string(b) != content {
			t.Errorf("the damaged file kept: got %q, %v; want %q", b, err, content)
		}
		assertStored(t, openFile(t, path, nil), seq(1, 3), 0)
	}
}

// A Node sessions file restores as the service migrates it: a store the
// Node service left can be restored in place of one, and one a restore
// replaced can be put back.
func TestARestoreTakesANodeSessionsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.dat")
	if err := persistence.NewFile(path).Restore(t.Context(), filepath.Join("testdata", "node-sessions.json")); err != nil {
		t.Fatal(err)
	}
	page, err := openFile(t, path, nil).GetPageByFilter(t.Context(), sessions.Filter{}, sessions.Paging{Take: 100, Total: true})
	if err != nil || *page.Total == 0 {
		t.Errorf("the restored Node file: got %v, %v; want its sessions", page, err)
	}
}

// A restore that fails leaves no folder it made for the store.
func TestAFailedRestoreLeavesNoFolderItMade(t *testing.T) {
	damaged := filepath.Join(t.TempDir(), "damaged.dat")
	if err := os.WriteFile(damaged, []byte("SESSNAP1 and then no snapshot at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	err := persistence.NewFile(filepath.Join(parent, "new", "sub", "sessions.dat")).Restore(t.Context(), damaged)
	if err == nil || !strings.Contains(err.Error(), "does not load") {
		t.Fatalf("got %v; want the damaged backup refused as it loads", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Errorf("left beside the store's folder: %v; want nothing", entries)
	}

	// Nor a lock file it made in a folder that was there.
	there := t.TempDir()
	if err := persistence.NewFile(filepath.Join(there, "sessions.dat")).Restore(t.Context(), damaged); err == nil {
		t.Fatal("got no error; want the damaged backup refused")
	}
	if entries, _ := os.ReadDir(there); len(entries) != 0 {
		t.Errorf("left in the store's folder: %v; want nothing", entries)
	}
}

func TestARestoreWhereNoStoreIsYetCreatesIt(t *testing.T) {
	_, _, dst := backedUp(t, 3)
	fresh := filepath.Join(t.TempDir(), "new", "sessions.dat")
	if err := persistence.NewFile(fresh).Restore(t.Context(), dst); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Dir(fresh)); len(left) != 2 { // the snapshot and its lock
		t.Errorf("the store's folder holds %v; want the snapshot and its lock alone", left)
	}
	assertStored(t, openFile(t, fresh, nil), seq(1, 3), 0)
}

// A service's start finishes a restore that was killed after it replaced
// the store: the replaced files, still hidden in the restore's folder, are
// shown beside the store.
func TestAStartShowsTheFilesAKilledRestoreReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sessions.dat")
	work := filepath.Join(dir, ".sessions.dat.restore-20261122T000000Z-1")
	if err := os.MkdirAll(filepath.Join(work, "replaced"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "replaced", "sessions.dat.journal.0"), []byte("the old store"), 0o600); err != nil {
		t.Fatal(err)
	}
	openFile(t, path, nil)
	if _, err := os.Stat(work); !os.IsNotExist(err) {
		t.Errorf("the restore's folder: got %v; want it gone", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "sessions.dat.replaced-20261122T000000Z-1", "sessions.dat.journal.0"))
	if err != nil || string(b) != "the old store" {
		t.Errorf("the replaced files shown: got %q, %v; want the old store's", b, err)
	}
}

// A store named without a folder, as a config's path: sessions.json may
// name it, is restored too.
func TestARestoreOfAStoreNamedWithoutAFolder(t *testing.T) {
	_, _, dst := backedUp(t, 3)
	t.Chdir(t.TempDir())
	if err := persistence.NewFile("sessions.dat").Restore(t.Context(), dst); err != nil {
		t.Fatal(err)
	}
	assertStored(t, openFile(t, "sessions.dat", nil), seq(1, 3), 0)
}
