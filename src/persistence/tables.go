package persistence

import (
	"context"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

var (
	_ logic.HomeStore   = (*tables)(nil)
	_ logic.DeviceStore = (*tables)(nil)
	_ logic.SlotStore   = (*tables)(nil)
)

// tables holds homes, devices and quota slots in memory, for the memory and
// file stores. One mutex guards them all: every operation is a map lookup,
// and holding it across the check and the insert is what makes TakeSlot an
// exact insert against a unique (home_id, index) key.
//
// Slots are stored by that key, home then index, so listing a home's
// places is one lookup; sessionSlots indexes them by the session holding
// them, which is also how a slot is found by its id (session id:index).
type tables struct {
	mu           sync.RWMutex
	homes        map[string]sessions.Home
	devices      map[string]sessions.Device
	userDevices  map[string]map[string]struct{}
	slots        map[string]map[int64]sessions.Slot // home id → index → slot
	sessionSlots map[string][]sessions.Slot         // session id → its slots, most often one
	// journal, when set (by the file store), records a change in order
	// before it is applied and returns a wait that blocks until the change
	// is durable; the wait runs after the lock is released, so concurrent
	// writers share one fsync.
	journal func(change) (wait func() error, err error)
}

// change is one mutation of the tables, as the file store journals it.
// Exactly one field is set. Every change sets or removes one key, so
// replaying a journal over a snapshot taken while it was written converges.
type change struct {
	SetHome      *sessions.Home   `json:"set_home,omitempty"`
	DeleteHome   string           `json:"delete_home,omitempty"`
	SetDevice    *sessions.Device `json:"set_device,omitempty"`
	DeleteDevice string           `json:"delete_device,omitempty"`
	TakeSlot     *sessions.Slot   `json:"take_slot,omitempty"`
	ReleaseSlot  string           `json:"release_slot,omitempty"`
}

// validUTF8 reports whether every string of c is valid UTF-8.
func (c change) validUTF8() bool {
	valid := utf8.ValidString
	switch {
	case c.SetHome != nil:
		return valid(c.SetHome.ID) && valid(c.SetHome.Policy)
	case c.SetDevice != nil:
		return valid(c.SetDevice.ID) && valid(c.SetDevice.UserID)
	case c.TakeSlot != nil:
		return valid(c.TakeSlot.ID) && valid(c.TakeSlot.HomeID) && valid(c.TakeSlot.SessionID)
	}
	return valid(c.DeleteHome) && valid(c.DeleteDevice) && valid(c.ReleaseSlot)
}

func newTables() *tables {
	t := &tables{}
	t.reset()
	return t
}

func (t *tables) reset() {
	t.homes = map[string]sessions.Home{}
	t.devices = map[string]sessions.Device{}
	t.userDevices = map[string]map[string]struct{}{}
	t.slots = map[string]map[int64]sessions.Slot{}
	t.sessionSlots = map[string][]sessions.Slot{}
}

// apply changes the maps; it is also how the file store replays its journal.
func (t *tables) apply(c change) {
	switch {
	case c.SetHome != nil:
		t.homes[c.SetHome.ID] = *c.SetHome
	case c.DeleteHome != "":
		delete(t.homes, c.DeleteHome)
	case c.SetDevice != nil:
		if old, ok := t.devices[c.SetDevice.ID]; ok {
			removeFrom(t.userDevices, old.UserID, old.ID)
		}
		t.devices[c.SetDevice.ID] = *c.SetDevice
		addTo(t.userDevices, c.SetDevice.UserID, c.SetDevice.ID)
	case c.DeleteDevice != "":
		if old, ok := t.devices[c.DeleteDevice]; ok {
			removeFrom(t.userDevices, old.UserID, old.ID)
			delete(t.devices, old.ID)
		}
	case c.TakeSlot != nil:
		s := *c.TakeSlot
		if t.slots[s.HomeID] == nil {
			t.slots[s.HomeID] = map[int64]sessions.Slot{}
		}
		t.slots[s.HomeID][s.Index] = s
		t.indexSlot(s)
	case c.ReleaseSlot != "":
		s, ok := t.slot(c.ReleaseSlot)
		if !ok {
			return
		}
		if byIndex := t.slots[s.HomeID]; byIndex[s.Index].ID == s.ID {
			delete(byIndex, s.Index)
			if len(byIndex) == 0 {
				delete(t.slots, s.HomeID)
			}
		}
		if held := slices.DeleteFunc(t.sessionSlots[s.SessionID], func(h sessions.Slot) bool { return h.ID == s.ID }); len(held) > 0 {
			t.sessionSlots[s.SessionID] = held
		} else {
			delete(t.sessionSlots, s.SessionID)
		}
	}
}

// slot finds a slot by its id through the slots of the session in it.
func (t *tables) slot(id string) (sessions.Slot, bool) {
	sessionID, ok := sessions.SlotSessionID(id)
	if !ok {
		return sessions.Slot{}, false
	}
	for _, s := range t.sessionSlots[sessionID] {
		if s.ID == id {
			return s, true
		}
	}
	return sessions.Slot{}, false
}

func (t *tables) indexSlot(s sessions.Slot) {
	held := t.sessionSlots[s.SessionID]
	if i := slices.IndexFunc(held, func(h sessions.Slot) bool { return h.ID == s.ID }); i >= 0 {
		held[i] = s
		return
	}
	t.sessionSlots[s.SessionID] = append(held, s)
}

// reindex rebuilds the sessions' index of slots from the slots after a
// replay. Replaying a journal over a snapshot taken while it was written
// may take a place the snapshot shows held by another (a later change of
// the journal frees it again); the index is rebuilt from the slots rather
// than trusted to have followed every such overwrite.
func (t *tables) reindex() {
	t.sessionSlots = map[string][]sessions.Slot{}
	for _, byIndex := range t.slots {
		for _, s := range byIndex {
			t.indexSlot(s)
		}
	}
}

// dropOrphans frees, at start-up, every place held for a session that is
// not stored, and returns how many it freed. An open takes its place
// before it stores its session, so a process killed between the two
// leaves a place held for nobody; at start-up no open is under way, so
// every such place is one. (Without this, the place would keep the home
// full until the opens' grace for a session still being stored ran out.)
func (t *tables) dropOrphans(stored func(sessionID string) bool) int {
	n := 0
	for sessionID, held := range t.sessionSlots {
		if stored(sessionID) {
			continue
		}
		for _, s := range slices.Clone(held) { // apply shrinks held
			t.apply(change{ReleaseSlot: s.ID})
			n++
		}
	}
	return n
}

// do applies c under the write lock when ok, called under the lock too,
// allows it (nil allows always), then waits until c is durable. It reports
// whether c was applied.
func (t *tables) do(c change, ok func() bool) (bool, error) {
	t.mu.Lock()
	if ok != nil && !ok() {
		t.mu.Unlock()
		return false, nil
	}
	wait := noWait
	if t.journal != nil {
		var err error
		if wait, err = t.journal(c); err != nil {
			t.mu.Unlock()
			return false, err
		}
	}
	t.apply(c)
	t.mu.Unlock()
	return true, wait()
}

func noWait() error { return nil }

// SetHome creates or replaces a home.
func (t *tables) SetHome(_ context.Context, h *sessions.Home) (*sessions.Home, error) {
	stored := *h
	if _, err := t.do(change{SetHome: &stored}, nil); err != nil {
		return nil, err
	}
	out := stored
	return &out, nil
}

// SetMaxSessions sets a home's max_sessions, creating it with the default
// policy when there is none.
func (t *tables) SetMaxSessions(_ context.Context, id string, n int64) (*sessions.Home, error) {
	var stored sessions.Home
	if _, err := t.do(change{SetHome: &stored}, func() bool {
		h, ok := t.homes[id]
		if !ok {
			h = sessions.Home{ID: id, Policy: sessions.PolicyDeny}
		}
		h.MaxSessions = n
		stored = h
		return true
	}); err != nil {
		return nil, err
	}
	out := stored
	return &out, nil
}

// GetHome returns a home, or nil.
func (t *tables) GetHome(_ context.Context, id string) (*sessions.Home, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	h, ok := t.homes[id]
	if !ok {
		return nil, nil
	}
	out := new(sessions.Home) // allocated only when found: most opens have no home
	*out = h
	return out, nil
}

// DeleteHome removes a home and returns it, or nil.
func (t *tables) DeleteHome(_ context.Context, id string) (*sessions.Home, error) {
	var old sessions.Home
	deleted, err := t.do(change{DeleteHome: id}, func() (ok bool) {
		old, ok = t.homes[id]
		return ok
	})
	if err != nil || !deleted {
		return nil, err
	}
	return &old, nil
}

// GetHomes returns homes ordered by id.
func (t *tables) GetHomes(_ context.Context, id string, p sessions.Paging) (*sessions.HomePage, error) {
	t.mu.RLock()
	var list []*sessions.Home
	if id != "" {
		if h, ok := t.homes[id]; ok {
			list = append(list, &h)
		}
	} else {
		list = make([]*sessions.Home, 0, len(t.homes))
		for _, h := range t.homes {
			list = append(list, &h)
		}
	}
	t.mu.RUnlock()
	slices.SortFunc(list, func(a, b *sessions.Home) int { return strings.Compare(a.ID, b.ID) })
	page := &sessions.HomePage{Data: pageOf(list, p)}
	if p.Total {
		n := int64(len(list))
		page.Total = &n
	}
	return page, nil
}

// SetDevice creates or moves a device, and returns the one it replaced.
func (t *tables) SetDevice(_ context.Context, d *sessions.Device) (stored, replaced *sessions.Device, err error) {
	s := *d
	if _, err := t.do(change{SetDevice: &s}, func() bool {
		if old, ok := t.devices[d.ID]; ok {
			replaced = &old
		}
		return true
	}); err != nil {
		return nil, nil, err
	}
	out := s
	return &out, replaced, nil
}

// GetDevice returns a device, or nil.
func (t *tables) GetDevice(_ context.Context, id string) (*sessions.Device, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	d, ok := t.devices[id]
	if !ok {
		return nil, nil
	}
	out := new(sessions.Device)
	*out = d
	return out, nil
}

// DeleteDevice removes a device and returns it, or nil.
func (t *tables) DeleteDevice(_ context.Context, id string) (*sessions.Device, error) {
	var old sessions.Device
	deleted, err := t.do(change{DeleteDevice: id}, func() (ok bool) {
		old, ok = t.devices[id]
		return ok
	})
	if err != nil || !deleted {
		return nil, err
	}
	return &old, nil
}

// GetDevices returns devices ordered by id, those of one user when userID is set.
func (t *tables) GetDevices(_ context.Context, userID string, p sessions.Paging) (*sessions.DevicePage, error) {
	t.mu.RLock()
	var list []*sessions.Device
	if userID != "" {
		for id := range t.userDevices[userID] {
			d := t.devices[id]
			list = append(list, &d)
		}
	} else {
		list = make([]*sessions.Device, 0, len(t.devices))
		for _, d := range t.devices {
			list = append(list, &d)
		}
	}
	t.mu.RUnlock()
	slices.SortFunc(list, func(a, b *sessions.Device) int { return strings.Compare(a.ID, b.ID) })
	page := &sessions.DevicePage{Data: pageOf(list, p)}
	if p.Total {
		n := int64(len(list))
		page.Total = &n
	}
	return page, nil
}

// TakeSlot stores s unless its place is held.
func (t *tables) TakeSlot(_ context.Context, s sessions.Slot) (bool, error) {
	return t.do(change{TakeSlot: &s}, func() bool {
		_, held := t.slots[s.HomeID][s.Index]
		_, dup := t.slot(s.ID)
		return !held && !dup
	})
}

// ReleaseSlot deletes a slot; true only for the call that deleted it.
func (t *tables) ReleaseSlot(_ context.Context, id string) (bool, error) {
	return t.do(change{ReleaseSlot: id}, func() bool {
		_, ok := t.slot(id)
		return ok
	})
}

// GetSlots returns the slots of a home.
func (t *tables) GetSlots(_ context.Context, homeID string) ([]sessions.Slot, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]sessions.Slot, 0, len(t.slots[homeID]))
	for _, s := range t.slots[homeID] {
		out = append(out, s)
	}
	return out, nil
}

// GetSessionSlots returns the slots a session holds.
func (t *tables) GetSessionSlots(_ context.Context, sessionID string) ([]sessions.Slot, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.sessionSlots[sessionID]), nil
}

// state returns every change needed to rebuild the tables, for a snapshot.
func (t *tables) state() []change {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]change, 0, len(t.homes)+len(t.devices)+len(t.sessionSlots))
	for _, h := range t.homes {
		out = append(out, change{SetHome: &h})
	}
	for _, d := range t.devices {
		out = append(out, change{SetDevice: &d})
	}
	for _, byIndex := range t.slots {
		for _, s := range byIndex {
			out = append(out, change{TakeSlot: &s})
		}
	}
	return out
}

func pageOf[T any](list []T, p sessions.Paging) []T {
	if list == nil {
		return []T{} // an empty page is [] on the wire, never null
	}
	skip := min(max(p.Skip, 0), int64(len(list)))
	list = list[skip:]
	if p.Take > 0 && p.Take < int64(len(list)) {
		list = list[:p.Take]
	}
	return list
}

func addTo(m map[string]map[string]struct{}, key, id string) {
	if m[key] == nil {
		m[key] = map[string]struct{}{}
	}
	m[key][id] = struct{}{}
}

func removeFrom(m map[string]map[string]struct{}, key, id string) {
	if set := m[key]; set != nil {
		delete(set, id)
		if len(set) == 0 {
			delete(m, key)
		}
	}
}
