// Package persistence holds the session stores: memory, file and mongodb.
// Each one satisfies logic.Persistence and passes the one shared fixture in
// test/.
package persistence

import (
	"bytes"
	"context"
	"slices"
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
// push_address (maps of
// small lists), and kept in an ordered index, newest request_time first, so
// that no lookup scans every session: by id is O(1), by user O(k) in that
// user's sessions, and a listing without a selective filter walks the
// ordered index only as far as the page it returns (further only when it
// must count a filtered total), from its to_time to its from_time. Filters
// on client and device_id are matched on the sessions the best index gives;
// device_id has no index of its own because the controller always asks for
// it with the user_id, and an index costs about 60 bytes per session.
//
// Stored sessions are never modified in place: a change installs a new
// *sessions.Session. Readers therefore copy a session outside the lock, and
// the file store can encode a consistent snapshot while writers go on.
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
		found []*sessions.Session
		total int64
	)
	m.mu.RLock()
	if cands, ok := m.candidates(&f); ok {
		matches := make([]*sessions.Session, 0, len(cands))
		for _, e := range cands {
			if f.Match(e.s) {
				matches = append(matches, e.s)
			}
		}
		slices.SortFunc(matches, sessions.Newer)
		total = int64(len(matches))
		found = window(matches, skip, take)
	} else {
		found, total = m.scan(&f, skip, take, p.Total)
	}
	m.mu.RUnlock()

	// Stored sessions are immutable, so copying them needs no lock.
	page := &sessions.Page{Data: make([]*sessions.Session, len(found))}
	for i, s := range found {
		page.Data[i] = summary(s)
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
func (m *Memory) scan(f *sessions.Filter, skip, take int64, wantTotal bool) ([]*sessions.Session, int64) {
	unfiltered := f.Active == nil && f.Client == "" && f.FromTime.IsZero() && f.ToTime.IsZero()
	var (
		found []*sessions.Session
		n     int64
	)
	for e := m.order.seek(f.ToTime); e != nil; e = e.next[0] {
		if !f.FromTime.IsZero() && e.s.RequestTime.Before(f.FromTime) {
			break // everything further is older still
		}
		if !f.Match(e.s) {
			continue
		}
		if n >= skip && (take < 0 || n < skip+take) {
			found = append(found, e.s)
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
func window(list []*sessions.Session, skip, take int64) []*sessions.Session {
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
	var s *sessions.Session
	m.mu.RLock()
	if e := m.byID[id]; e != nil {
		s = e.s
	}
	m.mu.RUnlock()
	if s == nil {
		return nil, nil
	}
	// Stored sessions are replaced, never modified, so copying needs no lock.
	return detach(s), nil
}

// Create stores a copy of s, its times in UTC with millisecond precision,
// and returns another copy. A session whose id is already stored is a
// Conflict.
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
// with the new state (or the deleted id) before it is installed; an error
// from it leaves the store unchanged. The file store uses it to queue its
// journal record in the same order as the changes are made.

func (m *Memory) create(s *sessions.Session, commit func(*sessions.Session) error) (*sessions.Session, error) {
	if s == nil || s.ID == "" {
		return nil, sessions.InvalidData("id must not be null")
	}
	stored := pack(s)
	m.mu.Lock()
	if _, dup := m.byID[stored.ID]; dup {
		m.mu.Unlock()
		return nil, sessions.Conflict("DUPLICATE_ID", "session %q already exists", stored.ID)
	}
	if commit != nil {
		if err := commit(stored); err != nil {
			m.mu.Unlock()
			return nil, err
		}
	}
	m.insert(stored)
	m.mu.Unlock()
	return detach(stored), nil
}

func (m *Memory) update(id string, u sessions.Update, commit func(*sessions.Session) error) (*sessions.Session, error) {
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
	next := *e.s
	if !u.Apply(&next) {
		m.mu.Unlock()
		return nil, nil
	}
	if commit != nil {
		if err := commit(&next); err != nil {
			m.mu.Unlock()
			return nil, err
		}
	}
	m.replace(e, &next)
	m.mu.Unlock()
	return detach(&next), nil
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
	return detach(e.s), nil
}

func (m *Memory) closeExpired(idleBefore, now time.Time, commit func(*sessions.Session) error) ([]*sessions.Session, error) {
	idleBefore, now = norm(idleBefore), norm(now)
	expired := func(s *sessions.Session) bool {
		return s.Active && (s.RequestTime.Before(idleBefore) || (!s.ExpireTime.IsZero() && !s.ExpireTime.After(now)))
	}
	// Find the candidates under the read lock, so the sweep does not stop
	// writers while it looks at every session; re-check under the write lock.
	var ids []string
	m.mu.RLock()
	for id, e := range m.byID {
		if expired(e.s) {
			ids = append(ids, id)
		}
	}
	m.mu.RUnlock()
	if len(ids) == 0 {
		return nil, nil
	}

	closing := sessions.Update{Close: &sessions.Closing{Time: now, Reason: sessions.ReasonExpired}}
	var closed []*sessions.Session
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		e := m.byID[id]
		if e == nil || !expired(e.s) {
			continue
		}
		next := *e.s
		closing.Apply(&next)
		if commit != nil {
			if err := commit(&next); err != nil {
				return closed, err
			}
		}
		m.replace(e, &next)
		closed = append(closed, summary(&next))
	}
	return closed, nil
}

// insert adds a new session to every index. The caller holds the write lock.
func (m *Memory) insert(s *sessions.Session) {
	e := newEntry(s)
	m.byID[s.ID] = e
	m.byUser.add(s.UserID, e)
	m.byParent.add(s.ParentID, e)
	m.byPush.add(s.PushAddress, e)
	m.order.insert(e)
}

// unlink removes an entry from every index. The caller holds the write lock.
func (m *Memory) unlink(e *entry) {
	delete(m.byID, e.s.ID)
	m.byUser.remove(e.s.UserID, e)
	m.byParent.remove(e.s.ParentID, e)
	m.byPush.remove(e.s.PushAddress, e)
	m.order.remove(e)
}

// replace installs the new state of an entry's session, moving it in the
// ordered index when its request_time changed. The caller holds the write lock.
func (m *Memory) replace(e *entry, s *sessions.Session) {
	old := e.s
	if old.UserID != s.UserID || old.ParentID != s.ParentID || old.PushAddress != s.PushAddress {
		m.unlink(e)
		m.insert(s)
		return
	}
	if old.RequestTime.Equal(s.RequestTime) {
		e.s = s
		return
	}
	m.order.remove(e)
	e.s = s
	m.order.insert(e)
}

// put stores s, replacing any session with its id. It replays a journal.
func (m *Memory) put(s *sessions.Session) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.byID[s.ID]; e != nil {
		m.replace(e, s)
		return
	}
	m.insert(s)
}

// drop removes a session if present. It replays a journal.
func (m *Memory) drop(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.byID[id]; e != nil {
		m.unlink(e)
	}
}

// load replaces the content of the store with list, which the store then
// owns. A list already in sessions.Newer order (as snapshots are written)
// builds the ordered index in linear time.
func (m *Memory) load(list []*sessions.Session) {
	if !slices.IsSortedFunc(list, sessions.Newer) {
		slices.SortFunc(list, sessions.Newer)
	}
	entries := make([]*entry, len(list))
	byID := make(map[string]*entry, len(list))
	for i, s := range list {
		entries[i] = newEntry(s)
		byID[s.ID] = entries[i] // of duplicate ids the later wins, as in a journal
	}
	dups := len(byID) != len(list)
	// Sizing the user index for a guess of one user per two sessions saves
	// most of its rehashing, which dominates a large reload otherwise.
	byUser := make(index, len(list)/2)

	m.mu.Lock()
	defer m.mu.Unlock()
	m.byID, m.byUser, m.byParent, m.byPush = byID, byUser, make(index), make(index)
	m.order = newSkiplist()
	var tails [maxHeight]*entry
	for i := range tails {
		tails[i] = &m.order.head
	}
	for _, e := range entries {
		if dups && byID[e.s.ID] != e {
			continue
		}
		m.byUser.add(e.s.UserID, e)
		m.byParent.add(e.s.ParentID, e)
		m.byPush.add(e.s.PushAddress, e)
		for i := range e.next {
			tails[i].next[i] = e
			tails[i] = e
		}
		m.order.height = max(m.order.height, len(e.next))
	}
}

// snapshot returns every stored session in sessions.Newer order. The
// sessions are shared, and must only be read.
func (m *Memory) snapshot() []*sessions.Session {
	m.mu.RLock()
	defer m.mu.RUnlock()
	list := make([]*sessions.Session, 0, len(m.byID))
	for e := m.order.head.next[0]; e != nil; e = e.next[0] {
		list = append(list, e.s)
	}
	return list
}

// index maps a key (user_id, parent_id, push_address) to its sessions. Empty
// keys are not indexed.
type index map[string][]*entry

func (x index) add(key string, e *entry) {
	if key != "" {
		x[key] = append(x[key], e)
	}
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

// detach returns a copy of s that shares nothing mutable with the store.
func detach(s *sessions.Session) *sessions.Session {
	c := s.Clone()
	c.User, c.Data = cloneRaw(s.User), cloneRaw(s.Data)
	return c
}

// summary returns a copy of s without user and data.
func summary(s *sessions.Session) *sessions.Session {
	c := s.Summary()
	if s.Details != nil {
		c.Details = make(map[string]string, len(s.Details))
		for k, v := range s.Details {
			c.Details[k] = v
		}
	}
	return c
}

// pack returns the copy of s the store keeps: times in UTC with millisecond
// precision (what the file and MongoDB stores keep too), its strings in one
// allocation and its payloads in another, which saves memory per session.
func pack(s *sessions.Session) *sessions.Session {
	c := *s
	c.OpenTime, c.RequestTime = norm(c.OpenTime), norm(c.RequestTime)
	c.CloseTime, c.ExpireTime = norm(c.CloseTime), norm(c.ExpireTime)

	fields := [...]*string{&c.ID, &c.UserID, &c.UserName, &c.Address, &c.Client,
		&c.DeviceID, &c.ParentID, &c.PushAddress, &c.CloseReason}
	n := 0
	for _, f := range fields {
		n += len(*f)
	}
	buf := make([]byte, 0, n)
	for _, f := range fields {
		buf = append(buf, *f...)
	}
	all := string(buf)
	for _, f := range fields {
		l := len(*f)
		*f, all = all[:l], all[l:]
	}

	if len(s.User)+len(s.Data) > 0 {
		raw := make([]byte, 0, len(s.User)+len(s.Data))
		raw = append(raw, s.User...)
		raw = append(raw, s.Data...)
		c.User, c.Data = nonEmpty(raw[:len(s.User):len(s.User)]), nonEmpty(raw[len(s.User):])
	}
	if s.Details != nil {
		c.Details = make(map[string]string, len(s.Details))
		for k, v := range s.Details {
			c.Details[k] = v
		}
	}
	return &c
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
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
