// Package persistence holds the session stores: memory, file and mongodb.
// Each one satisfies logic.Persistence and passes the one shared fixture in
// test/.
package persistence

import (
	"bytes"
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

var _ logic.Store = (*Memory)(nil)

// Memory is the service-sessions:persistence:memory:default:1.0 component: a
// session store held in process memory, for tests and small deployments.
//
// Sessions are indexed by id (a map), by user_id, parent_id and
// push_address (maps of small lists), and kept in an ordered index, newest
// request_time first, so that no lookup scans every session: by id is O(1),
// by user O(k) in that user's sessions, and a listing without a selective
// filter walks the ordered index only as far as the page it returns
// (further only when it must count a filtered total), from its to_time to
// its from_time. Filters on client and device_id are matched on the
// sessions the best index gives; device_id has no index of its own because
// the controller always asks for it with the user_id, and an index costs
// about 60 bytes per session.
//
// Each session is kept as a compact, immutable record (see record): a
// change installs a new one. Readers therefore decode a record outside the
// lock, and the file store can encode a consistent snapshot while writers
// go on.
type Memory struct {
	// tables keeps homes, devices and quota slots.
	*tables

	mu   sync.RWMutex
	recs []*record // by handle; recs[0] and freed handles are nil
	free []handle
	// The indexes hold handles, not pointers, so that the garbage
	// collector's work on a store of many sessions is one pointer per
	// session, to its record.
	byID     keyIndex
	byUser   keyIndex
	byParent keyIndex
	byPush   keyIndex
	order    skiplist
}

// NewMemory returns an empty memory store.
func NewMemory() *Memory {
	m := &Memory{tables: newTables()}
	m.reset(0)
	return m
}

// reset empties the store, sizing it for n sessions.
func (m *Memory) reset(n int) {
	seed := maphash.MakeSeed()
	m.recs = make([]*record, 1, n+1)
	m.free = nil
	m.byID = newKeyIndex(seed, n)
	// Sizing the user index for a guess of one user per two sessions saves
	// most of its rehashing, which dominates a large reload otherwise.
	m.byUser = newKeyIndex(seed, n/2)
	m.byParent = newKeyIndex(seed, 0)
	m.byPush = newKeyIndex(seed, 0)
	m.byUser.field, m.byParent.field, m.byPush.field = fieldUserID, fieldParentID, fieldPushAddress
	m.order = newSkiplist(m.id)
}

// secondary returns the indexes by user_id, parent_id and push_address.
func (m *Memory) secondary() [3]*keyIndex {
	return [...]*keyIndex{&m.byUser, &m.byParent, &m.byPush}
}

// id returns the id of a stored session. The caller holds the lock.
func (m *Memory) id(h handle) string { return m.recs[h].id() }

// Open does nothing: a memory store is ready when constructed.
func (m *Memory) Open(context.Context) error { return nil }

// Close does nothing: the sessions are kept until the store is dropped.
func (m *Memory) Close(context.Context) error { return nil }

// Len returns the number of stored sessions.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.count()
}

// count returns the number of stored sessions. The caller holds the lock.
func (m *Memory) count() int { return len(m.recs) - 1 - len(m.free) }

// GetPageByFilter returns the matching sessions newest request_time first
// (ties by id, descending), without user and data. A Paging.Take of zero or
// less means no limit; callers normally pass a resolved, capped value.
func (m *Memory) GetPageByFilter(_ context.Context, f sessions.Filter, p sessions.Paging) (*sessions.Page, error) {
	skip, take := p.Skip, p.Take
	if skip < 0 {
		skip = 0
	}
	if take <= 0 {
		take = -1
	}

	var (
		found []*record
		total int64
	)
	m.mu.RLock()
	if cands, ok := m.candidates(&f); ok {
		matches := cands[:0]
		for _, r := range cands {
			if r.matches(&f) {
				matches = append(matches, r)
			}
		}
		slices.SortFunc(matches, newer)
		total = int64(len(matches))
		found = window(matches, skip, take)
	} else {
		found, total = m.scan(&f, skip, take, p.Total)
	}
	m.mu.RUnlock()

	// Records are immutable, so decoding them needs no lock.
	page := &sessions.Page{Data: make([]*sessions.Session, len(found))}
	for i, r := range found {
		page.Data[i] = r.summary()
	}
	if p.Total {
		page.Total = &total
	}
	return page, nil
}

// candidates returns the sessions of the most selective index the filter
// names; ok is false when it names none. They may include sessions of other
// keys, which the filter does not match.
func (m *Memory) candidates(f *sessions.Filter) (list []*record, ok bool) {
	if f.ID != "" {
		if h := m.lookup(f.ID); h != 0 {
			return []*record{m.recs[h]}, true
		}
		return nil, true
	}
	var (
		best  *keyIndex
		first handle
		n     int
	)
	for _, c := range [...]struct {
		idx *keyIndex
		key string
	}{{&m.byUser, f.UserID}, {&m.byParent, f.ParentID}, {&m.byPush, f.PushAddress}} {
		if c.key == "" {
			continue
		}
		if h, l := c.idx.first(c.key); best == nil || l < n {
			best, first, n = c.idx, h, l
		}
	}
	if best == nil {
		return nil, false
	}
	list = make([]*record, 0, n)
	for h := first; h != 0; h = best.next(h) {
		list = append(list, m.recs[h])
	}
	return list, true
}

// lookup returns the handle of the session with id, or 0. The caller holds
// the lock.
func (m *Memory) lookup(id string) handle {
	h, _ := m.byID.first(id)
	for ; h != 0; h = m.byID.next(h) {
		if m.recs[h].id() == id {
			return h
		}
	}
	return 0
}

// scan walks the ordered index within the filter's request_time range and
// returns the page window; it counts the total only when asked to.
func (m *Memory) scan(f *sessions.Filter, skip, take int64, wantTotal bool) ([]*record, int64) {
	// With no condition at all every session matches: the total is the count.
	unfiltered := *f == sessions.Filter{Now: f.Now}
	var (
		found []*record
		n     int64
	)
	for h := m.order.seek(f.ToTime); h != 0; h = m.order.after(h) {
		if !f.FromTime.IsZero() && fromMillis(m.order.request(h)).Before(f.FromTime) {
			break // everything further is older still
		}
		r := m.recs[h]
		if !r.matches(f) {
			continue
		}
		if n >= skip && (take < 0 || n < skip+take) {
			found = append(found, r)
		}
		n++
		if take >= 0 && n >= skip+take && (!wantTotal || unfiltered) {
			break
		}
	}
	if wantTotal && unfiltered {
		n = int64(m.count())
	}
	return found, n
}

// window returns list[skip:skip+take], take < 0 meaning the rest.
func window(list []*record, skip, take int64) []*record {
	if skip >= int64(len(list)) {
		return nil
	}
	list = list[skip:]
	if take >= 0 && take < int64(len(list)) {
		list = list[:take]
	}
	return list
}

// GetOneByID returns a copy of one session with its user and data, or nil.
func (m *Memory) GetOneByID(_ context.Context, id string) (*sessions.Session, error) {
	if r := m.get(id); r != nil {
		return r.session(), nil
	}
	return nil, nil
}

// GetStatesByIDs returns the state of each listed session, nil for one
// that does not exist. It reads the records in place under one read lock;
// a state shares its strings with the record, which is immutable.
func (m *Memory) GetStatesByIDs(_ context.Context, ids []string) ([]*logic.SessionState, error) {
	states := make([]logic.SessionState, len(ids))
	out := make([]*logic.SessionState, len(ids))
	m.mu.RLock()
	defer m.mu.RUnlock()
	for i, r := range m.lookupAll(ids) {
		if r != nil {
			r.state(&states[i])
			out[i] = &states[i]
		}
	}
	return out, nil
}

// lookupAll returns the records of ids, nil where none is stored. On a
// large store each lookup is a chain of cache misses (the index's slot,
// the record, its text), each waiting on the one before; looking the ids
// up step by step, every id's first step before any id's second, lets
// the processor wait for the misses of all the ids at once. The caller
// holds the lock.
func (m *Memory) lookupAll(ids []string) []*record {
	recs := make([]*record, len(ids))
	for i, id := range ids {
		h, _ := m.byID.first(id)
		recs[i] = m.recs[h] // recs[0] is nil
	}
	for i, r := range recs {
		if r != nil && r.id() != ids[i] {
			// Another id with the same hash heads the chain: walk it.
			recs[i] = m.recs[m.lookup(ids[i])]
		}
	}
	return recs
}

// get returns the record of a session, or nil.
func (m *Memory) get(id string) *record {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.recs[m.lookup(id)] // recs[0] is nil
}

// Create stores a copy of s, its times in UTC with millisecond precision,
// and returns the session as stored: s itself when its times are already
// so (the controller's clock gives such times), else a normalized copy. A
// session whose id is already stored is a Conflict.
func (m *Memory) Create(_ context.Context, s *sessions.Session) (*sessions.Session, error) {
	return m.create(s, nil)
}

// Update applies u to one session atomically and returns a copy of the result.
func (m *Memory) Update(_ context.Context, id string, u sessions.Update) (*sessions.Session, error) {
	return m.update(id, u, nil)
}

// DeleteByID removes a session and returns it, or nil when there is none.
func (m *Memory) DeleteByID(_ context.Context, id string) (*sessions.Session, error) {
	return m.remove(id, nil)
}

// ExpiredIDs returns the ids of the sessions e finds expired. The sweep
// closes each with an Update that re-checks e.
func (m *Memory) ExpiredIDs(_ context.Context, e sessions.Expiry) ([]string, error) {
	idle, at := norm(e.IdleBefore).UnixMilli(), norm(e.Now).UnixMilli()
	var ids []string
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, r := range m.recs {
		if r != nil && r.active && (r.request < idle || (r.expire != zeroMillis && r.expire <= at)) {
			ids = append(ids, r.id())
		}
	}
	return ids, nil
}

// The unexported mutators take a commit hook, called under the write lock
// with the new record (or the deleted id) before it is installed; an error
// from it leaves the store unchanged. The file store uses it to queue its
// journal record in the same order as the changes are made.

func (m *Memory) create(s *sessions.Session, commit func(*record) error) (*sessions.Session, error) {
	if s == nil || s.ID == "" {
		return nil, sessions.InvalidData(sessions.NullProblem("id"))
	}
	r := pack(s)
	m.mu.Lock()
	if m.lookup(r.id()) != 0 {
		m.mu.Unlock()
		return nil, sessions.Conflict("DUPLICATE_ID", "session %q already exists", s.ID)
	}
	if commit != nil {
		if err := commit(r); err != nil {
			m.mu.Unlock()
			return nil, err
		}
	}
	m.insert(r)
	m.mu.Unlock()
	if isNorm(s.OpenTime) && isNorm(s.RequestTime) && isNorm(s.CloseTime) && isNorm(s.ExpireTime) {
		return s, nil // the record copied what it keeps
	}
	return r.session(), nil
}

// update applies u to the session id. commit, when given, gets the
// session's record and its new one under the lock, before the new one
// replaces it; its error leaves the session as it was.
func (m *Memory) update(id string, u sessions.Update, commit func(old, r *record) error) (*sessions.Session, error) {
	u.User, u.Data = cloneRaw(u.User), cloneRaw(u.Data)
	u.RequestTime, u.ExpireTime = norm(u.RequestTime), norm(u.ExpireTime)
	if u.IfExpired != nil {
		u.IfExpired = &sessions.Expiry{IdleBefore: norm(u.IfExpired.IdleBefore), Now: norm(u.IfExpired.Now)}
	}
	if u.Close != nil {
		c := *u.Close
		c.Time = norm(c.Time)
		u.Close = &c
	}

	m.mu.Lock()
	h := m.lookup(id)
	if h == 0 {
		m.mu.Unlock()
		return nil, nil
	}
	// next is a whole copy, so the caller may keep it: the new record
	// copies what it needs.
	next := m.recs[h].session()
	if !u.Apply(next) {
		m.mu.Unlock()
		return nil, nil
	}
	r := pack(next)
	if commit != nil {
		if err := commit(m.recs[h], r); err != nil {
			m.mu.Unlock()
			return nil, err
		}
	}
	m.replace(h, r)
	m.mu.Unlock()
	return next, nil
}

func (m *Memory) remove(id string, commit func(id string) error) (*sessions.Session, error) {
	m.mu.Lock()
	h := m.lookup(id)
	if h == 0 {
		m.mu.Unlock()
		return nil, nil
	}
	if commit != nil {
		if err := commit(id); err != nil {
			m.mu.Unlock()
			return nil, err
		}
	}
	r := m.recs[h]
	m.unlink(h)
	m.mu.Unlock()
	return r.session(), nil
}

// insert stores a new session and adds it to every index. The caller
// holds the write lock.
func (m *Memory) insert(r *record) {
	var h handle
	if n := len(m.free); n > 0 {
		h, m.free = m.free[n-1], m.free[:n-1]
		m.recs[h] = r
	} else {
		h = handle(len(m.recs))
		m.recs = append(m.recs, r)
	}
	m.byID.add(r.id(), h)
	for _, x := range m.secondary() {
		x.add(r.field(x.field), h)
	}
	m.order.insert(h, r.request)
}

// unlink removes a session from every index and frees its handle. The
// caller holds the write lock.
func (m *Memory) unlink(h handle) {
	r := m.recs[h]
	m.byID.remove(r.id(), h)
	for _, x := range m.secondary() {
		x.remove(r.field(x.field), h)
	}
	m.order.remove(h)
	m.recs[h] = nil
	m.free = append(m.free, h)
}

// replace installs the new record of a session, moving it in the indexes
// whose keys changed. Its id is the same. The caller holds the write lock.
func (m *Memory) replace(h handle, r *record) {
	old := m.recs[h]
	m.recs[h] = r
	for _, x := range m.secondary() {
		if k := r.field(x.field); k != old.field(x.field) {
			x.remove(old.field(x.field), h)
			x.add(k, h)
		}
	}
	if old.request != r.request {
		m.order.remove(h)
		m.order.insert(h, r.request)
	}
}

// load replaces the content of the store with list. A list already in
// newer order (as snapshots are written) builds the ordered index in
// linear time.
func (m *Memory) load(list []*record) {
	if !slices.IsSortedFunc(list, newer) {
		slices.SortFunc(list, newer)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reset(len(list))
	dups := false
	for _, r := range list {
		if h := m.lookup(r.id()); h != 0 {
			// Of duplicate ids the later wins, as in a journal.
			m.recs[h], dups = r, true
			continue
		}
		m.byID.add(r.id(), handle(len(m.recs)))
		m.recs = append(m.recs, r)
	}
	if dups {
		list = slices.DeleteFunc(list, func(r *record) bool { return m.recs[m.lookup(r.id())] != r })
		m.reset(len(list))
		for _, r := range list {
			m.byID.add(r.id(), handle(len(m.recs)))
			m.recs = append(m.recs, r)
		}
	}
	hs := make([]handle, len(list))
	for i, r := range list {
		h := handle(i + 1)
		for _, x := range m.secondary() {
			x.add(r.field(x.field), h)
		}
		hs[i] = h
	}
	m.order.build(hs, func(h handle) int64 { return m.recs[h].request })
}

// snapshot returns every stored record in newer order.
func (m *Memory) snapshot() []*record {
	m.mu.RLock()
	defer m.mu.RUnlock()
	list := make([]*record, 0, m.count())
	for h := m.order.first(); h != 0; h = m.order.after(h) {
		list = append(list, m.recs[h])
	}
	return list
}

// norm returns t in UTC truncated to milliseconds; the zero time stays zero.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Millisecond)
}

// isNorm reports whether norm would leave t as it is (but for a monotonic
// clock reading, which time.Time.Equal ignores).
func isNorm(t time.Time) bool {
	return t.IsZero() || t.Location() == time.UTC && t.Nanosecond()%int(time.Millisecond) == 0
}

func cloneRaw(b []byte) []byte {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}
