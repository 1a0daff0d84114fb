package persistence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.uber.org/zap"

	"github.com/sessionsd/service-sessions-go/src/events"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

var _ events.Log = (*MongoDB)(nil)

// The event log is the collection <collection>_events, shared by every
// instance on the database. Each document is one batch of records: _id is
// the id of its first record and last the id of its last, and a batch is
// only ever inserted at last+1 of the newest batch, read just before: an
// id remembered from an earlier append may have been trimmed since, and a
// batch inserted there would sit behind every reader.
// Two writers that pick the same place collide on _id — inserts against a
// unique key are exact on MongoDB and on MongoDB-compatible servers, even
// where conditional updates and $inc are not — and the loser moves on to
// the end of the log. So ids are consecutive, and a reader that has read
// up to some id never finds an older record appearing later.
//
// <collection>_streams holds, per instance, the session ids of the device
// streams connected to it and when it last recorded them, so
// send_notification can count the streams on other instances; the records
// of instances gone are removed when the log is trimmed.

// eventBatchDoc is one batch of the event log.
type eventBatchDoc struct {
	First  int64            `bson:"_id"`
	Last   int64            `bson:"last"`
	Origin string           `bson:"origin"`
	Batch  string           `bson:"batch,omitempty"`
	Time   time.Time        `bson:"time"`
	Recs   []eventRecordDoc `bson:"recs"`
}

// eventRecordDoc is an event (Type, At, Session) or a notification
// (Method, Params, At, Targets).
type eventRecordDoc struct {
	Type    string      `bson:"type,omitempty"`
	At      time.Time   `bson:"at"`
	Session *sessionDoc `bson:"session,omitempty"`
	Method  string      `bson:"method,omitempty"`
	Params  string      `bson:"params,omitempty"`
	Targets []string    `bson:"targets,omitempty"`
}

type streamsDoc struct {
	Instance string    `bson:"_id"`
	Seen     time.Time `bson:"seen"`
	Sessions []string  `bson:"sessions"`
}

// eventLog is the state of this instance's appends and reads.
type eventLog struct {
	mu sync.Mutex // one append at a time: this instance's never collide

	readMu   sync.Mutex
	readEnd  int64     // the id the next batch follows, as far as the last read knows
	lastScan time.Time // when the log was last read by range

	// known is the highest id this instance appended or read past. Appends
	// never go below it: when the log is emptied under running instances
	// (its collection dropped, or restored from an older copy), ids go on
	// rising from where they were, and the readers, which read after the
	// last id they delivered, find what follows.
	known atomic.Int64
	// filled is set when this instance filled the log: its reader then
	// reads by range, as the filler need not start where it reads next.
	filled atomic.Bool
}

// saw records that the log reaches id at least.
func (l *eventLog) saw(id int64) {
	for {
		k := l.known.Load()
		if id <= k || l.known.CompareAndSwap(k, id) {
			return
		}
	}
}

const (
	readDocs = 64
	// pointReads is how many batches a reader at a batch boundary looks
	// up one by one before it reads the rest by range.
	pointReads = 4
	// scanEvery is how often a reader at a batch boundary still reads by
	// range, in case the batch after it was trimmed before it was read.
	scanEvery = 5 * time.Second
)

// AppendRecords appends recs as one batch at the end of the log.
func (m *MongoDB) AppendRecords(ctx context.Context, recs []events.Record) (int64, error) {
	if m.coll == nil {
		return 0, errNotOpen()
	}
	doc := eventBatchDoc{Time: time.Now().UTC(), Recs: make([]eventRecordDoc, len(recs))}
	for i, r := range recs {
		d, err := newEventRecordDoc(r)
		if err != nil {
			return 0, err
		}
		doc.Recs[i] = d
		doc.Origin, doc.Batch = r.Origin, r.Batch
	}
	m.events.mu.Lock()
	defer m.events.mu.Unlock()
	last, err := m.fillTo(ctx, m.events.known.Load())
	if err != nil {
		return 0, err
	}
	for {
		doc.First, doc.Last = last+1, last+int64(len(recs))
		err := func() error {
			ctx, cancel := context.WithTimeout(ctx, m.opTime)
			defer cancel()
			_, err := m.tables.events.InsertOne(ctx, doc)
			return err
		}()
		switch {
		case err == nil:
			m.events.saw(doc.Last)
			return doc.First, nil
		case mongo.IsDuplicateKeyError(err):
			// Another instance took the place: follow its batch, or the
			// end of the log when that batch is gone already.
			taken, ok, err := m.findBatch(ctx, doc.First)
			if err == nil && !ok {
				taken.Last, err = m.fillTo(ctx, m.events.known.Load())
			}
			if err != nil {
				return 0, err
			}
			last = taken.Last
		default:
			return 0, m.fail("append events", err)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
}

func newEventRecordDoc(r events.Record) (eventRecordDoc, error) {
	switch {
	case r.Event != nil:
		s, err := newSessionDoc(r.Event.Session)
		if err != nil {
			return eventRecordDoc{}, err
		}
		return eventRecordDoc{Type: r.Event.Type, At: r.Event.Time, Session: s}, nil
	case r.Notification != nil:
		n := r.Notification
		return eventRecordDoc{Method: n.Method, Params: string(n.Params), At: time.Time(n.Time), Targets: r.Targets}, nil
	}
	return eventRecordDoc{}, fmt.Errorf("event record %d holds neither an event nor a notification", r.ID)
}

// ReadRecords returns the records after id after, in id order. A reader
// at the end of a batch it read finds the next batch by its _id, a point
// lookup every server serves from the primary key; otherwise (the first
// read, after a gap, and every scanEvery) it reads by range.
func (m *MongoDB) ReadRecords(ctx context.Context, after int64, limit int) ([]events.Record, error) {
	if m.coll == nil {
		return nil, errNotOpen()
	}
	m.events.saw(after)
	m.events.readMu.Lock()
	defer m.events.readMu.Unlock()
	var docs []eventBatchDoc
	if m.events.filled.Swap(false) || after != m.events.readEnd || time.Since(m.events.lastScan) > scanEvery {
		// Counted from the attempt, so a range read that fails or times
		// out is not retried at every poll.
		m.events.lastScan = time.Now()
		var err error
		if docs, err = m.findBatches(ctx, after); err != nil {
			return nil, err
		}
		if len(docs) == 0 {
			// No batch ends after after, so the next one starts right
			// after it: from now on look it up by _id.
			m.events.readEnd = after
			if after > 0 { // else there is nothing to fill
				if _, err := m.fillTo(ctx, after); err != nil {
					// Tried again at the next range read; reading goes on.
					m.log.Warn("event log: cannot fill it up to this instance's position", zap.Error(err))
				}
			}
		}
	} else {
		for n, next := 0, after+1; n < limit; {
			if len(docs) == pointReads {
				// Behind by more than a few batches: the rest in one
				// round trip rather than one each.
				more, err := m.findBatches(ctx, next-1)
				if err != nil {
					return nil, err
				}
				docs = append(docs, more...)
				break
			}
			d, ok, err := m.findBatch(ctx, next)
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			docs = append(docs, d)
			n += len(d.Recs)
			next = d.Last + 1
		}
	}
	if len(docs) > 0 {
		m.events.readEnd = docs[len(docs)-1].Last
	}
	var out []events.Record
	for _, d := range docs {
		if len(d.Recs) == 0 && d.Last > after { // a filler: what its ids held is gone
			out = append(out, events.Record{ID: d.Last})
		}
		for i, rd := range d.Recs {
			id := d.First + int64(i)
			if id <= after {
				continue
			}
			r, err := rd.record(id, d.Origin, d.Batch)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// fillTo makes the log reach id at least and returns where it ends. When
// it ends below id, the log was emptied under this instance (its
// collection dropped, or restored from an older copy): instances started
// since then append from its new end, where this one, reading after id,
// would never see them. A filler, a batch of no records, then takes the
// ids from the log's end up to id, appended at the end as any batch is, so
// that the unique _id settles a race with an append as it settles any;
// after it every instance appends above id.
func (m *MongoDB) fillTo(ctx context.Context, id int64) (int64, error) {
	for {
		last, err := m.LastRecordID(ctx)
		if err != nil || last >= id {
			return last, err
		}
		err = func() error {
			ctx, cancel := context.WithTimeout(ctx, m.opTime)
			defer cancel()
			_, err := m.tables.events.InsertOne(ctx, eventBatchDoc{First: last + 1, Last: id, Time: time.Now().UTC(), Recs: []eventRecordDoc{}})
			return err
		}()
		switch {
		case err == nil:
			m.log.Warn("the event log ended below what this instance had read (emptied under it); it goes on from there",
				zap.Int64("log_end", last), zap.Int64("position", id))
			m.events.filled.Store(true)
			return id, nil
		case !mongo.IsDuplicateKeyError(err): // else another instance appended there: look again
			return 0, m.fail("fill the event log", err)
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
}

// findBatches returns the first batches holding records after id after.
// Batches do not overlap, so last orders them as _id does, and the index
// on last serves both the filter and the sort.
func (m *MongoDB) findBatches(ctx context.Context, after int64) ([]eventBatchDoc, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	cur, err := m.tables.events.Find(ctx, bson.D{{Key: "last", Value: bson.D{{Key: "$gt", Value: after}}}},
		options.Find().SetSort(bson.D{{Key: "last", Value: 1}}).SetLimit(readDocs))
	if err != nil {
		return nil, m.fail("read events", err)
	}
	var docs []eventBatchDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, m.fail("read events", err)
	}
	return docs, nil
}

// findBatch returns the batch whose first record has that id.
func (m *MongoDB) findBatch(ctx context.Context, first int64) (eventBatchDoc, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	var d eventBatchDoc
	err := m.tables.events.FindOne(ctx, bson.D{{Key: "_id", Value: first}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return d, false, nil
	}
	if err != nil {
		return d, false, m.fail("read events", err)
	}
	return d, true, nil
}

// record turns a stored record back into an event or a notification.
func (rd *eventRecordDoc) record(id int64, origin, batch string) (events.Record, error) {
	r := events.Record{ID: id, Origin: origin, Batch: batch}
	if rd.Session != nil {
		s, err := rd.Session.session()
		if err != nil {
			return r, err
		}
		r.Event = &sessions.Event{ID: id, Type: rd.Type, Time: rd.At.UTC(), Session: s}
		return r, nil
	}
	var params json.RawMessage
	if rd.Params != "" {
		params = json.RawMessage(rd.Params)
	}
	r.Notification = &sessions.Notification{Method: rd.Method, Params: params, Time: sessions.Time(rd.At.UTC())}
	r.Targets = rd.Targets
	return r, nil
}

// LastRecordID returns the id of the newest record, 0 for an empty log.
func (m *MongoDB) LastRecordID(ctx context.Context) (int64, error) {
	if m.coll == nil {
		return 0, errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	var d struct {
		Last int64 `bson:"last"`
	}
	err := m.tables.events.FindOne(ctx, bson.D{}, options.FindOne().
		SetSort(bson.D{{Key: "_id", Value: -1}}).SetProjection(bson.D{{Key: "last", Value: 1}})).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, m.fail("find the last event", err)
	}
	return d.Last, nil
}

// TrimRecords removes the batches whose records are all below before.
func (m *MongoDB) TrimRecords(ctx context.Context, before int64) error {
	if m.coll == nil {
		return errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	if _, err := m.tables.events.DeleteMany(ctx, bson.D{{Key: "last", Value: bson.D{{Key: "$lt", Value: before}}}}); err != nil {
		return m.fail("trim events", err)
	}
	return nil
}

// WatchRecords follows inserts into the event log with a change stream.
// While the stream cannot be opened because the database does not answer,
// or after it broke (failover, outage), the channel receives every second,
// as polling would, until a stream opens again. Servers without change
// streams (a standalone MongoDB, MongoDB-compatible servers) refuse to
// open one: then the channel is closed and the hub polls.
func (m *MongoDB) WatchRecords(ctx context.Context) <-chan struct{} {
	if m.coll == nil {
		return nil
	}
	out := make(chan struct{}, 1)
	go m.watch(ctx, out)
	return out
}

func (m *MongoDB) watch(ctx context.Context, out chan<- struct{}) {
	// The stream only wakes the reader, which reads the batches itself: it
	// carries no document.
	pipeline := mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "operationType", Value: "insert"}}}},
		{{Key: "$project", Value: bson.D{{Key: "operationType", Value: 1}}}},
	}
	wake := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	failing := false // logged once per outage
	for {
		// The stream outlives the context of its opening, which bounds
		// only the opening (Next takes its own).
		opening, cancel := context.WithTimeout(ctx, m.opTime)
		cs, err := m.watched().Watch(opening, pipeline)
		cancel()
		switch {
		case err == nil:
			failing = false
			for cs.Next(ctx) {
				wake()
			}
			err = cs.Err()
			m.closeCursor(ctx, cs)
			if ctx.Err() != nil {
				return
			}
			m.log.Warn("event log change stream ended; reopening", zap.String("reason", m.streamEnd(err)))
		case ctx.Err() != nil:
			return
		case noChangeStreams(err):
			m.log.Info("event log: no change streams on this server; polling instead", zap.String("reason", m.redact(err)))
			close(out)
			return
		case !failing:
			failing = true
			m.log.Warn("event log change stream cannot be opened; retrying", zap.String("reason", m.redact(err)))
		}
		wake()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// noChangeStreams reports whether err says the server has no change
// streams for the service, for good: a standalone MongoDB, a server that
// has not the stage, or a user not allowed to watch. Any other failure to
// open one (the server unreachable, stepping down, overloaded) is tried
// again.
func noChangeStreams(err error) bool {
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	for _, code := range []int{
		13,    // Unauthorized
		59,    // CommandNotFound
		115,   // CommandNotSupported
		238,   // NotImplemented (MongoDB-compatible servers)
		40324, // Unrecognized pipeline stage name
		40573, // The $changeStream stage is only supported on replica sets
	} {
		if se.HasErrorCode(code) {
			return true
		}
	}
	return false
}

// watched is the event log as a change stream reads it: with read concern
// majority, the one a change stream takes (the service reads the log
// itself with read concern local).
func (m *MongoDB) watched() *mongo.Collection {
	return m.tables.events.Clone(options.Collection().SetReadConcern(readconcern.Majority()))
}

// streamEnd says why a change stream ended: its error, or none when the
// server closed it (the event log was dropped or renamed).
func (m *MongoDB) streamEnd(err error) string {
	if err == nil {
		return "closed by the server (the event log collection was dropped or renamed)"
	}
	return m.redact(err)
}

// PutStreams records the device streams connected to an instance; an
// empty list removes the instance's record.
func (m *MongoDB) PutStreams(ctx context.Context, instance string, sessionIDs []string, now time.Time) error {
	if m.coll == nil {
		return errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	var err error
	if len(sessionIDs) == 0 {
		_, err = m.tables.streams.DeleteOne(ctx, bson.D{{Key: "_id", Value: instance}})
	} else {
		_, err = m.tables.streams.ReplaceOne(ctx, bson.D{{Key: "_id", Value: instance}},
			streamsDoc{Instance: instance, Seen: now.UTC(), Sessions: sessionIDs}, options.Replace().SetUpsert(true))
	}
	if err != nil {
		return m.fail("record device streams", err)
	}
	return nil
}

// ForgetStreams removes the device streams recorded before seenBefore.
func (m *MongoDB) ForgetStreams(ctx context.Context, seenBefore time.Time) error {
	if m.coll == nil {
		return errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	if _, err := m.tables.streams.DeleteMany(ctx, bson.D{{Key: "seen", Value: bson.D{{Key: "$lt", Value: seenBefore.UTC()}}}}); err != nil {
		return m.fail("forget device streams", err)
	}
	return nil
}

// CountStreams counts the device streams of the given sessions recorded by
// other instances since freshAfter.
func (m *MongoDB) CountStreams(ctx context.Context, except string, sessionIDs []string, freshAfter time.Time) (int, error) {
	if m.coll == nil {
		return 0, errNotOpen()
	}
	ctx, cancel := context.WithTimeout(ctx, m.opTime)
	defer cancel()
	cur, err := m.tables.streams.Find(ctx, bson.D{
		{Key: "_id", Value: bson.D{{Key: "$ne", Value: except}}},
		{Key: "seen", Value: bson.D{{Key: "$gt", Value: freshAfter.UTC()}}},
		{Key: "sessions", Value: bson.D{{Key: "$in", Value: sessionIDs}}},
	})
	if err != nil {
		return 0, m.fail("count device streams", err)
	}
	var docs []streamsDoc
	if err := cur.All(ctx, &docs); err != nil {
		return 0, m.fail("count device streams", err)
	}
	wanted := make(map[string]bool, len(sessionIDs))
	for _, id := range sessionIDs {
		wanted[id] = true
	}
	n := 0
	for _, d := range docs {
		for _, id := range d.Sessions {
			if wanted[id] {
				n++
			}
		}
	}
	return n, nil
}
