package service

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sessionsd/service-sessions-go/src/events"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// EventSource is what the event and notification streams need from a
// controller.
type EventSource interface {
	Events() *events.Hub
	// LiveSession returns an active session, or the error a device stream
	// for a missing, closed or lapsed one is refused with.
	LiveSession(ctx context.Context, id string) (*sessions.Session, error)
	// ExpireLapsed closes a session whose lease has lapsed and returns when
	// to look again: its lease's end, or zero when there is nothing to watch.
	ExpireLapsed(ctx context.Context, id string) (time.Time, error)
}

// Refusals of a new stream: while the service shuts down, and when this
// instance holds as many streams of the kind as it is configured to.
var (
	errStopping    = &sessions.Error{Category: sessions.CategoryNoResponse, Code: sessions.CodeServiceStopping, Message: "the service is stopping"}
	errFull        = &sessions.Error{Category: sessions.CategoryNoResponse, Code: sessions.CodeTooManyStreams, Message: "this instance has as many streams as it may: try again later, or another instance"}
	errSessionFull = &sessions.Error{Category: sessions.CategoryNoResponse, Code: sessions.CodeTooManyStreams, Message: "this session has as many device streams as it may: close one, or try again later"}
)

// streamRefusal is the answer to a stream the hub refused with err.
func streamRefusal(err error) error {
	switch {
	case errors.Is(err, events.ErrFull):
		return errFull
	case errors.Is(err, events.ErrSessionFull):
		return errSessionFull
	}
	return errStopping
}

// Defaults of the stream options.
const (
	DefaultKeepAlive          = 15 * time.Second
	DefaultStreamWriteTimeout = 10 * time.Second
)

// streams serves the Server-Sent Events of a route: the session events and
// the devices' notification streams.
type streams struct {
	source       EventSource
	endpoint     *Endpoint
	keepAlive    time.Duration
	writeTimeout time.Duration
}

// register adds GET /<route>/events and GET /<route>/notifications.
func (s *streams) register(route string) {
	r := s.endpoint.Router()
	r.Get("/"+route+"/"+sessions.EventsStream, s.events)
	r.Get("/"+route+"/"+sessions.NotificationsStream, s.notifications)
}

// events streams session events, filtered by the user_id, client and types
// query parameters. A Last-Event-ID header (or last_event_id parameter)
// resumes after that event, or starts with a reset message when the buffer
// no longer reaches back that far.
func (s *streams) events(w http.ResponseWriter, r *http.Request) {
	q, err := query(r)
	if err != nil {
		s.endpoint.WriteError(w, r, err)
		return
	}
	filter, lastID, err := eventsQuery(q)
	if err != nil {
		s.endpoint.WriteError(w, r, err)
		return
	}
	var resume events.Resume
	if last := firstOf(r.Header.Get("Last-Event-ID"), lastID); last != "" {
		id, err := strconv.ParseInt(last, 10, 64)
		if err != nil {
			s.endpoint.WriteError(w, r, sessions.InvalidData("Last-Event-ID "+strconv.Quote(last)+" must be an event id"))
			return
		}
		resume = events.Resume{From: true, AfterID: id}
	}
	if r.Method == http.MethodHead {
		streamHeader(w)
		return
	}
	hub := s.source.Events()
	sub, err := hub.Subscribe(r.Context(), filter, resume)
	if err != nil {
		s.endpoint.WriteError(w, r, streamRefusal(err))
		return
	}
	defer sub.Close()

	sse := s.start(w, sub.CutOff)
	switch {
	case sub.Reset:
		// With the id of where the live events start, so a client that
		// drops again resumes from there instead of resetting again.
		sse.reset(sub.Position)
	case len(sub.Replay) > 0:
		// Written as it fills, so that a replay of the whole buffer is
		// never held encoded at once for a client that reads slowly.
		for i := range sub.Replay {
			sse.event(&sub.Replay[i])
			if sse.full() && !sse.flush() {
				return
			}
		}
	default:
		// An id-only message gives a new subscriber its position at once,
		// so it can resume even if it drops before the first event.
		sse.position(sub.Position)
	}
	// A closed channel means cut off for falling behind, or the hub is
	// closing; either way the client reconnects with Last-Event-ID.
	pump(s, r, sse, sub.Events(), sse.delivery, nil, nil, func() {
		// An idle subscriber that has every event for it is told the
		// newest position, so that a filter that matches little does not
		// let its last id fall out of the replay buffer meanwhile.
		if id, ok := sub.CaughtUp(); ok {
			sse.position(id)
		} else {
			sse.comment("keep-alive")
		}
	})
}

// pump writes each value that arrives on ch with write until the client
// goes away, the service stops (the client is told to come back), ch is
// closed, or done is closed, when end writes the stream's last message.
// An idle stream gets idle called every keep-alive interval.
func pump[T any](s *streams, r *http.Request, sse *sseWriter, ch <-chan T, write func(*T), done <-chan struct{}, end, idle func()) {
	keepAlive := time.NewTicker(s.keepAlive)
	defer keepAlive.Stop()
	for sse.flush() {
		select {
		case <-r.Context().Done():
			return
		case <-s.endpoint.Stopping():
			sse.stopping()
			return
		case <-keepAlive.C:
			idle()
		case v, ok := <-ch:
			if ok {
				write(&v)
				ok = drain(ch, write, sse.full)
			}
			if !ok {
				sse.flush()
				return
			}
		case <-done:
			for drain(ch, write, sse.full) && sse.full() { // what is left, written as it fills
				if !sse.flush() {
					return
				}
			}
			end()
			sse.flush()
			return
		}
	}
}

// drain hands the values ready on ch to f, without waiting, until full
// reports true; false when ch is closed.
func drain[T any](ch <-chan T, f func(*T), full func() bool) bool {
	for !full() {
		select {
		case v, ok := <-ch:
			if !ok {
				return false
			}
			f(&v)
		default:
			return true
		}
	}
	return true
}

// notifications is one device's stream of the notifications sent to its
// session; it ends with an end message when the session ends.
func (s *streams) notifications(w http.ResponseWriter, r *http.Request) {
	q, err := query(r)
	if err != nil {
		s.endpoint.WriteError(w, r, err)
		return
	}
	id, err := queryParam(q, "session_id")
	if err != nil {
		s.endpoint.WriteError(w, r, err)
		return
	}
	if id == "" {
		s.endpoint.WriteError(w, r, sessions.InvalidData(sessions.NullProblem("session_id")))
		return
	}
	if problem := sessions.TextProblem("session_id", id, sessions.MaxSessionIDLength); problem != "" {
		s.endpoint.WriteError(w, r, sessions.InvalidData(problem))
		return
	}
	if r.Method == http.MethodHead {
		if _, err := s.source.LiveSession(r.Context(), id); err != nil {
			s.endpoint.WriteError(w, r, err)
			return
		}
		streamHeader(w)
		return
	}
	hub := s.source.Events()
	// Listen before checking the session, so an end that comes in between
	// is not missed.
	st, err := hub.Listen(id)
	if err != nil {
		s.endpoint.WriteError(w, r, streamRefusal(err))
		return
	}
	defer st.Close()
	session, err := s.source.LiveSession(r.Context(), id)
	if err != nil {
		s.endpoint.WriteError(w, r, err)
		return
	}
	ctx, stop := context.WithCancel(r.Context())
	defer stop()
	go s.watchLease(ctx, id, session.ExpireTime, st.Changed())
	sse := s.start(w, st.CutOff)
	pump(s, r, sse, st.Notifications(), sse.notification, st.Done(), func() {
		if reason := st.Reason(); reason != events.EndShutdown && reason != events.EndOverflow {
			b, _ := json.Marshal(sessions.StreamEnding{SessionID: id, Reason: reason})
			sse.message(sessions.StreamEnd, b)
		}
	}, func() { sse.comment("keep-alive") })
}

// watchLease expires the session of a device stream when its lease ends,
// unless it was renewed: the expiry ends the stream at once, where the
// sweep would end it only at its next run. end is the lease's end as the
// stream began (zero: none); after each change of the session it looks
// again, since a renewal may have shortened the lease, or a home given the
// session one. It returns when ctx ends.
func (s *streams) watchLease(ctx context.Context, id string, end time.Time, changed <-chan struct{}) {
	lapse := time.NewTimer(0)
	defer lapse.Stop()
	for {
		lapse.Stop()
		if !end.IsZero() {
			lapse.Reset(time.Until(end) + time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return
		case <-lapse.C:
		case <-changed:
		}
		next, err := s.source.ExpireLapsed(ctx, id)
		if err != nil {
			next = time.Now().Add(time.Second) // the store failed: try again
		}
		end = next
	}
}

// streamHeader sends the headers of an event stream. A HEAD gets them
// alone: its answer ends there, where a stream would run on.
func streamHeader(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
}

// start sends the headers of an event stream; cutOff is called when a
// write times out.
func (s *streams) start(w http.ResponseWriter, cutOff func()) *sseWriter {
	streamHeader(w)
	sse := &sseWriter{w: w, rc: http.NewResponseController(w), timeout: s.writeTimeout, cutOff: cutOff}
	sse.buf = append(sse.buf, "retry: "+strconv.FormatInt(sessions.StreamRetry.Milliseconds(), 10)+"\n\n"...)
	return sse
}

// eventsQuery reads the query of an event stream: its filter and the
// last_event_id to resume after. types may be a comma-separated list, or
// given as often as there are types.
func eventsQuery(q url.Values) (events.Filter, string, error) {
	var f events.Filter
	var err error
	if f.Types, err = sessions.ParseEventTypes(strings.Join(q["types"], ",")); err != nil {
		return f, "", sessions.InvalidData("types: " + err.Error())
	}
	if f.UserID, err = filterParam(q, "user_id"); err != nil {
		return f, "", err
	}
	if f.Client, err = filterParam(q, "client"); err != nil {
		return f, "", err
	}
	last, err := filterParam(q, "last_event_id")
	return f, last, err
}

// query parses the query string of a request. A pair that cannot be read
// (a bad escape, a semicolon) is refused: dropped, as url.URL.Query drops
// it, a filter would be gone without a word, and a stream asked for one
// account's events would carry every account's.
func query(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, sessions.InvalidData("query string: " + err.Error())
	}
	return q, nil
}

// queryParam returns the value of a query parameter that names one thing.
// Given twice with different values it is refused, rather than one of
// them silently dropped.
func queryParam(q url.Values, key string) (string, error) {
	values := q[key]
	if len(values) == 0 {
		return "", nil
	}
	for _, v := range values[1:] {
		if v != values[0] {
			return "", sessions.InvalidData(key + " must not be given twice with different values")
		}
	}
	return values[0], nil
}

// filterParam returns a query parameter of an event stream, which filters
// as a command's filter value does and is bounded alike.
func filterParam(q url.Values, key string) (string, error) {
	v, err := queryParam(q, key)
	if problem := sessions.TextProblem(key, v, sessions.MaxTextLength); err == nil && problem != "" {
		err = sessions.InvalidData(problem)
	}
	return v, err
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// sseWriter buffers Server-Sent Events messages and writes them out with a
// deadline, so a client that stops reading cannot hold the handler forever.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	cutOff  func() // the client stopped reading
	// parts, then buf, are what is to be written, in order: parts holds
	// buffered text and large shared data (size bytes in all), buf the
	// text that came after.
	parts  [][]byte
	size   int
	buf    []byte
	failed bool
}

// event appends an event encoded here, as a replayed one is.
func (s *sseWriter) event(e *sessions.Event) {
	s.buf = append(s.buf, "id: "...)
	s.buf = strconv.AppendInt(s.buf, e.ID, 10)
	s.buf = append(s.buf, "\nevent: "...)
	s.buf = append(s.buf, e.Type...)
	s.buf = append(s.buf, "\ndata: "...)
	s.buf = e.AppendJSON(s.buf)
	s.buf = append(s.buf, "\n\n"...)
}

// delivery appends a live event, with the JSON every stream shares.
func (s *sseWriter) delivery(d *events.Delivery) {
	s.buf = append(s.buf, "id: "...)
	s.buf = strconv.AppendInt(s.buf, d.ID, 10)
	s.buf = append(s.buf, '\n')
	s.message(d.Type, d.JSON)
}

func (s *sseWriter) notification(n *sessions.Notification) {
	s.message(sessions.StreamNotification, n.JSON())
}

// reset appends the reset message: {"last_id": position}, with that id.
func (s *sseWriter) reset(position int64) {
	s.buf = append(s.buf, "id: "...)
	s.buf = strconv.AppendInt(s.buf, position, 10)
	s.buf = append(s.buf, '\n')
	s.message(sessions.StreamReset, append(strconv.AppendInt([]byte(`{"last_id":`), position, 10), '}'))
}

// position appends an id-only message: it sets the client's last event id
// and dispatches nothing.
func (s *sseWriter) position(id int64) {
	s.buf = append(s.buf, "id: "...)
	s.buf = strconv.AppendInt(s.buf, id, 10)
	s.buf = append(s.buf, "\n\n"...)
}

// message appends a message, after its id line if it has one; data must
// be one line of JSON. Large data is not copied: the stream writes it as
// it is, in its turn, so an event or a notification shared by many
// streams is held once.
func (s *sseWriter) message(typ string, data []byte) {
	s.buf = append(s.buf, "event: "...)
	s.buf = append(s.buf, typ...)
	s.buf = append(s.buf, "\ndata: "...)
	if len(data) >= sharedData {
		s.parts = append(s.parts, s.buf, data)
		s.size += len(s.buf) + len(data)
		s.buf = nil
	} else {
		s.buf = append(s.buf, data...)
	}
	s.buf = append(s.buf, "\n\n"...)
}

// sharedData is the size from which message data is written as it is
// rather than copied into the stream's buffer.
const sharedData = 4 << 10

// stopping tells the client the service is going away and ends the stream;
// the client reconnects, to another instance or after the restart.
func (s *sseWriter) stopping() {
	s.comment("the service is stopping")
	s.flush()
}

func (s *sseWriter) comment(text string) {
	s.buf = append(s.buf, ": "...)
	s.buf = append(s.buf, text...)
	s.buf = append(s.buf, "\n\n"...)
}

// maxKeptBuffer is the largest write buffer a stream keeps between
// writes; a stream writes out once it holds that much.
const maxKeptBuffer = 64 << 10

// full reports whether the buffer holds enough to be written out now.
func (s *sseWriter) full() bool { return s.size+len(s.buf) >= maxKeptBuffer }

// flush writes what is buffered; false when the client cannot be written to.
func (s *sseWriter) flush() bool {
	if s.failed {
		return false
	}
	if s.size+len(s.buf) == 0 {
		return true
	}
	s.rc.SetWriteDeadline(time.Now().Add(s.timeout)) //nolint:errcheck // unsupported writers just have no deadline
	var err error
	for _, p := range s.parts {
		if _, err = s.w.Write(p); err != nil {
			break
		}
	}
	if err == nil {
		_, err = s.w.Write(s.buf)
	}
	if err == nil {
		err = s.rc.Flush()
	}
	clear(s.parts) // the shared data is not held past its write
	s.parts, s.size = s.parts[:0], 0
	s.buf = s.buf[:0]
	if cap(s.buf) > maxKeptBuffer {
		s.buf = nil // a burst's buffer is not kept for the stream's life
	}
	if err != nil && !errors.Is(err, http.ErrNotSupported) {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.cutOff()
		}
		s.failed = true
		return false
	}
	return true
}
