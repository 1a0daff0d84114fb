// Package events fans session events and device notifications out to the
// streams that subscribed to them.
//
// A Hub keeps the last events in a bounded buffer, so a subscriber that
// reconnects with the id of the last event it saw gets what it missed. Every
// subscriber has a bounded queue; publishing never waits for one: a
// subscriber whose queue is full is cut off and counted. Device streams get
// the notifications sent to their session and end when it ends.
//
// On its own a Hub serves one process. Given a shared Log (MongoDB's), every
// event and notification goes through the log, and every instance's hub
// reads the log back, so subscribers on any instance see every instance's
// events, in one order, with ids that mean the same on every instance.
package events

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Defaults of the hub's options.
const (
	DefaultBuffer            = 10000
	DefaultBufferBytes       = 64 << 20
	DefaultSubscriberBuffer  = 1024
	DefaultNotificationQueue = 64
	DefaultMaxSubscribers    = 1000
	DefaultMaxStreams        = 100_000
	DefaultMaxSessionStreams = 16
)

// Limits of the hub's options: each is allocated, or may be held, whole, so
// a value past them is a mistake in the configuration, refused at start.
const (
	MaxBuffer            = 1_000_000
	MaxBufferBytes       = 1 << 30
	MaxSubscriberBuffer  = 65_536
	MaxNotificationQueue = 4096
)

// Reasons a stream ends for that are not the end of its session.
const (
	EndOverflow = "overflow" // its queue filled: the reader is too slow
	EndShutdown = "shutdown" // the service is stopping
	// EndReset ends a subscription that missed events no instance can give
	// it any more (they left the shared log before this hub read them):
	// resuming after the last event it got gives a reset.
	EndReset = "reset"
)

// ErrClosed is returned by a hub that has been closed.
var ErrClosed = errors.New("events: the hub is closed")

// ErrFull is returned by Subscribe and Listen when the hub already holds
// as many subscribers, or device streams, as it may.
var ErrFull = errors.New("events: too many streams")

// ErrSessionFull is returned by Listen when the session already has as
// many device streams as one may.
var ErrSessionFull = errors.New("events: too many streams of the session")

// Options size a hub.
type Options struct {
	// Buffer is how many past events are kept for replay.
	Buffer int
	// BufferBytes bounds the memory those events hold, as footprint
	// estimates it: the oldest fall out first when it is exceeded.
	BufferBytes int
	// SubscriberBuffer is how many events may wait for one subscriber.
	SubscriberBuffer int
	// NotificationQueue is how many notifications may wait for one device.
	NotificationQueue int
	// MaxSubscribers and MaxStreams are how many event subscribers and
	// device streams may be connected at once, MaxSessionStreams how many
	// device streams of one session; one more is ErrFull, or ErrSessionFull.
	MaxSubscribers, MaxStreams, MaxSessionStreams int
}

// Listener learns of every delivered event, synchronously: it must be quick.
// local is false for events another instance produced. It gets a copy, so
// the event of a publish that reaches no shared log stays off the heap.
type Listener func(e sessions.Event, local bool)

// Hub is the event and notification fan-out of one process.
type Hub struct {
	opts     Options
	now      func() time.Time
	log      *zap.Logger
	listener Listener

	mu       sync.Mutex
	ring     []sessions.Event // circular; ring[head] is the oldest
	sizes    []int            // footprint of each event of ring
	head     int
	size     int
	bytes    int   // sum of the sizes of the buffered events
	floor    int64 // events up to this id are no longer buffered
	last     int64 // id of the newest event delivered
	subs     map[*Subscription]struct{}
	streams  map[string]map[*Stream]struct{}
	nStreams int // device streams in streams
	closed   bool

	dropped atomic.Int64
	shared  *shared // set when events go through a shared log
}

// NewHub returns a hub for one process. Event ids continue from the clock,
// so they keep increasing across restarts.
func NewHub(opts Options, now func() time.Time) *Hub {
	for _, o := range []struct {
		v   *int
		def int
	}{
		{&opts.Buffer, DefaultBuffer}, {&opts.BufferBytes, DefaultBufferBytes},
		{&opts.SubscriberBuffer, DefaultSubscriberBuffer}, {&opts.NotificationQueue, DefaultNotificationQueue},
		{&opts.MaxSubscribers, DefaultMaxSubscribers}, {&opts.MaxStreams, DefaultMaxStreams},
		{&opts.MaxSessionStreams, DefaultMaxSessionStreams},
	} {
		if *o.v <= 0 { // unset: the default
			*o.v = o.def
		}
	}
	if now == nil {
		now = time.Now
	}
	start := now().UnixMicro()
	return &Hub{
		opts: opts, now: now, log: zap.NewNop(),
		ring: make([]sessions.Event, opts.Buffer), sizes: make([]int, opts.Buffer), floor: start, last: start,
		subs: map[*Subscription]struct{}{}, streams: map[string]map[*Stream]struct{}{},
	}
}

// SetLogger sets where the hub reports trouble.
func (h *Hub) SetLogger(l *zap.Logger) { h.log = l }

// SetListener sets the one listener of delivered events.
func (h *Hub) SetListener(l Listener) { h.listener = l }

// Ticket names a published event until it is in the shared log: Await
// waits for it. The zero Ticket is an event already delivered.
type Ticket int64

// Publish records that a session changed, in the request of ctx. It never
// blocks: with a shared log the event is queued for it, otherwise delivered
// at once.
func (h *Hub) Publish(ctx context.Context, typ string, s *sessions.Session) Ticket {
	now := h.now()
	e := sessions.Event{Type: typ, Time: now.UTC().Truncate(time.Millisecond), Session: s.Summary()}
	if e.Session.Active && !e.Session.Live(now) {
		e.Session.Active = false // lapsed: as every answer shows it
	}
	if h.shared != nil {
		queued := e
		return h.shared.enqueue(ctx, Record{Event: &queued})
	}
	h.mu.Lock()
	e.ID = h.last + 1
	h.deliverLocked(&e)
	h.mu.Unlock()
	h.notifyListener(&e, true)
	return 0
}

// Await waits until the event of t is in the shared log, so that a change
// answered after it is appended after it on every instance. It gives up,
// leaving the event queued, when ctx ends, after MaxAwait, at close, or
// at once while appends to the log fail.
func (h *Hub) Await(ctx context.Context, t Ticket) {
	if h.shared != nil && t != 0 {
		h.shared.await(ctx, t)
	}
}

// deliver hands an event, whose id is set, to the buffer and subscribers.
func (h *Hub) deliver(e *sessions.Event, local bool) {
	h.mu.Lock()
	h.deliverLocked(e)
	h.mu.Unlock()
	h.notifyListener(e, local)
}

func (h *Hub) notifyListener(e *sessions.Event, local bool) {
	if h.listener != nil {
		h.listener(*e, local)
	}
}

func (h *Hub) deliverLocked(e *sessions.Event) {
	if h.closed {
		return
	}
	h.remember(e)
	var d Delivery
	for sub := range h.subs {
		if e.ID <= sub.after || !sub.filter.Match(e) {
			continue
		}
		if d.JSON == nil {
			d = Delivery{Event: *e, JSON: e.AppendJSON(make([]byte, 0, 384))}
		}
		select {
		case sub.ch <- d:
		default:
			h.cutOffLocked(sub)
		}
	}
	if e.Session == nil || h.nStreams == 0 {
		return
	}
	reason := e.EndReason()
	for st := range h.streams[e.Session.ID] {
		if reason != "" {
			h.endLocked(st, reason)
			continue
		}
		select {
		case st.changed <- struct{}{}:
		default: // told already, and not yet looked
		}
	}
}

// remember puts an event in the replay buffer; the oldest ones fall out
// when it holds Buffer events or more than BufferBytes.
func (h *Hub) remember(e *sessions.Event) {
	if h.size == len(h.ring) {
		h.forgetOldest()
	}
	i, n := (h.head+h.size)%len(h.ring), footprint(e)
	h.ring[i], h.sizes[i] = *e, n
	h.size++
	h.bytes += n
	for h.bytes > h.opts.BufferBytes && h.size > 1 {
		h.forgetOldest()
	}
	h.last = e.ID
}

// forgetOldest drops the oldest buffered event: replay no longer reaches it.
func (h *Hub) forgetOldest() {
	h.floor = h.ring[h.head].ID
	h.bytes -= h.sizes[h.head]
	h.ring[h.head] = sessions.Event{} // its session may be collected
	h.head = (h.head + 1) % len(h.ring)
	h.size--
}

// footprint estimates the bytes an event keeps alive in the buffer: the
// text and details of its session summary, and an allowance for the
// structures that hold them.
func footprint(e *sessions.Event) int {
	n := 256
	if s := e.Session; s != nil {
		n += len(s.ID) + len(s.UserID) + len(s.UserName) + len(s.Address) + len(s.Client) +
			len(s.DeviceID) + len(s.ParentID) + len(s.PushAddress) + len(s.CloseReason)
		for k, v := range s.Details {
			n += len(k) + len(v) + 64
		}
	}
	return n
}

// skipTo records that the ids up to id hold no event for this hub (the
// start of a shared log, a notification): replay cannot reach before it.
func (h *Hub) skipTo(id int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if id > h.last {
		h.last = id
		if h.size == 0 {
			h.floor = id
		}
	}
}

// lose records that the events up to id left the shared log before this
// hub read them. Replay can no longer reach back across them, and every
// subscriber that should have had them is ended with EndReset, so that it
// resumes and is told with a reset rather than silently jumping ids.
func (h *Hub) lose(id int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if id <= h.last {
		return
	}
	clear(h.ring)
	h.head, h.size, h.bytes = 0, 0, 0
	h.floor, h.last = id, id
	for sub := range h.subs {
		if sub.after < id {
			h.unsubscribeLocked(sub, EndReset)
		}
	}
}

func (h *Hub) cutOffLocked(sub *Subscription) {
	h.unsubscribeLocked(sub, EndOverflow)
	h.dropped.Add(1)
}

// unsubscribeLocked ends a subscription for reason.
func (h *Hub) unsubscribeLocked(sub *Subscription, reason string) {
	delete(h.subs, sub)
	sub.reason = reason
	close(sub.ch)
}

// Subscribers returns how many event subscribers and device streams are connected.
func (h *Hub) Subscribers() (events, devices int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs), h.nStreams
}

// Dropped returns how many subscribers and streams have been cut off for
// falling behind.
func (h *Hub) Dropped() int64 { return h.dropped.Load() }

// Filter selects the events a subscriber gets; empty fields match anything.
type Filter struct {
	UserID string
	Client string
	Types  []string
}

// Match reports whether e passes the filter.
func (f *Filter) Match(e *sessions.Event) bool {
	s := e.Session
	switch {
	case len(f.Types) > 0 && !slices.Contains(f.Types, e.Type),
		f.UserID != "" && (s == nil || s.UserID != f.UserID),
		f.Client != "" && (s == nil || s.Client != f.Client):
		return false
	}
	return true
}

// Subscription is one subscriber's queue of events.
type Subscription struct {
	// Replay holds the buffered events a resuming subscriber missed.
	Replay []sessions.Event
	// Reset is true when the buffer no longer reached back to where the
	// subscriber resumed from: it has missed events it cannot be given.
	Reset bool
	// Position is the id of the newest event delivered when it subscribed:
	// Events starts after it (and after Replay).
	Position int64

	hub    *Hub
	filter Filter
	after  int64 // events up to this id are not for it
	ch     chan Delivery
	reason string
}

// Events delivers the subscription's events; it is closed when the
// subscriber is cut off or reset, or the hub closes (see Reason).
func (s *Subscription) Events() <-chan Delivery { return s.ch }

// Delivery is an event as a subscription hands it over, with its JSON,
// made once for every subscription that gets it: each stream writes the
// same bytes, whatever their size and however many streams there are.
type Delivery struct {
	sessions.Event
	JSON []byte // shared: not to be changed
}

// CaughtUp returns the id of the newest event delivered, when the
// subscriber has taken every event for it up to there from Events: a
// position it may resume from. ok is false while events wait for it.
func (s *Subscription) CaughtUp() (id int64, ok bool) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(s.ch) > 0 {
		return 0, false
	}
	return max(h.last, s.after), true
}

// Reason says why Events was closed: EndOverflow, EndShutdown or EndReset.
func (s *Subscription) Reason() string {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.reason
}

// Close unsubscribes.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

// CutOff ends the subscription because its client stopped taking what is
// written to it: it counts with those cut off for falling behind, unless
// the hub had ended it already.
func (s *Subscription) CutOff() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		h.cutOffLocked(s)
	}
}

// Resume is where a subscriber picks up: after an event id it saw, or
// (when From is false) from now on.
type Resume struct {
	From    bool
	AfterID int64
}

// Subscribe starts a subscription. With resume.From it first fills Replay
// with the buffered events after resume.AfterID that match, or sets Reset
// when the buffer no longer reaches back that far. With a shared log, an id
// this instance has not read yet is waited for when the log has it (the
// client came from a faster instance) and reset when it does not (an id of
// another log): asking the log makes Subscribe wait for the database then,
// at most until ctx ends.
func (h *Hub) Subscribe(ctx context.Context, f Filter, resume Resume) (*Subscription, error) {
	var logEnd int64
	if resume.From && h.shared != nil && resume.AfterID > h.LastID() {
		logEnd = h.shared.lastID(ctx)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if len(h.subs) >= h.opts.MaxSubscribers {
		return nil, ErrFull
	}
	sub := &Subscription{hub: h, filter: f, ch: make(chan Delivery, h.opts.SubscriberBuffer), Position: h.last}
	h.subs[sub] = struct{}{}
	switch {
	case !resume.From:
	case resume.AfterID > h.last && resume.AfterID <= logEnd:
		sub.after, sub.Position = resume.AfterID, resume.AfterID
	case resume.AfterID < h.floor || resume.AfterID > h.last:
		sub.Reset = true
	default:
		for i := range h.size {
			e := &h.ring[(h.head+i)%len(h.ring)]
			if e.ID > resume.AfterID && f.Match(e) {
				sub.Replay = append(sub.Replay, *e)
			}
		}
	}
	return sub, nil
}

// LastID returns the id of the newest event delivered.
func (h *Hub) LastID() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// Stream is one device's connection for the notifications of its session.
type Stream struct {
	hub       *Hub
	sessionID string
	ch        chan sessions.Notification
	done      chan struct{}
	changed   chan struct{}
	reason    string
}

// Notifications delivers the notifications sent to the stream's session.
func (s *Stream) Notifications() <-chan sessions.Notification { return s.ch }

// Changed receives after an event of the stream's session that did not end
// it, such as a renewal or a home taking it in: its lease may have moved.
// Several such events before a receive are told once.
func (s *Stream) Changed() <-chan struct{} { return s.changed }

// Done is closed when the stream ends; Reason then says why.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Reason says why the stream ended: its session's end (closed, expired,
// evicted, deleted), EndOverflow or EndShutdown; "" while it goes on.
func (s *Stream) Reason() string {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.reason
}

// Close disconnects the stream.
func (s *Stream) Close() {
	h := s.hub
	h.mu.Lock()
	h.removeStreamLocked(s)
	h.mu.Unlock()
	h.streamsChanged()
}

// CutOff ends the stream because its client stopped taking what is written
// to it: it counts with those cut off for falling behind, unless it had
// ended already.
func (s *Stream) CutOff() {
	h := s.hub
	h.mu.Lock()
	h.cutOffStreamLocked(s)
	h.mu.Unlock()
	h.streamsChanged()
}

// Listen connects a device stream for a session's notifications.
func (h *Hub) Listen(sessionID string) (*Stream, error) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if h.nStreams >= h.opts.MaxStreams {
		h.mu.Unlock()
		return nil, ErrFull
	}
	if len(h.streams[sessionID]) >= h.opts.MaxSessionStreams {
		h.mu.Unlock()
		return nil, ErrSessionFull
	}
	st := &Stream{hub: h, sessionID: sessionID,
		ch: make(chan sessions.Notification, h.opts.NotificationQueue), done: make(chan struct{}), changed: make(chan struct{}, 1)}
	set := h.streams[sessionID]
	if set == nil {
		set = map[*Stream]struct{}{}
		h.streams[sessionID] = set
	}
	set[st] = struct{}{}
	h.nStreams++
	h.mu.Unlock()
	h.streamsChanged()
	return st, nil
}

func (h *Hub) endLocked(st *Stream, reason string) {
	if st.reason != "" {
		return
	}
	st.reason = reason
	close(st.done)
	h.removeStreamLocked(st)
}

func (h *Hub) cutOffStreamLocked(st *Stream) {
	if _, connected := h.streams[st.sessionID][st]; connected && st.reason == "" {
		h.endLocked(st, EndOverflow)
		h.dropped.Add(1)
	}
}

func (h *Hub) removeStreamLocked(st *Stream) {
	set := h.streams[st.sessionID]
	if _, ok := set[st]; !ok {
		return
	}
	delete(set, st)
	h.nStreams--
	if len(set) == 0 {
		delete(h.streams, st.sessionID)
	}
}

// Notify delivers a notification to the device streams of the given
// sessions and returns how many streams received it: those connected here
// and, with a shared log, those connected to the other instances. With a
// shared log it is appended first, and delivered here after whatever the
// log held before it.
func (h *Hub) Notify(ctx context.Context, sessionIDs []string, n sessions.Notification) (int, error) {
	if time.Time(n.Time).IsZero() {
		n.Time = sessions.Time(h.now().UTC().Truncate(time.Millisecond))
	}
	if h.shared == nil || len(sessionIDs) == 0 {
		return h.notifyLocal(sessionIDs, n), nil
	}
	return h.shared.notify(ctx, sessionIDs, n)
}

func (h *Hub) notifyLocal(sessionIDs []string, n sessions.Notification) int {
	count := 0
	h.mu.Lock()
	for _, id := range sessionIDs {
		for st := range h.streams[id] {
			if count == 0 {
				n = n.Encoded() // once, for every stream
			}
			select {
			case st.ch <- n:
				count++
			default:
				h.cutOffStreamLocked(st)
			}
		}
	}
	h.mu.Unlock()
	return count
}

// countStreams counts the device streams of the given sessions connected
// here.
func (h *Hub) countStreams(sessionIDs []string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, id := range sessionIDs {
		n += len(h.streams[id])
	}
	return n
}

// localStreams returns the session id of every device stream connected
// here, once per stream.
func (h *Hub) localStreams() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ids []string
	for id, set := range h.streams {
		for range set {
			ids = append(ids, id)
		}
	}
	return ids
}

func (h *Hub) streamsChanged() {
	if h.shared != nil {
		h.shared.streamsChanged()
	}
}

// Open starts the work of a shared hub; a hub of one process has none.
func (h *Hub) Open(ctx context.Context) error {
	if h.shared != nil {
		return h.shared.open(ctx)
	}
	return nil
}

// Close ends every subscription and stream (EndShutdown) and, for a shared
// hub, flushes the queued events to the log.
func (h *Hub) Close(ctx context.Context) error {
	var err error
	if h.shared != nil {
		err = h.shared.close(ctx)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return err
	}
	h.closed = true
	for sub := range h.subs {
		h.unsubscribeLocked(sub, EndShutdown)
	}
	for _, set := range h.streams {
		for st := range set {
			h.endLocked(st, EndShutdown)
		}
	}
	return err
}
