package persistence

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/sessions"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// failNow is the clock of the failure tests.
var failNow = time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)

// failSession returns an active session of user u1 opened at failNow.
func failSession(id string) *sessions.Session {
	return &sessions.Session{ID: id, UserID: "u1", Active: true, OpenTime: failNow, RequestTime: failNow}
}

// TestAFailedJournalWriteStopsEveryLaterChange breaks the journal under an
// open file store, as a full or failing disk would: the write that meets it
// and every later change are refused with STORE_UNAVAILABLE, reads go on,
// the store reports the fault (the heartbeat's 503), and a restart finds
// exactly the writes that were acknowledged.
func TestAFailedJournalWriteStopsEveryLaterChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	ctx := context.Background()
	f := NewFile(path)
	if err := f.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Create(ctx, failSession("acknowledged")); err != nil {
		t.Fatal(err)
	}

	if err := f.Fault(); err != nil {
		t.Errorf("fault while the journal works: got %v; want nil", err)
	}

	if err := f.journal.fh.Close(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"meets-the-failure", "after-the-failure"} {
		_, err := f.Create(ctx, failSession(id))
		if e := sessions.AsError(err); e == nil || e.Code != sessions.CodeStoreUnavailable {
			t.Errorf("create %s: got %v; want %s", id, err, sessions.CodeStoreUnavailable)
		}
	}
	if _, err := f.Update(ctx, "acknowledged", sessions.Update{RequestTime: failNow.Add(time.Second)}); sessions.AsError(err) == nil {
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
	if _, err := f.Create(ctx, failSession("unsynced")); err != nil {
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
	_, err := f.Create(ctx, failSession("after"))
	if e := sessions.AsError(err); e == nil || e.Code != sessions.CodeStoreUnavailable {
		t.Errorf("create after the failed fsync: got %v; want %s", err, sessions.CodeStoreUnavailable)
	}
}

// faultyJournal is a journal file that fails on cue. With writing set,
// the next write closes it, waits for stall to close, writes half and
// fails; with failSync, fsyncs fail although writes reach the file.
type faultyJournal struct {
	*os.File
	writing, stall chan struct{}
	failSync       bool
}

var errDisk = errors.New("input/output error")

func (j *faultyJournal) Write(b []byte) (int, error) {
	if j.writing == nil {
		return j.File.Write(b)
	}
	close(j.writing)
	j.writing = nil
	<-j.stall
	n, _ := j.File.Write(b[:len(b)/2])
	return n, errDisk
}

func (j *faultyJournal) Sync() error {
	if j.failSync {
		return errDisk
	}
	return j.File.Sync()
}

// openFailing opens a file store at path whose journal from now on is
// disk.
func openFailing(t *testing.T, path string, options map[string]any, disk *faultyJournal) *File {
	t.Helper()
	f := NewFile("")
	if err := f.Configure(container.Config{"path": path, "options": options}); err != nil {
		t.Fatal(err)
	}
	if err := f.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	disk.File = f.journal.fh.(*os.File)
	f.journal.fh = disk
	return f
}

// storedAfterRestart reports, for each id, whether a restart of the store
// at path finds it.
func storedAfterRestart(t *testing.T, path string, ids ...string) map[string]bool {
	t.Helper()
	again := NewFile(path)
	if err := again.Open(t.Context()); err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer again.Close(t.Context())
	found := map[string]bool{}
	for _, id := range ids {
		s, err := again.GetOneByID(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		found[id] = s != nil
	}
	return found
}

// A change queued while a journal write fails part-way is refused too:
// written after the torn bytes and acknowledged, it would be lost with
// them at the restart. The restart finds the acknowledged changes only,
// and no torn tail.
func TestAChangeQueuedDuringAFailedWriteIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	disk := &faultyJournal{}
	f := openFailing(t, path, map[string]any{"sync_interval": 3_600_000}, disk)
	if _, err := f.Create(t.Context(), failSession("acknowledged")); err != nil {
		t.Fatal(err)
	}
	writing := make(chan struct{})
	disk.writing, disk.stall = writing, make(chan struct{})

	torn, queued := make(chan error, 1), make(chan error, 1)
	go func() { _, err := f.Create(t.Context(), failSession("torn")); torn <- err }()
	<-writing
	go func() { _, err := f.Create(t.Context(), failSession("queued")); queued <- err }()
	for f.mem.get("queued") == nil {
		time.Sleep(time.Millisecond)
	}
	close(disk.stall)

	for id, done := range map[string]chan error{"torn": torn, "queued": queued} {
		if e := sessions.AsError(<-done); e == nil || e.Code != sessions.CodeStoreUnavailable {
			t.Errorf("create %s: got %v; want %s", id, e, sessions.CodeStoreUnavailable)
		}
	}
	f.Close(t.Context())
	want := map[string]bool{"acknowledged": true, "torn": false, "queued": false}
	if got := storedAfterRestart(t, path, "acknowledged", "torn", "queued"); !maps.Equal(got, want) {
		t.Errorf("after the restart: got %v; want %v", got, want)
	}
}

// With sync "always", a change whose write reached the journal but whose
// fsync failed is refused, and a restart does not bring it back: the
// journal is cut back to where its batch began.
func TestAChangeWhoseFsyncFailedIsNotBackAfterARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	disk := &faultyJournal{}
	f := openFailing(t, path, map[string]any{"sync": "always"}, disk)
	if _, err := f.Create(t.Context(), failSession("acknowledged")); err != nil {
		t.Fatal(err)
	}
	disk.failSync = true
	_, err := f.Create(t.Context(), failSession("refused"))
	if e := sessions.AsError(err); e == nil || e.Code != sessions.CodeStoreUnavailable {
		t.Fatalf("create with a failing fsync: got %v; want %s", err, sessions.CodeStoreUnavailable)
	}
	f.Close(t.Context())
	want := map[string]bool{"acknowledged": true, "refused": false}
	if got := storedAfterRestart(t, path, "acknowledged", "refused"); !maps.Equal(got, want) {
		t.Errorf("after the restart: got %v; want %v", got, want)
	}
}

// TestAFailedCompactionIsTriedAgainAfterAWaitNotAfterEveryWrite: a journal
// that cannot be rotated (here the next journal's temporary file cannot be
// made, as on a full or read-only disk) stays over its limit. The writes go
// on, and the next try comes after a wait, not after each of them with its
// fsync and its error line.
func TestAFailedCompactionIsTriedAgainAfterAWaitNotAfterEveryWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	ctx := context.Background()
	core, logs := observer.New(zapcore.InfoLevel)
	f := NewFile("")
	if err := f.Configure(container.Config{"path": path, "options": map[string]any{"compact_min_size": 0}}); err != nil {
		t.Fatal(err)
	}
	f.log = zap.New(core)
	if err := f.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer f.Close(ctx)
	blocker := journalName(path, f.journal.gen+1) + ".tmp"
	if err := os.Mkdir(blocker, 0o700); err != nil {
		t.Fatal(err)
	}
	// settled waits until at least n lines hold snippet and no compaction runs.
	settled := func(snippet string, n int) int {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			if got := logs.FilterMessageSnippet(snippet).Len(); got >= n && !f.compacting.Load() {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q within 5s: %v", snippet, logs.All())
			}
		}
	}

	const writes = 20
	for i := range writes {
		if _, err := f.Create(ctx, failSession(fmt.Sprint("s", i))); err != nil {
			t.Fatalf("write %d while compactions fail: %v", i, err)
		}
	}
	// A try after every write would be 20; one, or a second after a slow second.
	if tries := settled("compaction failed", 1); tries > 2 {
		t.Errorf("compaction tries during %d writes: got %d; want 1, then none until the wait passes", writes, tries)
	}

	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	f.retryAt.Store(0) // the wait has passed
	if _, err := f.Create(ctx, failSession("after")); err != nil {
		t.Fatal(err)
	}
	settled("journal compacted", 1)
	if f.retryWait != 0 {
		t.Errorf("after a compaction that worked: wait %v; want it reset", f.retryWait)
	}
}

// A rotation whose new journal fails after its rename (here its open, as
// when the process is out of file descriptors) leaves no file of it: the
// writes go on in the journal before it, which stays the last, so a crash
// that cuts its last write short leaves a store that starts with every
// acknowledged change.
func TestARotationThatFailsAfterItsRenameLeavesNoJournalBehind(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	ctx := context.Background()
	f := NewFile(path)
	f.compactMin = 1 << 62 // only the compaction below
	if err := f.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer f.Close(ctx)
	f.newJournal = func(path string, gen uint64) (*journalFile, error) {
		return makeJournal(path, gen, func(string, uint64, []byte, int64) (*journalFile, error) {
			return nil, errors.New("too many open files")
		})
	}
	gen := f.journal.gen
	if _, err := f.Create(ctx, failSession("before")); err != nil {
		t.Fatal(err)
	}
	if err := f.compact(); err == nil {
		t.Fatal("compaction whose journal cannot be opened: got no error")
	}
	if _, err := os.Stat(journalName(path, gen+1)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("journal %d after its failed creation: got %v; want none", gen+1, err)
	}
	if _, err := f.Create(ctx, failSession("after")); err != nil {
		t.Fatalf("a write after the failed rotation: %v; want it taken", err)
	}

	// The process dies with a write cut short at the journal's end.
	crashed := filepath.Join(t.TempDir(), "sessions.json")
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(path), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == filepath.Base(journalName(path, gen)) {
			b = append(b, 0x4c, 0, 0) // half a frame
		}
		if err := os.WriteFile(filepath.Join(filepath.Dir(crashed), e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	g := NewFile(crashed)
	if err := g.Open(ctx); err != nil {
		t.Fatalf("start after the crash: %v", err)
	}
	defer g.Close(ctx)
	for _, id := range []string{"before", "after"} {
		if s, err := g.GetOneByID(ctx, id); err != nil || s == nil {
			t.Errorf("session %s after the crash: got %v, %v; want it", id, s, err)
		}
	}
}

// A new journal that can be neither opened nor removed again fails the
// store: the writes could only go on in a journal that is no longer the
// last.
func TestARotationThatLeavesItsFailedJournalBehindFailsTheStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	ctx := context.Background()
	f := NewFile(path)
	f.compactMin = 1 << 62
	if err := f.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer f.Close(ctx)
	f.newJournal = func(path string, gen uint64) (*journalFile, error) {
		return makeJournal(path, gen, func(name string, _ uint64, _ []byte, _ int64) (*journalFile, error) {
			// Something in the way that a remove cannot take away.
			if err := os.Remove(name); err != nil {
				t.Error(err)
			}
			if err := os.MkdirAll(filepath.Join(name, "in-the-way"), 0o700); err != nil {
				t.Error(err)
			}
			return nil, errors.New("cannot open")
		})
	}
	if err := f.compact(); !errors.Is(err, errJournalLeft) {
		t.Fatalf("compaction: got %v; want errJournalLeft", err)
	}
	if f.Fault() == nil {
		t.Error("fault after a journal was left behind: got none; want the store failed")
	}
	if _, err := f.Create(ctx, failSession("refused")); err == nil {
		t.Error("a write after a journal was left behind: got it taken; want it refused")
	}
}
