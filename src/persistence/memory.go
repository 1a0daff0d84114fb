// Package persistence holds the session stores: memory, file and mongodb.
// Each one satisfies logic.Persistence and passes the one shared fixture in
// test/.
package persistence

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

var (
	_ logic.Persistence = (*Memory)(nil)
	_ logic.HomeStore   = (*Memory)(nil)
	_ logic.DeviceStore = (*Memory)(nil)
	_ logic.SlotStore   = (*Memory)(nil)
)

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

	mu       sync.RWMutex
	byID     map[string]*entry
	byUser   index
	byParent index
	byPush   index
	order    skiplist
}

// NewMemory returns an empty memory store.
func NewMemory() *Memory {
	return &Memory{
		tables:   newTables(),
		byID:     make(map[string]*entry),
		byUser:   make(index),
		byParent: make(index),
		byPush:   make(index),
		order:    newSkiplist(),
	}
}

// Open does nothing: a memory store is ready when constructed.
func (m *Memory) Open(context.Context) error { return nil }

// Close does nothing: the sessions are kept until the store is dropped.
func (m *Memory) Close(context.Context) error { return nil }

// Len returns the number of stored sessions.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.byID)
}

// GetPageByFilter returns the matching sessions newest request_time first
// (ties by id, descending), without user and data. A Paging.Take of zero or
// less means no limit; callers normally pass a resolved, capped value.
func (m *Memory) GetPageByFilter(_ context.Context, f sessions.Filter, p sessions.Paging) (*sessions.Page, error) {
	if f.Now.IsZero() {
		f.Now = time.Now()
	}
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
		matches := make([]*record, 0, len(cands))
		for _, e := range cands {
			if e.r.matches(&f) {
				matches = append(matches, e.r)
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
// names; ok is false when it names none.
func (m *Memory) candidates(f *sessions.Filter) (list []*entry, ok bool) {
	if f.ID != "" {
		if e := m.byID[f.ID]; e != nil {
			return []*entry{e}, true
		}
		return nil, true
	}
	for _, c := range [...]struct {
		idx index
		key string
	}{{m.byUser, f.UserID}, {m.byParent, f.ParentID}, {m.byPush, f.PushAddress}} {
		if c.key == "" {
			continue
		}
		if l := c.idx[c.key]; !ok || len(l) < len(list) {
			list, ok = l, true
		}
	}
	return list, ok
}

// scan walks the ordered index within the filter's request_time range and
// returns the page window; it counts the total only when asked to.
func (m *Memory) scan(f *sessions.Filter, skip, take int64, wantTotal bool) ([]*record, int64) {
	unfiltered := f.Active == nil && f.Client == "" && f.FromTime.IsZero() && f.ToTime.IsZero()
	var (
		found []*record
		n     int64
	)
	for e := m.order.seek(f.ToTime); e != nil; e = e.after() {
		if !f.FromTime.IsZero() && fromMillis(e.request).Before(f.FromTime) {
			break // everything further is older still
		}
		if !e.r.matches(f) {
			continue
		}
		if n >= skip && (take < 0 || n < skip+take) {
			found = append(found, e.r)
		}
		n++
		if take >= 0 && n >= skip+take && (!wantTotal || unfiltered) {
			break
		}
	}
	if wantTotal && unfiltered {
		n = int64(len(m.byID))
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

// get returns the record of a session, or nil.
func (m *Memory) get(id string) *record {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if e := m.byID[id]; e != nil {
		return e.r
	}
	return nil
}

// Create stores s, its times in UTC with millisecond precision, and returns
// a copy. A session whose id is already stored is a Conflict.
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

// CloseExpired closes, as expired at now, every active session idle since
// before idleBefore or whose expire_time is at or before now, and returns
// them as closed, without user and data.
func (m *Memory) CloseExpired(_ context.Context, idleBefore, now time.Time) ([]*sessions.Session, error) {
	return m.closeExpired(idleBefore, now, nil)
}

// The unexported mutators take a commit hook, called under the write lock
// with the new record (or the deleted id) before it is installed; an error
// from it leaves the store unchanged. The file store uses it to queue its
// journal record in the same order as the changes are made.

func (m *Memory) create(s *sessions.Session, commit func(*record) error) (*sessions.Session, error) {
	if s == nil || s.ID == "" {
		return nil, sessions.InvalidData("id must not be null")
	}
	r := pack(s)
	m.mu.Lock()
	if _, dup := m.byID[r.id()]; dup {
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
	return r.session(), nil
}

func (m *Memory) update(id string, u sessions.Update, commit func(*record) error) (*sessions.Session, error) {
	u.User, u.Data = cloneRaw(u.User), cloneRaw(u.Data)
	u.RequestTime, u.ExpireTime = norm(u.RequestTime), norm(u.ExpireTime)
	if u.Close != nil {
		c := *u.Close
		c.Time = norm(c.Time)
		u.Close = &c
	}

	m.mu.Lock()
	e := m.byID[id]
	if e == nil {
		m.mu.Unlock()
		return nil, nil
	}
	// next is a whole copy, so the caller may keep it: the new record
	// copies what it needs.
	next := e.r.session()
	if !u.Apply(next) {
		m.mu.Unlock()
		return nil, nil
	}
	r := pack(next)
	if commit != nil {
		if err := commit(r); err != nil {
			m.mu.Unlock()
			return nil, err
		}
	}
	m.replace(e, r)
	m.mu.Unlock()
	return next, nil
}

func (m *Memory) remove(id string, commit func(id string) error) (*sessions.Session, error) {
	m.mu.Lock()
	e := m.byID[id]
	if e == nil {
		m.mu.Unlock()
		return nil, nil
	}
	if commit != nil {
		if err := commit(id); err != nil {
			m.mu.Unlock()
			return nil, err
		}
	}
	m.unlink(e)
	m.mu.Unlock()
	return e.r.session(), nil
}

func (m *Memory) closeExpired(idleBefore, now time.Time, commit func(*record) error) ([]*sessions.Session, error) {
	idle, at := norm(idleBefore).UnixMilli(), norm(now).UnixMilli()
	expired := func(r *record) bool {
		return r.active && (r.request < idle || (r.expire != zeroMillis && r.expire <= at))
	}
	// Find the candidates under the read lock, so the sweep does not stop
	// writers while it looks at every session; re-check under the write lock.
	var ids []string
	m.mu.RLock()
	for id, e := range m.byID {
		if expired(e.r) {
			ids = append(ids, id)
		}
	}
	m.mu.RUnlock()
	if len(ids) == 0 {
		return nil, nil
	}

	closing := sessions.Update{Close: &sessions.Closing{Time: fromMillis(at), Reason: sessions.ReasonExpired}}
	var closed []*sessions.Session
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		e := m.byID[id]
		if e == nil || !expired(e.r) {
			continue
		}
		// Closing drops user and data and leaves the details alone, so
		// a view of the record is enough to build the closed one from.
		var s sessions.Session
		e.r.view(&s)
		closing.Apply(&s)
		r := pack(&s)
		if commit != nil {
			if err := commit(r); err != nil {
				return closed, err
			}
		}
		m.replace(e, r)
		closed = append(closed, r.summary())
	}
	return closed, nil
}

// insert adds a new session to every index. The caller holds the write lock.
func (m *Memory) insert(r *record) {
	e := newEntry(r)
	m.byID[r.id()] = e
	m.byUser.add(r.field(fieldUserID), e)
	m.byParent.add(r.field(fieldParentID), e)
	m.byPush.add(r.field(fieldPushAddress), e)
	m.order.insert(e)
}

// unlink removes an entry from every index. The caller holds the write lock.
func (m *Memory) unlink(e *entry) {
	delete(m.byID, e.r.id())
	m.byUser.remove(e.r.field(fieldUserID), e)
	m.byParent.remove(e.r.field(fieldParentID), e)
	m.byPush.remove(e.r.field(fieldPushAddress), e)
	m.order.remove(e)
}

// replace installs the new record of an entry's session, moving it in the
// ordered index when its request_time changed. The caller holds the write
// lock.
func (m *Memory) replace(e *entry, r *record) {
	old := e.r
	if old.field(fieldUserID) != r.field(fieldUserID) || old.field(fieldParentID) != r.field(fieldParentID) ||
		old.field(fieldPushAddress) != r.field(fieldPushAddress) {
		m.unlink(e)
		m.insert(r)
		return
	}
	// A map keeps the key it was first given: re-key the entry so that the
	// map holds the new record's id and not the old record's whole text.
	delete(m.byID, old.id())
	m.byID[r.id()] = e
	if old.request == r.request {
		e.r = r
		return
	}
	m.order.remove(e)
	e.r, e.request = r, r.request
	m.order.insert(e)
}

// load replaces the content of the store with list. A list already in
// newer order (as snapshots are written) builds the ordered index in
// linear time.
func (m *Memory) load(list []*record) {
	if !slices.IsSortedFunc(list, newer) {
		slices.SortFunc(list, newer)
	}
	entries := make([]*entry, len(list))
	byID := make(map[string]*entry, len(list))
	for i, r := range list {
		entries[i] = newEntry(r)
		byID[r.id()] = entries[i]
	}
	if len(byID) != len(entries) {
		// Of duplicate ids the later wins, as in a journal.
		entries = slices.DeleteFunc(entries, func(e *entry) bool { return byID[e.r.id()] != e })
	}
	// Sizing the user index for a guess of one user per two sessions saves
	// most of its rehashing, which dominates a large reload otherwise.
	byUser := make(index, len(list)/2)

	m.mu.Lock()
	defer m.mu.Unlock()
	m.byID, m.byUser, m.byParent, m.byPush = byID, byUser, make(index), make(index)
	m.order = newSkiplist()
	for _, e := range entries {
		m.byUser.add(e.r.field(fieldUserID), e)
		m.byParent.add(e.r.field(fieldParentID), e)
		m.byPush.add(e.r.field(fieldPushAddress), e)
	}
	m.order.build(entries)
}

// snapshot returns every stored record in newer order.
func (m *Memory) snapshot() []*record {
	m.mu.RLock()
	defer m.mu.RUnlock()
	list := make([]*record, 0, len(m.byID))
	for e := m.order.first(); e != nil; e = e.after() {
		list = append(list, e.r)
	}
	return list
}

// index maps a key (user_id, parent_id, push_address) to its sessions. Empty
// keys are not indexed. A new key is copied, so that the map does not keep
// the text of the record it came from alive after that record is replaced.
type index map[string][]*entry

func (x index) add(key string, e *entry) {
	if key == "" {
		return
	}
	if list, ok := x[key]; ok {
		x[key] = append(list, e)
		return
	}
	x[strings.Clone(key)] = []*entry{e}
}

func (x index) remove(key string, e *entry) {
	if key == "" {
		return
	}
	list := x[key]
	if i := slices.Index(list, e); i >= 0 {
		last := len(list) - 1
		list[i], list[last] = list[last], nil
		list = list[:last]
	}
	if len(list) == 0 {
		delete(x, key)
	} else {
		x[key] = list
	}
}

// norm returns t in UTC truncated to milliseconds; the zero time stays zero.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Millisecond)
}

func cloneRaw(b []byte) []byte {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}
