package persistence

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logging"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

var (
	_ logic.Persistence = (*File)(nil)
	_ logic.HomeStore   = (*File)(nil)
	_ logic.DeviceStore = (*File)(nil)
	_ logic.SlotStore   = (*File)(nil)
)

// Defaults of the file store's options.
const (
	// DefaultCompactRatio is how many times the size of the snapshot the
	// journal may grow to before it is folded into a new snapshot.
	DefaultCompactRatio = 2.0
	// DefaultCompactMinSize is the journal size, in bytes, below which no
	// compaction happens whatever the ratio.
	DefaultCompactMinSize = 4 << 20
	// DefaultSyncInterval is how often the journal is fsynced with
	// options.sync "interval".
	DefaultSyncInterval = time.Second
)

var _ logic.Store = (*File)(nil)

// File is the service-sessions:persistence:file:default:1.0 component, the
// embedded default store: every session in memory (a Memory serves every
// read), every change written to a journal before it is acknowledged.
//
// On disk, the configured path holds a snapshot and path.journal.<N> the
// journals; file_load.go describes the files and file_record.go the
// records. Each change appends one checksummed record holding the
// new state of the session (or the id of a deleted one), so a write costs
// the size of the change. Writers queue their record and wait; one writer
// goroutine writes everything queued since its last write in one write
// (group commit), and a call returns only after its record is in the
// journal file, so it survives a crash of the process. With options.sync
// "always" each group is also fsynced before it is acknowledged, so it
// survives a power loss too; with "interval" (the default) the journal is
// fsynced every sync_interval, so a power loss may take the changes of the
// last interval. When the journal outgrows the snapshot it is folded into a
// new snapshot in the background, and again at Close.
//
// A change is visible to readers as soon as it is queued, slightly before
// its writer is acknowledged. After a failed write or fsync the store
// refuses further changes: what is on disk is then the truth, and a restart
// recovers it.
//
// Configuration:
//
//	path                     the snapshot file, e.g. ./data/sessions.json (required);
//	                         its directory is created if missing
//	options.compact_ratio    journal size / snapshot size that triggers a compaction (default 2)
//	options.compact_min_size journal size in bytes below which it never compacts (default 4 MiB)
//	options.sync             "interval" (default) or "always": when an fsync comes, see above
//	options.sync_interval    ms between fsyncs with sync "interval" (default 1000)
//
// At Open, a path holding a JSON array (the Node service's file format) is
// loaded and migrated; the original is kept at path.node-backup.
type File struct {
	// tables keeps homes, devices and quota slots: the memory store's,
	// journaled through this store once it is open.
	*tables

	path         string
	compactRatio float64
	compactMin   int64
	// syncEvery is the fsync period; 0 fsyncs every group before it is acknowledged.
	syncEvery time.Duration
	log       *zap.Logger
	mem       *Memory

	// mu guards the queue and the state flags; it is taken inside the
	// Memory lock when a change is queued, so journal order is change order.
	mu        sync.Mutex
	cur       *batch
	rotateReq rotation
	syncReq   chan error
	open      bool
	closed    bool
	failed    error

	wake    chan struct{}
	stopped chan struct{}
	// compactions tracks the background compaction, if any.
	compactions sync.WaitGroup
	compacting  atomic.Bool
	// After a failed compaction, none starts before retryAt (Unix
	// nanoseconds); retryWait is the last wait, owned by the compaction.
	retryAt   atomic.Int64
	retryWait time.Duration

	// journal is owned by the writer goroutine while the store is open.
	journal *journalFile
	// newJournal creates the journal a rotation moves to: createJournal,
	// or in tests one that fails on cue.
	newJournal func(path string, gen uint64) (*journalFile, error)
	// lock is held while the store is open (see lockStore).
	lock *os.File

	snapshotSize atomic.Int64
	journalSize  atomic.Int64
}

// batch is the records queued between two fsyncs, and how their writers
// learn the outcome.
type batch struct {
	buf  []byte
	n    int // records in buf
	done chan struct{}
	err  error
}

func newBatch(buf []byte) *batch { return &batch{buf: buf[:0], done: make(chan struct{})} }

// fail records that the journal could not be written or synced: the store
// refuses further changes from now on.
func (f *File) fail(err error) {
	f.log.Error("journal write failed; refusing further changes",
		zap.String("path", f.journal.name), zap.Error(err))
	f.mu.Lock()
	f.failed = err
	f.mu.Unlock()
}

// rotation asks the writer goroutine to start a new journal and answers
// with its generation.
type rotation chan rotated

type rotated struct {
	gen uint64
	err error
}

// NewFile returns a file store kept at path; Configure may set the path.
func NewFile(path string) *File {
	mem := NewMemory()
	return &File{
		tables:       mem.tables,
		path:         path,
		compactRatio: DefaultCompactRatio,
		compactMin:   DefaultCompactMinSize,
		syncEvery:    DefaultSyncInterval,
		log:          zap.NewNop(),
		mem:          mem,
		newJournal:   createJournal,
	}
}

// Configure reads path (required), options.compact_ratio,
// options.compact_min_size, options.sync and options.sync_interval.
func (f *File) Configure(cfg container.Config) error {
	f.path = cfg.String("path", f.path)
	if f.path == "" {
		return errors.New("path: the file persistence needs a path, e.g. ./data/sessions.json")
	}
	if s := cfg.String("options.compact_ratio", ""); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r < 1 {
			return fmt.Errorf("options.compact_ratio: %q must be a number of at least 1", s)
		}
		f.compactRatio = r
	}
	n, err := cfg.Int("options.compact_min_size", f.compactMin)
	if err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("options.compact_min_size: %d must not be negative", n)
	}
	f.compactMin = n
	if f.syncEvery, err = cfg.Millis("options.sync_interval", DefaultSyncInterval); err != nil {
		return err
	}
	switch mode := cfg.String("options.sync", "interval"); mode {
	case "always":
		f.syncEvery = 0
	case "interval":
		if f.syncEvery <= 0 {
			return fmt.Errorf("options.sync_interval: %d must be positive", f.syncEvery.Milliseconds())
		}
	default:
		return fmt.Errorf("options.sync: %q must be always or interval", mode)
	}
	return nil
}

// SetReferences takes the logger.
func (f *File) SetReferences(refs *container.References) error {
	f.log = logging.For(refs, "persistence.file")
	return nil
}

// Open loads the snapshot and replays the journals (migrating a Node file
// first), then starts accepting changes.
func (f *File) Open(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.open {
		return nil
	}
	if f.path == "" {
		return errors.New("file persistence: path is not set")
	}
	started := time.Now()
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
		return fmt.Errorf("file persistence %s: create directory: %w", f.path, err)
	}
	lock, err := lockStore(f.path)
	if err != nil {
		return fmt.Errorf("file persistence %s: %w", f.path, err)
	}
	finishKilledRestores(f.path, "", f.log)
	removeTemporaries(f.path, f.log)
	st, err := f.load(ctx)
	if err != nil {
		lock.Close()
		return fmt.Errorf("file persistence %s: %w", f.path, err)
	}
	f.lock = lock
	f.journal = st.journal
	f.snapshotSize.Store(st.snapshotSize)
	f.journalSize.Store(st.journal.size)
	f.cur = newBatch(nil)
	f.wake = make(chan struct{}, 1)
	f.stopped = make(chan struct{})
	f.open, f.closed, f.failed = true, false, nil
	f.mem.tables.journal = f.journalTable
	go f.run()
	f.log.Info("file persistence opened", zap.String("path", f.path),
		zap.Int("sessions", f.mem.Len()), zap.Duration("took", time.Since(started)))
	return nil
}

// Close stops accepting changes, waits for queued ones to be on disk,
// leaves the snapshot alone (see leaveSnapshotAlone) and closes the files:
// even when nothing was written since Open, for a build from before the
// current journal format refuses even an empty journal of it.
func (f *File) Close(context.Context) error {
	f.mu.Lock()
	if !f.open || f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	f.signal()
	f.mu.Unlock()

	<-f.stopped
	f.compactions.Wait()
	var errs []error
	f.mu.Lock()
	failed := f.failed
	f.mu.Unlock()
	empty := f.journal.size <= journalHeaderSize
	if err := f.journal.close(); err != nil {
		errs = append(errs, err)
	}
	if failed == nil {
		if err := f.leaveSnapshotAlone(empty); err != nil {
			errs = append(errs, err)
		}
	}
	if err := f.lock.Close(); err != nil {
		errs = append(errs, err)
	}
	f.mu.Lock()
	f.open = false
	f.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close file persistence %s: %w", f.path, err)
	}
	return nil
}

// GetPageByFilter returns one page of the matching sessions, newest first.
func (f *File) GetPageByFilter(ctx context.Context, filter sessions.Filter, paging sessions.Paging) (*sessions.Page, error) {
	return f.mem.GetPageByFilter(ctx, filter, paging)
}

// GetOneByID returns one session, or nil.
func (f *File) GetOneByID(ctx context.Context, id string) (*sessions.Session, error) {
	return f.mem.GetOneByID(ctx, id)
}

// GetStatesByIDs returns the state of each listed session, nil for one
// that does not exist.
func (f *File) GetStatesByIDs(ctx context.Context, ids []string) ([]*logic.SessionState, error) {
	return f.mem.GetStatesByIDs(ctx, ids)
}

// Create stores a new session and returns once it is in the journal.
func (f *File) Create(_ context.Context, s *sessions.Session) (*sessions.Session, error) {
	var b *batch
	out, err := f.mem.create(s, func(r *record) (err error) {
		b, err = f.enqueue(r, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := f.wait(b); err != nil {
		return nil, err
	}
	return out, nil
}

// Update applies u to one session and returns once the change is in the journal.
func (f *File) Update(_ context.Context, id string, u sessions.Update) (*sessions.Session, error) {
	var b *batch
	out, err := f.mem.update(id, u, func(old, r *record) (err error) {
		if r.sameText(old) { // a renewal: its times are the change
			b, err = f.enqueueFrame(func(buf []byte) []byte { return appendRetime(buf, r) })
			return err
		}
		b, err = f.enqueue(r, "")
		return err
	})
	if err != nil || out == nil {
		return nil, err
	}
	if err := f.wait(b); err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteByID removes a session and returns it once the removal is in the journal.
func (f *File) DeleteByID(_ context.Context, id string) (*sessions.Session, error) {
	var b *batch
	out, err := f.mem.remove(id, func(id string) (err error) {
		b, err = f.enqueue(nil, id)
		return err
	})
	if err != nil || out == nil {
		return nil, err
	}
	if err := f.wait(b); err != nil {
		return nil, err
	}
	return out, nil
}

// ExpiredIDs returns the ids of the sessions e finds expired.
func (f *File) ExpiredIDs(ctx context.Context, e sessions.Expiry) ([]string, error) {
	return f.mem.ExpiredIDs(ctx, e)
}

// enqueue queues the put frame of r, or the delete frame of id, and
// returns the batch to wait for.
func (f *File) enqueue(r *record, deleted string) (*batch, error) {
	return f.enqueueFrame(func(b []byte) []byte {
		if r != nil {
			return appendPut(b, r)
		}
		return appendDelete(b, deleted)
	})
}

// journalTable queues one change of the homes, devices and slots; the
// tables call it under their lock, so journal order is change order. A
// change with an id that is not UTF-8 is refused: its record, JSON, would
// bring back another id after a restart.
func (f *File) journalTable(c change) (wait func() error, err error) {
	if !c.validUTF8() {
		return nil, sessions.InvalidData("the file store keeps home, device and slot ids as UTF-8 text; this one is not valid UTF-8")
	}
	b, err := f.enqueueFrame(func(buf []byte) []byte { return appendTable(buf, c) })
	if err != nil {
		return nil, err
	}
	return func() error { return f.wait(b) }, nil
}

// Fault reports why the store refuses every change until a restart: a
// journal write or fsync failed. It is nil while the store works.
func (f *File) Fault() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fault()
}

// fault is Fault with f.mu held.
func (f *File) fault() error {
	if f.failed == nil {
		return nil
	}
	return fmt.Errorf("file persistence %s: %w", f.path, f.failed)
}

// enqueueFrame appends one record to the current batch and wakes the
// writer. A record larger than maxPayload is refused (SESSION_TOO_LARGE):
// only a session can grow so large.
func (f *File) enqueueFrame(appendFrame func([]byte) []byte) (*batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.failed != nil:
		return nil, sessions.Unavailable(f.fault())
	case !f.open:
		return nil, sessions.Unavailable(fmt.Errorf("file persistence %s is not open", f.path))
	case f.closed:
		return nil, sessions.Unavailable(fmt.Errorf("file persistence %s is closed", f.path))
	}
	start := len(f.cur.buf)
	f.cur.buf = appendFrame(f.cur.buf)
	if size := len(f.cur.buf) - start - frameHeader; size > maxPayload {
		// Refused before it is journaled: the store could not read it back.
		f.cur.buf = f.cur.buf[:start]
		return nil, sessions.BadRequest(sessions.CodeSessionTooLarge,
			"the change needs a record of %d bytes; the file store keeps records of at most %d bytes", size, maxPayload)
	}
	f.cur.n++
	f.signal()
	return f.cur, nil
}

// wait blocks until b is in the journal (and fsynced, with sync "always").
// A write cannot be abandoned halfway, so it does not listen to a context:
// a write or an fsync is bounded by the disk.
func (f *File) wait(b *batch) error {
	if b == nil {
		return nil
	}
	<-b.done
	if b.err != nil {
		return sessions.Unavailable(fmt.Errorf("file persistence %s: %w", f.path, b.err))
	}
	return nil
}

// signal wakes the writer goroutine. The caller holds f.mu.
func (f *File) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// run is the writer goroutine: it takes everything queued, writes it with
// one write (and fsyncs it, with sync "always"; otherwise at the next sync
// tick), and tells the waiting writers.
func (f *File) run() {
	defer close(f.stopped)
	var spare []byte
	var syncTick <-chan time.Time
	if f.syncEvery > 0 {
		t := time.NewTicker(f.syncEvery)
		defer t.Stop()
		syncTick = t.C
	}
	for {
		select {
		case <-f.wake:
		case <-syncTick:
			if err := f.journal.flush(); err != nil {
				f.fail(err)
			}
			continue
		}
		f.mu.Lock()
		b := f.cur
		f.cur = newBatch(spare)
		rot, synced := f.rotateReq, f.syncReq
		f.rotateReq, f.syncReq = nil, nil
		stop, failed := f.closed, f.failed
		f.mu.Unlock()

		switch {
		case b.n > 0 && failed != nil:
			// Queued while a write or fsync failed: appended after what
			// that failure left, it would be acknowledged and then lost
			// with it at the restart.
			b.err = failed
		case b.n > 0:
			// The commit record ends the batch: at replay, a batch without
			// one was never acknowledged and is dropped whole. A synced
			// record may follow: damage below what it names is corruption,
			// not a crash.
			b.buf = f.journal.markDurable(appendCommit(b.buf, b.n))
			if err := f.journal.append(b.buf, f.syncEvery == 0); err != nil {
				f.fail(err)
				b.err = err
			}
			f.journalSize.Store(f.journal.size)
		}
		close(b.done)
		// The writers only read b.err now, so its buffer is free again,
		// unless a big sweep made it too large to keep.
		spare = nil
		if cap(b.buf) <= 1<<20 {
			spare = b.buf
		}

		if synced != nil {
			synced <- f.sync()
		}
		if rot != nil {
			gen, err := f.rotate()
			rot <- rotated{gen, err}
		}
		if stop {
			return
		}
		f.maybeCompact()
	}
}

// sync fsyncs what was written to the journal, unless the store has
// failed. Runs on the writer goroutine.
func (f *File) sync() error {
	f.mu.Lock()
	failed := f.failed
	f.mu.Unlock()
	if failed != nil {
		return failed
	}
	if err := f.journal.flush(); err != nil {
		f.fail(err)
		return err
	}
	return nil
}

// rotate starts a new journal; records queued from now on go there. The
// previous journal is fsynced first, before the next one exists, so only
// the last journal can end with a write torn by a power loss. A new
// journal that failed and is left on disk all the same fails the store
// (see makeJournal). Runs on the writer goroutine.
func (f *File) rotate() (uint64, error) {
	if err := f.sync(); err != nil {
		return 0, err
	}
	next, err := f.newJournal(f.path, f.journal.gen+1)
	if errors.Is(err, errJournalLeft) {
		f.fail(err)
	}
	if err != nil {
		return 0, err
	}
	if err := f.journal.close(); err != nil {
		f.log.Warn("closing the previous journal failed", zap.String("path", f.journal.name), zap.Error(err))
	}
	f.journal = next
	f.journalSize.Store(next.size)
	return next.gen, nil
}

// ask files a request for the writer goroutine, set under f.mu, and wakes
// it. Once the store is closing or has failed it files nothing and reports
// false: the writer may be gone, or refuse.
func (f *File) ask(set func()) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.open || f.closed || f.failed != nil {
		return false
	}
	set()
	f.signal()
	return true
}

// Waits before a compaction is tried again after one failed: the first,
// then twice the last after each further failure, up to the longest. A
// journal left over its limit would otherwise start a try, with its fsync
// and its error line, after every write.
const (
	firstCompactRetry = time.Second
	lastCompactRetry  = time.Minute
)

// maybeCompact starts a background compaction when the journal has grown
// past compact_ratio times the snapshot and past compact_min_size.
func (f *File) maybeCompact() {
	limit := max(int64(f.compactRatio*float64(f.snapshotSize.Load())), f.compactMin)
	if f.journalSize.Load() <= limit || time.Now().UnixNano() < f.retryAt.Load() ||
		!f.compacting.CompareAndSwap(false, true) {
		return
	}
	f.compactions.Add(1)
	go func() {
		defer f.compactions.Done()
		defer f.compacting.Store(false)
		if err := f.compact(); err != nil {
			f.retryWait = min(max(2*f.retryWait, firstCompactRetry), lastCompactRetry)
			f.retryAt.Store(time.Now().Add(f.retryWait).UnixNano())
			f.log.Error("compaction failed; the journal keeps growing until the next try",
				zap.String("path", f.path), zap.Duration("retry_in", f.retryWait), zap.Error(err))
			return
		}
		f.retryWait = 0
	}()
}

// compact folds the journal into a new snapshot while writers go on. It
// rotates the journal first and only then copies the sessions, so every
// change is in the snapshot, in the new journal, or in both; replaying a
// change twice is harmless because a record holds a session's whole state.
//
// The copy may hold changes still queued for the new journal, or written
// but not yet fsynced. They are made durable before the snapshot replaces
// the old one: after a power loss, the snapshot with only an older part of
// its journal would replay to a state that never was, some of its changes
// undone and later ones kept.
func (f *File) compact() error {
	rotated := make(rotation, 1)
	if !f.ask(func() { f.rotateReq = rotated }) {
		return nil
	}
	r := <-rotated
	if r.err != nil {
		return fmt.Errorf("start a new journal: %w", r.err)
	}
	started := time.Now()
	list, tables := f.mem.snapshot(), f.mem.tables.state()
	synced := make(chan error, 1)
	if !f.ask(func() { f.syncReq = synced }) {
		return nil // closing, and Close writes the snapshot; or failed
	}
	if err := <-synced; err != nil {
		return fmt.Errorf("sync the new journal: %w", err)
	}
	size, err := writeSnapshot(f.path, r.gen, list, tables)
	if err != nil {
		return err
	}
	f.snapshotSize.Store(size)
	removeJournalsBefore(f.path, r.gen, f.log)
	f.log.Info("journal compacted", zap.String("path", f.path), zap.Int("sessions", len(list)),
		zap.Int64("snapshot_bytes", size), zap.Duration("took", time.Since(started)))
	return nil
}

// leaveSnapshotAlone leaves the snapshot alone at Close, when no writer is
// left. When there is a snapshot and the journal is empty (nothing was
// written since Open, or since a compaction folded all else into the
// snapshot) and is the only one, the snapshot holds every change already:
// removing the journal is enough, and a stop of a large store need not
// rewrite it. Otherwise the journals are folded into a new snapshot.
func (f *File) leaveSnapshotAlone(empty bool) error {
	if empty && f.snapshotSize.Load() > 0 {
		if gens, err := listJournals(f.path); err == nil && slices.Equal(gens, []uint64{f.journal.gen}) {
			if err := os.Remove(f.journal.name); err != nil {
				return fmt.Errorf("remove the empty journal: %w", err)
			}
			return syncDir(filepath.Dir(f.path))
		}
	}
	return f.compactClosed()
}

// compactClosed writes the final snapshot at Close, when no writer is
// left, and removes every journal: the snapshot holds them all.
func (f *File) compactClosed() error {
	gen := f.journal.gen + 1
	size, err := writeSnapshot(f.path, gen, f.mem.snapshot(), f.mem.tables.state())
	if err != nil {
		return err
	}
	f.snapshotSize.Store(size)
	removeJournalsBefore(f.path, gen, f.log)
	return nil
}
