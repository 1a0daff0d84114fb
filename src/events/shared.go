package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sessionsd/service-sessions-go/src/logging"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Record is one entry of a shared log: an event, or a notification to the
// device streams of some sessions. A record of neither stands for the ids
// up to its own that a log emptied under its readers was filled with, so
// as to go on from where they were: a reader that had not reached it may
// have lost records, and moves on to it as across a gap.
type Record struct {
	// ID is given by the log: one more than the record before it.
	ID int64
	// Origin names the instance that appended the record.
	Origin string
	// Batch names the append that wrote the record, the same for every
	// record of one AppendRecords call and unique to it, so that a retried
	// append can find whether its first try was stored after all.
	Batch        string
	Event        *sessions.Event
	Notification *sessions.Notification
	// Targets are the session ids a notification is for.
	Targets []string

	ticket Ticket // of a queued event
}

// Log is a log of records that every instance shares. Its ids are
// consecutive: a record is only ever appended right after the last one, so
// reading after an id never misses one that appears later. (A log emptied
// under its readers is filled up to where they were: see Record.)
type Log interface {
	// AppendRecords appends recs as one batch, giving them consecutive ids;
	// it returns the id of the first.
	AppendRecords(ctx context.Context, recs []Record) (int64, error)
	// ReadRecords returns up to about limit records with ids above after, in
	// id order; it may return fewer even when more follow, and none only
	// when none follows.
	ReadRecords(ctx context.Context, after int64, limit int) ([]Record, error)
	// LastRecordID returns the id of the newest record, 0 when there is none.
	LastRecordID(ctx context.Context) (int64, error)
	// TrimRecords removes the records with ids below before.
	TrimRecords(ctx context.Context, before int64) error
	// WatchRecords returns a channel that receives soon after any instance
	// appends, until ctx ends; nil, or a channel it closes, when the server
	// cannot tell (the hub then polls).
	WatchRecords(ctx context.Context) <-chan struct{}
	// PutStreams records the session ids of the device streams connected
	// to an instance (once per stream), as of now.
	PutStreams(ctx context.Context, instance string, sessionIDs []string, now time.Time) error
	// CountStreams counts the device streams of the given sessions that
	// instances other than except recorded since freshAfter.
	CountStreams(ctx context.Context, except string, sessionIDs []string, freshAfter time.Time) (int, error)
	// ForgetStreams removes what instances recorded of their device
	// streams before seenBefore: those instances are gone.
	ForgetStreams(ctx context.Context, seenBefore time.Time) error
}

// SharedOptions tune how a hub works with a shared log.
type SharedOptions struct {
	// PollInterval is how often the log is read when it cannot be watched
	// (and, when it can, as a safety net ten times less often).
	PollInterval time.Duration
	// QueueSize bounds the events waiting to be appended; beyond it new
	// events are dropped (and logged) rather than slow the service.
	QueueSize int
	// Retain is how many records the log keeps; older ones are trimmed.
	Retain int64
	// TrimInterval is how often the log is trimmed to Retain records, and
	// the device streams of instances gone are forgotten.
	TrimInterval time.Duration
	// BatchBytes bounds the size of one append, as recordSize counts it;
	// a record larger than that on its own is dropped (and logged).
	BatchBytes int
	// MaxAwait bounds how long Await waits for an event to be appended;
	// while appends fail it does not wait at all.
	MaxAwait time.Duration
}

// Shared-log defaults.
const (
	DefaultPollInterval = 100 * time.Millisecond
	DefaultQueueSize    = 65536
	streamsHeartbeat    = 2 * time.Second
	// streamsFresh is how recently an instance must have recorded its
	// device streams for the others to count them: three beats, judged by
	// clocks that may differ by maxClockSkew.
	streamsFresh = 3*streamsHeartbeat + maxClockSkew
	// maxClockSkew is how far instances' clocks may differ, as the README
	// asks of them.
	maxClockSkew = 15 * time.Second
	// streamsForget is how long the device streams of an instance that
	// stopped recording them (it crashed) are kept: far longer than they
	// count, so that instances whose clocks differ never remove each
	// other's.
	streamsForget       = 10 * time.Minute
	DefaultTrimInterval = time.Minute
	// DefaultBatchBytes is a quarter of MongoDB's 16 MiB document, which
	// holds a whole batch: stored as BSON, a record takes up to about
	// three times the size recordSize counts (detail keys MongoDB cannot
	// take as field names are kept percent-escaped).
	DefaultBatchBytes = 4 << 20
	DefaultMaxAwait   = 5 * time.Second
	appendBatch       = 512
	readBatch         = 1024
	// pollShare paces polls: the next poll waits at least pollShare times
	// as long as one call of the last two reads took, the faster.
	pollShare = 4
	// maxFailedPoll bounds the wait before the log is read again after a
	// failed read: a read that timed out says nothing of how fast the log
	// answers once the database is back.
	maxFailedPoll = time.Second
	// logCallTimeout bounds one call to the log: an append, a read, a trim.
	logCallTimeout = 10 * time.Second
	// quickCallTimeout bounds what a caller or a stop waits on: the flush
	// of what is queued at close, and the log's last id.
	quickCallTimeout = 5 * time.Second
	// firstAppendRetry and maxAppendRetry pace the retries of a failed
	// append.
	firstAppendRetry = 100 * time.Millisecond
	maxAppendRetry   = 5 * time.Second
)

// shared runs a hub through a shared log: a writer appends the queued
// records, a reader delivers what any instance appended, and a heartbeat
// keeps this instance's device streams known to the others.
type shared struct {
	hub      *Hub
	log      Log
	opts     SharedOptions
	instance string

	queue   chan Record
	batches int64         // numbers the writer's batches, to name each
	kick    chan struct{} // the reader should read now
	changed chan struct{} // the device streams changed

	mu       sync.Mutex
	queued   Ticket        // the ticket of the last event queued
	written  Ticket        // every event up to this ticket is appended, or given up
	failing  bool          // the last append failed: nobody waits for the log
	progress chan struct{} // closed, and replaced, when written or failing changes
	readSome chan struct{} // closed, and replaced, when the reader delivered records

	// stop is closed, and stopped cancelled, when the hub closes.
	stop    chan struct{}
	stopped context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// Share makes the hub publish through log and deliver what every instance
// appends to it. Call before Open.
func (h *Hub) Share(log Log, opts SharedOptions) {
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.Retain <= 0 {
		opts.Retain = int64(2 * h.opts.Buffer)
	}
	if opts.TrimInterval <= 0 {
		opts.TrimInterval = DefaultTrimInterval
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = DefaultBatchBytes
	}
	if opts.MaxAwait <= 0 {
		opts.MaxAwait = DefaultMaxAwait
	}
	var id [8]byte
	rand.Read(id[:])
	stopped, cancel := context.WithCancel(context.Background())
	h.shared = &shared{
		hub: h, log: log, opts: opts, instance: hex.EncodeToString(id[:]),
		queue: make(chan Record, opts.QueueSize), kick: make(chan struct{}, 1),
		changed: make(chan struct{}, 1), stop: make(chan struct{}), stopped: stopped, cancel: cancel,
		progress: make(chan struct{}), readSome: make(chan struct{}),
	}
}

// open fills the replay buffer from the log and starts the workers.
func (s *shared) open(ctx context.Context) error {
	last, err := s.log.LastRecordID(ctx)
	if err != nil {
		return err
	}
	h := s.hub
	h.mu.Lock()
	h.floor, h.last, h.size = max(0, last-int64(h.opts.Buffer)), max(0, last-int64(h.opts.Buffer)), 0
	h.mu.Unlock()
	if _, err := s.read(ctx, false); err != nil {
		return err
	}
	h.skipTo(last)
	s.wg.Add(3)
	go s.write()
	go s.tail()
	go s.heartbeat()
	return nil
}

func (s *shared) close(ctx context.Context) error {
	s.once.Do(func() { close(s.stop); s.cancel() })
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// enqueue queues an event for the writer and returns its ticket, 0 when the
// queue is full and the event is dropped. Tickets follow the queue's order.
func (s *shared) enqueue(ctx context.Context, r Record) Ticket {
	r.Origin = s.instance
	s.mu.Lock()
	r.ticket = s.queued + 1
	select {
	case s.queue <- r:
		s.queued = r.ticket
		s.mu.Unlock()
		return r.ticket
	default:
		s.mu.Unlock()
		s.hub.log.Warn("event queue full: event dropped", logging.Correlation(ctx),
			zap.String("type", r.Event.Type), zap.String("session_id", r.Event.Session.ID))
		return 0
	}
}

// wrote records that the writer is done with every event up to t.
func (s *shared) wrote(t Ticket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t > s.written {
		s.written = t
		s.progressed()
	}
}

// setFailing records whether the last append failed.
func (s *shared) setFailing(failing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if failing != s.failing {
		s.failing = failing
		s.progressed()
	}
}

func (s *shared) progressed() {
	close(s.progress)
	s.progress = make(chan struct{})
}

// delivered wakes who waits for the reader; call it after each batch read.
func (s *shared) delivered() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.readSome)
	s.readSome = make(chan struct{})
}

// await waits for the event of t to be appended, unless the log is
// failing: then the change is answered at once, its event left queued.
func (s *shared) await(ctx context.Context, t Ticket) {
	s.waitUntil(ctx, func() (bool, <-chan struct{}) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.written >= t || s.failing, s.progress
	})
}

// waitUntil waits until done reports true, asking it again each time the
// channel it returned with false is closed. It gives up when ctx ends,
// after MaxAwait, or at close.
func (s *shared) waitUntil(ctx context.Context, done func() (bool, <-chan struct{})) {
	limit := time.NewTimer(s.opts.MaxAwait)
	defer limit.Stop()
	for {
		ok, wake := done()
		if ok {
			return
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		case <-limit.C:
			return
		case <-s.stop:
			return
		}
	}
}

// notify appends a notification for every instance and waits, as long as
// waitUntil does, for the reader to deliver it here too: the reader
// delivers each instance's notifications, this one's included, in the
// log's order, so that a device sees the notifications sent one after the
// other through any instances in that order, and so that one whose append
// failed but was stored all the same reaches every device, not only those
// connected elsewhere. It returns how many streams it is for, here and
// elsewhere; once it is stored, the streams elsewhere are counted as well
// as can be, since an error would have the caller send it again.
func (s *shared) notify(ctx context.Context, sessionIDs []string, n sessions.Notification) (int, error) {
	id, err := s.log.AppendRecords(ctx, []Record{{Origin: s.instance, Notification: &n, Targets: sessionIDs}})
	if err != nil {
		return 0, err
	}
	s.kickReader()
	// Stored, it is sent: the wait and the count after it are bounded
	// together, so that a slow database makes the answer count this
	// instance's streams alone rather than come late.
	ctx, cancel := context.WithTimeout(ctx, s.opts.MaxAwait)
	defer cancel()
	s.awaitRead(ctx, id)
	local := s.hub.countStreams(sessionIDs)
	remote, err := s.log.CountStreams(ctx, s.instance, sessionIDs, s.hub.now().Add(-streamsFresh))
	if err != nil {
		s.hub.log.Warn("count the device streams of other instances failed; the notification counts this instance's only",
			logging.Correlation(ctx), zap.Error(err))
		remote = 0
	}
	return local + remote, nil
}

// awaitRead waits until the reader has delivered the records up to id,
// no longer than waitUntil does.
func (s *shared) awaitRead(ctx context.Context, id int64) {
	s.waitUntil(ctx, func() (bool, <-chan struct{}) {
		s.mu.Lock()
		wake := s.readSome
		s.mu.Unlock()
		return s.hub.LastID() >= id, wake
	})
}

func (s *shared) kickReader() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *shared) streamsChanged() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// write appends queued records in batches, retrying while the log is
// unreachable; at close it flushes what is queued.
func (s *shared) write() {
	defer s.wg.Done()
	batch := make([]Record, 0, appendBatch)
	trim := time.NewTicker(s.opts.TrimInterval)
	defer trim.Stop()
	for {
		select {
		case r := <-s.queue:
			batch = append(batch[:0], r)
		case <-trim.C:
			s.trim()
			continue
		case <-s.stop:
			s.flush(batch[:0])
			return
		}
		batch = s.drain(batch, appendBatch)
		parts := s.split(batch)
		for i, part := range parts {
			if !s.append(part) {
				// Closing while the log fails: what is in hand goes out
				// first, then the queue, in order.
				s.flush(slices.Concat(parts[i:]...))
				return
			}
		}
		s.wrote(batch[len(batch)-1].ticket)
	}
}

// drain adds queued records to batch, without waiting, up to limit.
func (s *shared) drain(batch []Record, limit int) []Record {
	for len(batch) < limit {
		select {
		case r := <-s.queue:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// split cuts batch, in order, into parts of at most BatchBytes each. A
// record larger than that on its own could never be appended: it is
// dropped, so that the records after it still are.
func (s *shared) split(batch []Record) [][]Record {
	var parts [][]Record
	var part []Record
	var size int
	var buf []byte
	for _, r := range batch {
		var n int
		n, buf = recordSize(r, buf)
		if n > s.opts.BatchBytes {
			s.hub.log.Error("event too large for the event log: event dropped",
				zap.String("type", r.Event.Type), zap.String("session_id", r.Event.Session.ID), zap.Int("bytes", n))
			continue
		}
		if size+n > s.opts.BatchBytes {
			parts = append(parts, part)
			part, size = nil, 0
		}
		part = append(part, r)
		size += n
	}
	if len(part) > 0 {
		parts = append(parts, part)
	}
	return parts
}

// recordSize returns the size of an event record as its JSON, written by
// the session's own fast encoder; a store's encoding exceeds it by a
// bounded factor (see DefaultBatchBytes). buf is scratch space, returned
// for reuse.
func recordSize(r Record, buf []byte) (int, []byte) {
	const overhead = 64 // the event's id and time, and the field names
	buf = r.Event.Session.AppendSummaryJSON(buf[:0])
	return overhead + len(r.Event.Type) + len(buf), buf
}

// flush appends batch and then what is queued, at close: one try each,
// within quickCallTimeout in all.
func (s *shared) flush(batch []Record) {
	ctx, cancel := context.WithTimeout(context.Background(), quickCallTimeout)
	defer cancel()
	for _, part := range s.split(s.drain(batch, len(batch)+cap(s.queue))) {
		if _, err := s.log.AppendRecords(ctx, part); err != nil {
			s.hub.log.Warn("events not appended at close", zap.Int("count", len(part)), zap.Error(err))
		}
	}
}

// append appends a batch, retrying while the log fails, and reports
// whether it did: false when the hub closed first. A failed append may
// have been stored all the same (its answer was lost), so before each
// retry it looks for its batch in the log, after the last id this hub had
// read before the first try.
func (s *shared) append(batch []Record) bool {
	s.batches++
	token := s.instance + "-" + strconv.FormatInt(s.batches, 10)
	for i := range batch {
		batch[i].Batch = token
	}
	after := s.hub.LastID()
	backoff := firstAppendRetry
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), logCallTimeout)
		var stored bool
		var err error
		if try > 0 {
			stored, err = s.stored(ctx, after, token)
		}
		if err == nil && !stored {
			_, err = s.log.AppendRecords(ctx, batch)
		}
		cancel()
		s.setFailing(err != nil)
		if err == nil {
			s.kickReader()
			return true
		}
		s.hub.log.Warn("append events failed; retrying", zap.Int("count", len(batch)), zap.Error(err))
		select {
		case <-s.stop:
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxAppendRetry)
	}
}

// stored reports whether the log holds the batch named token after the
// record after.
func (s *shared) stored(ctx context.Context, after int64, token string) (bool, error) {
	for {
		recs, err := s.log.ReadRecords(ctx, after, readBatch)
		if err != nil || len(recs) == 0 {
			return false, err
		}
		for _, r := range recs {
			if r.Batch == token {
				return true, nil
			}
		}
		after = recs[len(recs)-1].ID
	}
}

// lastID returns the id of the log's newest record, or 0 when the log
// cannot tell within ctx or quickCallTimeout (a resume ahead of this hub
// then gets a reset, which loses nothing, rather than a wait that may never
// end).
func (s *shared) lastID(ctx context.Context) int64 {
	ctx, cancel := context.WithTimeout(ctx, quickCallTimeout)
	defer cancel()
	last, err := s.log.LastRecordID(ctx)
	if err != nil {
		s.hub.log.Warn("read the event log's last id failed", logging.Correlation(ctx), zap.Error(err))
		return 0
	}
	return last
}

// trim removes the records beyond Retain and the device streams of
// instances gone.
func (s *shared) trim() {
	ctx, cancel := context.WithTimeout(context.Background(), logCallTimeout)
	defer cancel()
	if before := s.hub.LastID() - s.opts.Retain; before > 0 {
		if err := s.log.TrimRecords(ctx, before); err != nil {
			s.hub.log.Warn("trim the event log failed", zap.Error(err))
		}
	}
	if err := s.log.ForgetStreams(ctx, s.hub.now().Add(-streamsForget)); err != nil {
		s.hub.log.Warn("forget the device streams of instances gone failed", zap.Error(err))
	}
}

// tail delivers what the log gains: at once when watched or kicked, and at
// every poll.
func (s *shared) tail() {
	defer s.wg.Done()
	// A read under way when the hub stops ends then: what it would deliver
	// goes nowhere, and a database that does not answer would hold the
	// stop for the read's timeout.
	ctx := s.stopped
	watch := s.log.WatchRecords(ctx)
	every := s.opts.PollInterval
	if watch != nil {
		every *= 10
	}
	poll := time.NewTimer(every)
	defer poll.Stop()
	var (
		failed failures // reads failed in a row
		// lastCall is how long one call of the last read took; zero after
		// a failure.
		lastCall time.Duration
	)
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		case _, ok := <-watch:
			if !ok { // the log cannot be watched after all
				watch, every = nil, s.opts.PollInterval
			}
		case <-poll.C:
		}
		start := time.Now()
		readCtx, cancelRead := context.WithTimeout(ctx, logCallTimeout)
		calls, err := s.read(readCtx, true)
		cancelRead()
		if ctx.Err() != nil {
			return // stopped
		}
		if err != nil {
			failed.tell(s.hub.log, "read the event log failed; trying again until it answers", "read the event log failed again", err)
			// Soon, then less often while it keeps failing, and never
			// later than maxFailedPoll: events reach this instance again
			// within a moment of the database's return.
			poll.Reset(min(every<<min(failed.n-1, 10), max(every, maxFailedPoll)))
			lastCall = 0
			continue
		}
		if n := failed.reset(); n > 0 {
			s.hub.log.Info("the event log is read again", zap.Int("failed_reads", n))
		}
		// A slow log is polled less often, so that polling never takes
		// more than a share of the database's time; a fast one keeps the
		// interval. Slow is per call (a reader catching up makes many),
		// and in two reads running: one read that waited, for a database
		// coming back say, does not hold back the next.
		call := time.Since(start) / time.Duration(max(calls, 1))
		poll.Reset(max(every, pollShare*min(call, lastCall)))
		lastCall = call
	}
}

// read delivers every record after the last one delivered, and returns
// how many reads of the log that took; live is false while filling the
// replay buffer at open, when nothing is notified.
func (s *shared) read(ctx context.Context, live bool) (calls int, err error) {
	h := s.hub
	for {
		select {
		case <-s.stop: // the hub delivers nothing more, so LastID stays
			return calls, nil
		default:
		}
		recs, err := s.log.ReadRecords(ctx, h.LastID(), readBatch)
		calls++
		if err != nil || len(recs) == 0 {
			return calls, err
		}
		for i := range recs {
			r := &recs[i]
			if last := h.LastID(); r.ID <= last {
				continue
			} else if r.Event == nil && r.Notification == nil {
				// The log was emptied under its readers and filled up to
				// here: what this instance had not read of it is gone.
				if live {
					h.log.Warn("event log emptied under this instance: records it had not read are lost",
						zap.Int64("from", last+1), zap.Int64("to", r.ID))
				} else {
					h.log.Info("event log was emptied and filled before this instance started", zap.Int64("to", r.ID))
				}
				h.lose(r.ID)
				continue
			} else if r.ID > last+1 {
				h.log.Warn("event log gap: records were trimmed before they were read",
					zap.Int64("from", last+1), zap.Int64("to", r.ID-1))
				h.lose(r.ID - 1)
			}
			switch {
			case r.Event != nil:
				e := *r.Event
				e.ID = r.ID
				if live {
					h.deliver(&e, r.Origin == s.instance)
				} else {
					h.mu.Lock()
					h.remember(&e)
					h.mu.Unlock()
				}
			default:
				if live && r.Notification != nil {
					h.notifyLocal(r.Targets, *r.Notification)
				}
				h.skipTo(r.ID)
			}
		}
		s.delivered()
		// A short read is not the end: a log may return fewer records
		// than asked (MongoDB reads a bounded number of batches). Only an
		// empty read is.
	}
}

// heartbeat keeps this instance's device streams recorded in the log.
func (s *shared) heartbeat() {
	defer s.wg.Done()
	beat := time.NewTicker(streamsHeartbeat)
	defer beat.Stop()
	var failed failures // records failed in a row
	for {
		select {
		case <-s.stop:
			ctx, cancel := context.WithTimeout(context.Background(), streamsHeartbeat)
			s.log.PutStreams(ctx, s.instance, nil, s.hub.now()) //nolint:errcheck // best effort at close, within a beat
			cancel()
			return
		case <-beat.C:
		case <-s.changed:
		}
		ctx, cancel := context.WithTimeout(context.Background(), quickCallTimeout) // within streamsFresh
		err := s.log.PutStreams(ctx, s.instance, s.hub.localStreams(), s.hub.now())
		cancel()
		if err == nil {
			failed.reset()
			continue
		}
		failed.tell(s.hub.log, "record device streams failed; trying again at each beat", "record device streams failed again", err)
	}
}

// failures counts the failures in a row of a call a worker repeats, and
// tells of them with a warning when they start and once a minute while
// they go on, at debug in between: an instance must not go quiet about a
// database it cannot reach, nor flood the log with it.
type failures struct {
	n      int
	warned time.Time
}

// tell counts one more failure, err, and logs it: as warn when it is the
// first or the last warning is a minute old, else as again at debug.
func (f *failures) tell(log *zap.Logger, warn, again string, err error) {
	f.n++
	if f.n == 1 || time.Since(f.warned) >= time.Minute {
		log.Warn(warn, zap.Int("failures", f.n), zap.Error(err))
		f.warned = time.Now()
		return
	}
	log.Debug(again, zap.Int("failures", f.n), zap.Error(err))
}

// reset ends a run of failures and returns how long it was.
func (f *failures) reset() int {
	n := f.n
	f.n = 0
	return n
}
