package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Defaults of the event and notification streams.
const (
	// DefaultReconnectDelay is the wait before a stream reconnects while
	// the service has not set one with a retry field.
	DefaultReconnectDelay = sessions.StreamRetry
	// DefaultMaxReconnectDelay caps the wait between reconnection attempts.
	DefaultMaxReconnectDelay = 30 * time.Second
	// DefaultIdleTimeout is how long a stream may receive nothing, not even
	// the service's keep-alive comments (every 15 s by default), before it
	// is taken for dead and reconnected.
	DefaultIdleTimeout = time.Minute
)

// ErrStreamClosed is what Next returns once the stream's Close was called.
var ErrStreamClosed = errors.New("client: stream closed")

// EventFilter selects the events of a subscription; empty fields match
// every event.
type EventFilter struct {
	UserID string
	Client string
	// Types are event types (sessions.EventTypes()); the service refuses
	// the subscription (400) for an unknown one.
	Types []string
}

// EventMessage is one message of an event stream: a session event, or a
// reset. Exactly one of the fields is set.
type EventMessage struct {
	// Event is a change of a session's state.
	Event *sessions.Event
	// Reset says that the service no longer has the events the stream
	// resumed after: some were lost. Re-read what you keep (get_sessions,
	// say); the events after Reset.LastID follow.
	Reset *Reset
}

// Reset is the data of a reset message.
type Reset struct {
	// LastID is the id of the newest event when the stream resumed; the
	// stream resumes after it from then on. It is 0 when the service did
	// not give it, and when the stream reconnected before it had any event
	// id to resume after.
	LastID int64 `json:"last_id"`
}

// SessionEndedError is what a notification stream's Next returns when the
// session ends: the service said why (a device learns it was logged out, or
// pushed out by another device) and closed the stream.
type SessionEndedError struct {
	SessionID string
	// Reason is sessions.ReasonClosed, ReasonExpired, ReasonEvicted or
	// sessions.EventDeleted.
	Reason string
}

// Error says which session ended and why.
func (e *SessionEndedError) Error() string {
	return fmt.Sprintf("session %s ended: %s", e.SessionID, e.Reason)
}

// StreamOption configures an event or notification stream.
type StreamOption func(*streamOptions)

type streamOptions struct {
	lastEventID int64
	reconnect   bool
	first, max  time.Duration
	idle        time.Duration
	onReconnect func(cause error, wait time.Duration)
}

// WithLastEventID resumes an event stream after the event with this id
// (sent as the Last-Event-ID header), usually the LastEventID of an earlier
// stream: the service replays what it still has after it, or starts with a
// reset. Notification streams have no ids and ignore it.
func WithLastEventID(id int64) StreamOption {
	return func(o *streamOptions) { o.lastEventID = id }
}

// WithReconnectDelay sets the wait before reconnecting: first until the
// service sets its own with a retry field, doubled over consecutive failed
// attempts up to maxDelay (DefaultReconnectDelay, DefaultMaxReconnectDelay).
// Each wait is picked at random in its upper half, so that clients cut off
// together do not come back together.
func WithReconnectDelay(first, maxDelay time.Duration) StreamOption {
	return func(o *streamOptions) { o.first, o.max = first, max(first, maxDelay) }
}

// WithIdleTimeout sets how long a stream may receive nothing before it is
// taken for dead and reconnected (DefaultIdleTimeout); keep it above the
// service's keep_alive option. Zero or less never times out.
func WithIdleTimeout(d time.Duration) StreamOption {
	return func(o *streamOptions) { o.idle = d }
}

// WithoutReconnect makes Next return the error that ended the connection,
// io.EOF when the service ended it, instead of reconnecting; to resume an
// event stream, subscribe again WithLastEventID.
func WithoutReconnect() StreamOption {
	return func(o *streamOptions) { o.reconnect = false }
}

// WithReconnectHook calls f, on the goroutine calling Next, each time the
// stream is about to wait and reconnect: cause is why the connection ended
// (io.EOF when the service ended it) or why the last attempt failed. It
// suits logging and metrics; f may call Close or LastEventID, not Next.
func WithReconnectHook(f func(cause error, wait time.Duration)) StreamOption {
	return func(o *streamOptions) { o.onReconnect = f }
}

// EventStream reads the session events of a subscription, in id order. Next
// may be called from one goroutine at a time; Close and LastEventID from any.
type EventStream struct {
	s *stream
}

// SubscribeEvents subscribes to the session events that filter selects,
// GET /v1/sessions/events (Server-Sent Events), with the client's base URL,
// API key and http.Client, and the correlation id of ctx.
//
// It returns once the service has accepted the subscription, so every
// event after that is delivered; it does not retry a failed first attempt,
// whose error (a *sessions.Error for a refusal such as an unknown type)
// it returns. The client's timeout bounds only the wait for the service to
// accept, never the stream; the stream lasts until ctx ends or Close.
//
// When the connection is lost afterwards (the service stops or restarts,
// cuts off a subscriber that fell behind, or the network fails) Next
// reconnects by itself with the last event id, after the service's retry
// delay, doubling the wait over failed attempts up to a maximum
// (WithReconnectDelay), so no event is missed while the service still
// buffers it, and a reset says otherwise. A stream that has no event id
// yet when it reconnects cannot ask for what it missed: Next gives a reset
// (LastID 0) first. A refusal other than a server-side failure (a 4xx but
// 408 and 429) ends the stream with that error. WithoutReconnect turns
// reconnecting off.
func (c *HTTP) SubscribeEvents(ctx context.Context, filter EventFilter, opts ...StreamOption) (*EventStream, error) {
	q := url.Values{}
	if filter.UserID != "" {
		q.Set("user_id", filter.UserID)
	}
	if filter.Client != "" {
		q.Set("client", filter.Client)
	}
	if len(filter.Types) > 0 {
		q.Set("types", strings.Join(filter.Types, ","))
	}
	s, err := c.openStream(ctx, sessions.EventsStream, q, true, opts)
	if err != nil {
		return nil, err
	}
	return &EventStream{s: s}, nil
}

// Next returns the next event or reset, waiting for it (and reconnecting)
// as long as it takes. Messages of kinds this client does not know are
// skipped. An error ends the stream, and Next returns it again on every
// later call: ErrStreamClosed after Close, ctx's error when it ends, the
// service's *sessions.Error when it refuses a reconnection, or, only
// WithoutReconnect, the error that ended the connection.
func (s *EventStream) Next() (EventMessage, error) {
	for {
		m, err := s.s.next()
		if err != nil {
			return EventMessage{}, err
		}
		switch {
		case m.Event == sessions.StreamReset:
			// A reset means what it says whatever its data: one the stream
			// cannot read gives no LastID rather than ending the stream.
			var r Reset
			if json.Unmarshal([]byte(m.Data), &r) != nil {
				r = Reset{}
			}
			// The reader re-reads what it keeps after this, which covers
			// the events up to LastID: resuming after it loses nothing.
			if r.LastID > 0 {
				s.s.setLastID(r.LastID)
			}
			return EventMessage{Reset: &r}, nil
		case m.HasID || slices.Contains(sessions.EventTypes(), m.Event):
			e := new(sessions.Event)
			if err := json.Unmarshal([]byte(m.Data), e); err != nil {
				return EventMessage{}, s.s.fail(fmt.Errorf("decode %s event %s: %w", m.Event, m.ID, err))
			}
			return EventMessage{Event: e}, nil
		}
	}
}

// LastEventID returns the id of the last event received (or the LastID of
// the last reset), which the stream resumes after; 0 before any.
func (s *EventStream) LastEventID() int64 { return s.s.lastID.Load() }

// Close ends the stream and releases its connection; a Next blocked on it
// returns ErrStreamClosed. It always returns nil.
func (s *EventStream) Close() error { return s.s.close() }

// NotificationStream reads the notifications sent to one session's devices.
// Next may be called from one goroutine at a time; Close from any.
type NotificationStream struct {
	s         *stream
	sessionID string
}

// ListenNotifications opens a device's stream of the notifications sent to
// its session, GET /v1/sessions/notifications (Server-Sent Events), with
// the client's base URL, API key and http.Client, and the correlation id of
// ctx. It returns once the service has accepted the stream, so every
// notification sent after that reaches it; a session that is not live is a
// *sessions.Error: SESSION_NOT_FOUND (404) or SESSION_EXPIRED. The client's
// timeout bounds only the wait for the service to accept.
//
// When the session ends, Next returns a *SessionEndedError with the reason
// and the stream is done. When the connection is lost otherwise (the
// service stops, or cuts off a device that fell behind, or the network
// fails) Next reconnects as an event stream does; notifications sent
// meanwhile are lost, since they are not kept. A session that ended while
// the stream was away ends it with a *SessionEndedError too, from the
// reason the service gives when it refuses the reconnection; a session
// deleted meanwhile is the service's SESSION_NOT_FOUND.
func (c *HTTP) ListenNotifications(ctx context.Context, sessionID string, opts ...StreamOption) (*NotificationStream, error) {
	s, err := c.openStream(ctx, sessions.NotificationsStream, url.Values{"session_id": {sessionID}}, false, opts)
	if err != nil {
		return nil, err
	}
	return &NotificationStream{s: s, sessionID: sessionID}, nil
}

// Next returns the next notification, waiting for it (and reconnecting) as
// long as it takes. An error ends the stream, and Next returns it again on
// every later call: a *SessionEndedError when the session ended,
// ErrStreamClosed after Close, ctx's error when it ends, the service's
// *sessions.Error when it refuses a reconnection, or, only
// WithoutReconnect, the error that ended the connection.
func (s *NotificationStream) Next() (*sessions.Notification, error) {
	for {
		m, err := s.s.next()
		if err != nil {
			if ended := endedWhileAway(s.sessionID, err); ended != nil {
				s.s.err = ended
				return nil, ended
			}
			return nil, err
		}
		switch m.Event {
		case sessions.StreamNotification:
			n := new(sessions.Notification)
			if err := json.Unmarshal([]byte(m.Data), n); err != nil {
				return nil, s.s.fail(fmt.Errorf("decode %s message: %w", m.Event, err))
			}
			return n, nil
		case sessions.StreamEnd:
			var end sessions.StreamEnding
			if err := json.Unmarshal([]byte(m.Data), &end); err != nil {
				return nil, s.s.fail(fmt.Errorf("decode %s message: %w", m.Event, err))
			}
			if end.SessionID == "" {
				end.SessionID = s.sessionID
			}
			return nil, s.s.fail(&SessionEndedError{SessionID: end.SessionID, Reason: end.Reason})
		}
	}
}

// Close ends the stream and releases its connection; a Next blocked on it
// returns ErrStreamClosed. It always returns nil.
func (s *NotificationStream) Close() error { return s.s.close() }

// stream is one Server-Sent Events resource read across connections: it
// connects, parses, and reconnects with backoff.
type stream struct {
	api     *HTTP
	hc      *http.Client
	connect time.Duration // bound on the wait for the response headers
	target  string
	resume  bool // send Last-Event-ID
	opts    streamOptions

	// ctx is the stream's life, which outlasts the call that opened it:
	// the caller's ctx, cancelled by Close too.
	ctx           context.Context
	cancel        context.CancelFunc
	correlationID string
	closed        atomic.Bool
	lastID        atomic.Int64

	// The rest belongs to the goroutine calling next.
	body     io.Closer
	dropConn context.CancelFunc
	idle     *time.Timer
	idled    atomic.Bool
	sse      *sseReader
	retry    time.Duration // the service's retry hint; 0 for none
	failures int           // consecutive failed attempts to reconnect
	err      error         // what ended the stream
}

// openStream makes the first connection of a stream of the v1/sessions route.
func (c *HTTP) openStream(ctx context.Context, name string, q url.Values, resume bool, opts []StreamOption) (*stream, error) {
	o := streamOptions{reconnect: true, first: DefaultReconnectDelay, max: DefaultMaxReconnectDelay, idle: DefaultIdleTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	s := &stream{api: c, hc: c.client, connect: c.timeout, resume: resume, opts: o,
		correlationID: sessions.CorrelationID(ctx)}
	// http.Client.Timeout covers reading the body too, which would cut
	// every stream off: like the client's own timeout, it bounds only the
	// wait for the headers here.
	if t := c.client.Timeout; t > 0 {
		hc := *c.client
		hc.Timeout = 0
		s.hc = &hc
		if s.connect <= 0 || t < s.connect {
			s.connect = t
		}
	}
	if s.correlationID != "" {
		q.Set("correlation_id", s.correlationID)
	}
	s.target = c.baseURL + "/" + sessions.SessionsRoute + "/" + name + "?" + q.Encode()
	if resume && o.lastEventID > 0 {
		s.lastID.Store(o.lastEventID)
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	if err := s.dial(); err != nil {
		s.cancel()
		return nil, err
	}
	return s, nil
}

// next returns the next message, reconnecting as the options say.
func (s *stream) next() (sseMessage, error) {
	if s.err != nil {
		return sseMessage{}, s.err
	}
	var cause error
	for {
		if err := s.stopped(); err != nil {
			return sseMessage{}, s.fail(err)
		}
		if s.sse == nil {
			if err := s.reconnect(cause); err != nil {
				return sseMessage{}, s.fail(err)
			}
			// Without an id to resume after, the service starts from now:
			// what happened while away is lost, which is a reset.
			if s.resume && s.lastID.Load() == 0 {
				return sseMessage{Event: sessions.StreamReset}, nil
			}
		}
		m, err := s.sse.next()
		if s.sse.retry > 0 {
			s.retry = s.sse.retry
		}
		if id, perr := strconv.ParseInt(s.sse.lastID, 10, 64); perr == nil && s.resume {
			s.lastID.Store(id)
		}
		if err == nil {
			return m, nil
		}
		idled := s.idled.Load()
		s.drop()
		switch {
		case s.stopped() != nil:
			continue
		case errors.Is(err, errSSETooLarge):
			return sseMessage{}, s.fail(err)
		case idled:
			err = fmt.Errorf("nothing received for %v: %w", s.opts.idle, context.DeadlineExceeded)
		case errors.Is(err, io.ErrUnexpectedEOF):
			err = io.EOF
		}
		if !s.opts.reconnect {
			return sseMessage{}, s.fail(err)
		}
		cause = err
	}
}

// reconnect waits and connects until it succeeds, the stream stops, or the
// service refuses for good.
func (s *stream) reconnect(cause error) error {
	for {
		wait := s.backoff()
		if s.opts.onReconnect != nil {
			s.opts.onReconnect(cause, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return s.stopped()
		case <-t.C:
		}
		err := s.dial()
		if err == nil {
			s.failures = 0
			return nil
		}
		if stopped := s.stopped(); stopped != nil {
			return stopped
		}
		if !retryable(err) {
			return err
		}
		s.failures++
		cause = err
	}
}

// backoff is the wait before the next attempt: the service's retry hint (or
// the first delay), doubled for each consecutive failure, capped, and
// picked at random in its upper half.
func (s *stream) backoff() time.Duration {
	d := s.opts.first
	if s.retry > 0 {
		d = s.retry
	}
	for i := 0; i < s.failures && d < s.opts.max; i++ {
		d *= 2
	}
	d = min(d, s.opts.max)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// endedWhileAway reads the service's refusal of a reconnecting device
// stream: the session expired, or was closed with the reason in the
// error's details. It is the end the stream missed while away.
func endedWhileAway(sessionID string, err error) *SessionEndedError {
	var e *sessions.Error
	if !errors.As(err, &e) {
		return nil
	}
	switch reason, _ := e.Details["close_reason"].(string); {
	case e.Code == sessions.CodeSessionExpired:
		return &SessionEndedError{SessionID: sessionID, Reason: sessions.ReasonExpired}
	case e.Code == sessions.CodeSessionNotFound && reason != "":
		return &SessionEndedError{SessionID: sessionID, Reason: reason}
	}
	return nil
}

// retryable reports whether a failed attempt may succeed later: the
// network, a server-side failure, a timeout, a rate limit, or an answer
// that is no event stream and no refusal either (a proxy's page while the
// service restarts); not a refusal (4xx).
func retryable(err error) bool {
	var e *sessions.Error
	if !errors.As(err, &e) {
		return true
	}
	return e.Status >= 500 || e.Status < 400 || e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests
}

// dial makes one connection and waits for the service to accept it.
func (s *stream) dial() error {
	ctx, cancel := context.WithCancel(s.ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.target, nil)
	if err != nil {
		cancel()
		return fmt.Errorf("subscribe %s: %w", s.target, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if s.api.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+s.api.apiKey)
	}
	if id := s.lastID.Load(); s.resume && id > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(id, 10))
	}
	var timer *time.Timer
	if s.connect > 0 {
		timer = time.AfterFunc(s.connect, cancel)
	}
	resp, err := s.hc.Do(req)
	timedOut := timer != nil && !timer.Stop()
	if err == nil && timedOut { // the headers came just as time ran out
		resp.Body.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		cancel()
		if timedOut {
			return fmt.Errorf("subscribe %s: no response within %v: %w", req.URL.Path, s.connect, context.DeadlineExceeded)
		}
		return fmt.Errorf("subscribe %s: %w", req.URL.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		if err != nil {
			return fmt.Errorf("subscribe %s: read %s error response: %w", req.URL.Path, resp.Status, err)
		}
		return decodeError(resp.StatusCode, body, s.correlationID)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		resp.Body.Close()
		cancel()
		return &sessions.Error{Status: resp.StatusCode, Category: sessions.CategoryUnknown, Code: CodeUnexpectedResponse,
			CorrelationID: s.correlationID,
			Message:       fmt.Sprintf("unexpected content type %q; want text/event-stream", resp.Header.Get("Content-Type"))}
	}
	var r io.Reader = resp.Body
	s.idled.Store(false)
	if s.opts.idle > 0 {
		s.idle = time.AfterFunc(s.opts.idle, func() { s.idled.Store(true); cancel() })
		r = &idleReader{r: resp.Body, t: s.idle, d: s.opts.idle}
	}
	s.body, s.dropConn = resp.Body, cancel
	s.sse = newSSEReader(r)
	if id := s.lastID.Load(); id > 0 {
		s.sse.lastID = strconv.FormatInt(id, 10)
	}
	return nil
}

// drop lets go of the current connection.
func (s *stream) drop() {
	if s.sse == nil {
		return
	}
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	s.dropConn()
	s.body.Close()
	s.body, s.dropConn, s.sse = nil, nil, nil
}

// stopped returns the error of a stream that was closed or whose context
// ended, nil while it runs.
func (s *stream) stopped() error {
	switch {
	case s.closed.Load():
		return ErrStreamClosed
	case s.ctx.Err() != nil:
		return context.Cause(s.ctx)
	}
	return nil
}

// fail ends the stream with err, unless it ended already.
func (s *stream) fail(err error) error {
	if s.err == nil {
		s.err = err
	}
	s.drop()
	s.cancel()
	return s.err
}

func (s *stream) setLastID(id int64) {
	s.lastID.Store(id)
	if s.sse != nil {
		s.sse.lastID = strconv.FormatInt(id, 10)
	}
}

func (s *stream) close() error {
	s.closed.Store(true)
	s.cancel()
	return nil
}

// idleReader re-arms the idle timer t on every read that got something.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Reset(r.d)
	}
	return n, err
}
