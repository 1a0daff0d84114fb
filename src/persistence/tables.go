package persistence

import (
	"context"
	"slices"
	"strings"
	"sync"

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
type tables struct {
	mu           sync.RWMutex
	homes        map[string]sessions.Home
	devices      map[string]sessions.Device
	userDevices  map[string]map[string]struct{}
	slots        map[string]sessions.Slot       // by slot id
	homeSlots    map[string]map[int64]string    // home id → index → slot id
	sessionSlots map[string]map[string]struct{} // session id → slot ids
	onChange     func(change) error             // journals a change before it is applied; nil in memory
}

// change is one mutation of the tables, as the file store journals it.
// Exactly one field is set.
type change struct {
	SetHome      *sessions.Home   `json:"set_home,omitempty"`
	DeleteHome   string           `json:"delete_home,omitempty"`
	SetDevice    *sessions.Device `json:"set_device,omitempty"`
	DeleteDevice string           `json:"delete_device,omitempty"`
	TakeSlot     *sessions.Slot   `json:"take_slot,omitempty"`
	ReleaseSlot  string           `json:"release_slot,omitempty"`
}

func newTables() *tables {
	return &tables{
		homes:        map[string]sessions.Home{},
		devices:      map[string]sessions.Device{},
		userDevices:  map[string]map[string]struct{}{},
		slots:        map[string]sessions.Slot{},
		homeSlots:    map[string]map[int64]string{},
		sessionSlots: map[string]map[string]struct{}{},
	}
}

// commit journals c when the store is durable. It is called with t.mu held,
// so the journal order is the order of application.
func (t *tables) commit(c change) error {
	if t.onChange == nil {
		return nil
	}
	return t.onChange(c)
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
		t.slots[s.ID] = s
		if t.homeSlots[s.HomeID] == nil {
			t.homeSlots[s.HomeID] = map[int64]string{}
		}
		t.homeSlots[s.HomeID][s.Index] = s.ID
		addTo(t.sessionSlots, s.SessionID, s.ID)
	case c.ReleaseSlot != "":
		s, ok := t.slots[c.ReleaseSlot]
		if !ok {
			return
		}
		delete(t.slots, s.ID)
		if byIndex := t.homeSlots[s.HomeID]; byIndex[s.Index] == s.ID {
			delete(byIndex, s.Index)
			if len(byIndex) == 0 {
				delete(t.homeSlots, s.HomeID)
			}
		}
		removeFrom(t.sessionSlots, s.SessionID, s.ID)
	}
}

// write journals and applies one change under the lock.
func (t *tables) write(c change) error {
	if err := t.commit(c); err != nil {
		return err
	}
	t.apply(c)
	return nil
}

// SetHome creates or replaces a home.
func (t *tables) SetHome(_ context.Context, h *sessions.Home) (*sessions.Home, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	stored := *h
	if err := t.write(change{SetHome: &stored}); err != nil {
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
	return &h, nil
}

// DeleteHome removes a home and returns it, or nil.
func (t *tables) DeleteHome(_ context.Context, id string) (*sessions.Home, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, ok := t.homes[id]
	if !ok {
		return nil, nil
	}
	if err := t.write(change{DeleteHome: id}); err != nil {
		return nil, err
	}
	return &h, nil
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

// SetDevice creates or moves a device.
func (t *tables) SetDevice(_ context.Context, d *sessions.Device) (*sessions.Device, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	stored := *d
	if err := t.write(change{SetDevice: &stored}); err != nil {
		return nil, err
	}
	out := stored
	return &out, nil
}

// GetDevice returns a device, or nil.
func (t *tables) GetDevice(_ context.Context, id string) (*sessions.Device, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	d, ok := t.devices[id]
	if !ok {
		return nil, nil
	}
	return &d, nil
}

// DeleteDevice removes a device and returns it, or nil.
func (t *tables) DeleteDevice(_ context.Context, id string) (*sessions.Device, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, ok := t.devices[id]
	if !ok {
		return nil, nil
	}
	if err := t.write(change{DeleteDevice: id}); err != nil {
		return nil, err
	}
	return &d, nil
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
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, held := t.homeSlots[s.HomeID][s.Index]; held {
		return false, nil
	}
	if _, dup := t.slots[s.ID]; dup {
		return false, nil
	}
	if err := t.write(change{TakeSlot: &s}); err != nil {
		return false, err
	}
	return true, nil
}

// ReleaseSlot deletes a slot; true only for the call that deleted it.
func (t *tables) ReleaseSlot(_ context.Context, id string) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.slots[id]; !ok {
		return false, nil
	}
	if err := t.write(change{ReleaseSlot: id}); err != nil {
		return false, err
	}
	return true, nil
}

// GetSlots returns the slots of a home.
func (t *tables) GetSlots(_ context.Context, homeID string) ([]sessions.Slot, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]sessions.Slot, 0, len(t.homeSlots[homeID]))
	for _, id := range t.homeSlots[homeID] {
		out = append(out, t.slots[id])
	}
	return out, nil
}

// GetSessionSlots returns the slots a session holds.
func (t *tables) GetSessionSlots(_ context.Context, sessionID string) ([]sessions.Slot, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []sessions.Slot
	for id := range t.sessionSlots[sessionID] {
		out = append(out, t.slots[id])
	}
	return out, nil
}

// state returns every change needed to rebuild the tables, for a snapshot.
func (t *tables) state() []change {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]change, 0, len(t.homes)+len(t.devices)+len(t.slots))
	for _, h := range t.homes {
		out = append(out, change{SetHome: &h})
	}
	for _, d := range t.devices {
		out = append(out, change{SetDevice: &d})
	}
	for _, s := range t.slots {
		out = append(out, change{TakeSlot: &s})
	}
	return out
}

func pageOf[T any](list []T, p sessions.Paging) []T {
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
