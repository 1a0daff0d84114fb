package test

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// modelRun drives a store and a model of it, plain maps of its sessions,
// homes, devices and places read by scanning them, with the same random
// mix of changes, and checks every read of the store against the same
// read of the model. The small pools of ids, users, clients and instants
// make ties, repeats and a deleted id created again common.
type modelRun struct {
	t       *testing.T
	store   logic.Persistence
	tables  tableStore
	rnd     *rand.Rand
	model   map[string]*sessions.Session
	homes   map[string]sessions.Home
	devices map[string]sessions.Device
	slots   map[string]sessions.Slot // by id
	// killed are the ids of sessions whose places an opening freed: as a
	// killed open leaves them, for a session never stored. They are
	// never created: ids are random, and the store frees those places
	// only in memory, so one opening after it finds them again and frees
	// them again.
	killed map[string]bool
	step   int
}

// newModelRun starts a run on store, with its tables when it keeps them.
func newModelRun(t *testing.T, store logic.Persistence, seed uint64) *modelRun {
	m := &modelRun{t: t, rnd: rand.New(rand.NewPCG(seed, seed)), model: map[string]*sessions.Session{},
		homes: map[string]sessions.Home{}, devices: map[string]sessions.Device{}, slots: map[string]sessions.Slot{},
		killed: map[string]bool{}}
	m.use(store)
	return m
}

// use goes on with store, the same store opened again. Opening frees the
// places held for sessions that are not stored, as a killed open leaves.
func (m *modelRun) use(store logic.Persistence) {
	m.store = store
	m.tables, _ = store.(tableStore)
	for slotID, s := range m.slots {
		if m.model[s.SessionID] == nil {
			delete(m.slots, slotID)
			m.killed[s.SessionID] = true
		}
	}
}

var (
	modelUsers    = []string{"user-1", "user-2", "user-3"}
	modelClients  = []string{"", "web", "tv"}
	modelDevices  = []string{"", "device-1", "device-2"}
	modelParents  = []string{"", id(900), id(901)}
	modelPushes   = []string{"", "push-1", "push-2"}
	modelReasons  = []string{sessions.ReasonClosed, sessions.ReasonExpired, sessions.ReasonEvicted}
	modelPayloads = []json.RawMessage{nil, json.RawMessage(`null`), json.RawMessage(`{"n":1,"s":"x"}`),
		json.RawMessage(`[1,"two",{"three":3}]`), json.RawMessage(`"text"`)}
)

func pick[T any](r *rand.Rand, from []T) T { return from[r.IntN(len(from))] }

// instant is one of 20 seconds, at times a millisecond after one.
func (m *modelRun) instant() time.Time {
	return at(time.Duration(m.rnd.IntN(20))*time.Second + time.Duration(m.rnd.IntN(2))*time.Millisecond)
}

func (m *modelRun) maybeInstant(oneIn int) time.Time {
	if m.rnd.IntN(oneIn) != 0 {
		return time.Time{}
	}
	return m.instant()
}

// details returns a few details; with deletes, some empty values.
func (m *modelRun) details(deletes bool) map[string]string {
	d := map[string]string{}
	for range m.rnd.IntN(3) {
		v := pick(m.rnd, []string{"a", "b"})
		if deletes && m.rnd.IntN(3) == 0 {
			v = ""
		}
		d[pick(m.rnd, []string{"os", "lang", "tz"})] = v
	}
	return d
}

// run takes n random steps, then reads every session one by one and all
// of them in one list.
func (m *modelRun) run(n int) {
	m.t.Helper()
	for range n {
		m.step++
		sessionID := id(1 + m.rnd.IntN(30))
		var did string
		switch k := m.rnd.IntN(16); {
		case k < 3:
			did = m.create(sessionID)
		case k < 6:
			did = m.update(sessionID)
		case k < 7:
			did = m.delete(sessionID)
		case k < 12:
			did = m.read(sessionID)
		case m.tables == nil:
			continue
		default:
			did = m.changeTable(sessionID)
		}
		if m.t.Failed() {
			m.t.Fatalf("step %d: %s", m.step, did)
		}
	}
	m.checkAll()
}

// checkAll reads each session of the model and the list of all of them.
func (m *modelRun) checkAll() {
	m.t.Helper()
	for sessionID, want := range m.model {
		assertSession(m.t, "session "+sessionID, mustGet(m.t, m.store, sessionID), want)
	}
	m.page(sessions.Filter{Now: t0}, sessions.Paging{Total: true})
	if m.tables != nil {
		m.homePage("", sessions.Paging{Total: true})
		m.devicePage("", sessions.Paging{Total: true})
		for _, home := range modelUsers {
			m.homeSlots(home)
		}
	}
	if m.t.Failed() {
		m.t.Fatalf("after step %d: the store no longer holds what the changes left", m.step)
	}
}

func (m *modelRun) create(sessionID string) string {
	if m.model[sessionID] != nil || m.killed[sessionID] {
		return m.update(sessionID)
	}
	s := session(sessionID, pick(m.rnd, modelUsers), m.instant())
	s.OpenTime = s.RequestTime.Add(-time.Duration(m.rnd.IntN(3)) * time.Minute)
	s.Client, s.DeviceID = pick(m.rnd, modelClients), pick(m.rnd, modelDevices)
	s.ParentID, s.PushAddress = pick(m.rnd, modelParents), pick(m.rnd, modelPushes)
	s.ExpireTime = m.maybeInstant(2)
	s.User, s.Data = pick(m.rnd, modelPayloads), pick(m.rnd, modelPayloads)
	if d := m.details(false); len(d) > 0 {
		s.Details = d
	}
	if m.rnd.IntN(5) == 0 {
		s.Active, s.CloseTime, s.CloseReason = false, s.RequestTime, pick(m.rnd, modelReasons)
		s.User, s.Data = nil, nil
	}
	got, err := m.store.Create(m.t.Context(), s)
	if err != nil {
		m.t.Fatalf("step %d: create %s: %v", m.step, sessionID, err)
	}
	want := s.Clone()
	assertSession(m.t, "created", got, want)
	m.model[sessionID] = want
	return fmt.Sprintf("create %+v", s)
}

func (m *modelRun) update(sessionID string) string {
	u := sessions.Update{
		RequestTime: m.maybeInstant(2), ExpireTime: m.maybeInstant(4),
		IfActive: m.rnd.IntN(2) == 0,
	}
	if m.rnd.IntN(4) == 0 {
		u.User = pick(m.rnd, modelPayloads)
	}
	if m.rnd.IntN(4) == 0 {
		u.Data = pick(m.rnd, modelPayloads)
	}
	if m.rnd.IntN(4) == 0 {
		u.PushAddress = pick(m.rnd, modelPushes)
	}
	if m.rnd.IntN(3) == 0 {
		u.Details = m.details(true)
	}
	if m.rnd.IntN(6) == 0 {
		u.Close = &sessions.Closing{Time: m.instant(), Reason: pick(m.rnd, modelReasons)}
	}
	if m.rnd.IntN(5) == 0 {
		u.IfExpired = &sessions.Expiry{IdleBefore: m.instant(), Now: m.instant()}
	}
	var want *sessions.Session
	if s := m.model[sessionID]; s != nil {
		if changed := s.Clone(); u.Apply(changed) {
			want = changed
		}
	}
	did := fmt.Sprintf("update %s with %+v", sessionID, u)
	got, err := m.store.Update(m.t.Context(), sessionID, u)
	switch {
	case err != nil:
		m.t.Fatalf("step %d: %s: %v", m.step, did, err)
	case want == nil && got != nil:
		m.t.Errorf("update: got %+v; want nil (missing, or its condition fails)", got)
	case want != nil:
		assertSession(m.t, "updated", got, want)
		m.model[sessionID] = want
	}
	return did
}

func (m *modelRun) delete(sessionID string) string {
	want := m.model[sessionID]
	got, err := m.store.DeleteByID(m.t.Context(), sessionID)
	switch {
	case err != nil:
		m.t.Fatalf("step %d: delete %s: %v", m.step, sessionID, err)
	case want == nil && got != nil:
		m.t.Errorf("delete: got %+v; want nil (missing)", got)
	case want != nil:
		assertSession(m.t, "deleted", got, want)
		delete(m.model, sessionID)
	}
	return "delete " + sessionID
}

// read makes one read of a random kind: one session, a page of a filter,
// the states of a few ids, or the expired ids.
func (m *modelRun) read(sessionID string) string {
	switch m.rnd.IntN(4) {
	case 0:
		got, err := m.store.GetOneByID(m.t.Context(), sessionID)
		if err != nil {
			m.t.Fatalf("step %d: get %s: %v", m.step, sessionID, err)
		}
		if want := m.model[sessionID]; want == nil && got != nil {
			m.t.Errorf("get: got %+v; want nil (missing)", got)
		} else if want != nil {
			assertSession(m.t, "got", got, want)
		}
		return "get " + sessionID
	case 1:
		f := sessions.Filter{Now: m.instant(), FromTime: m.maybeInstant(3), ToTime: m.maybeInstant(3)}
		switch m.rnd.IntN(6) {
		case 0:
			f.UserID = pick(m.rnd, modelUsers)
		case 1:
			f.Client = pick(m.rnd, modelClients)
		case 2:
			f.DeviceID = pick(m.rnd, modelDevices)
		case 3:
			f.ParentID = pick(m.rnd, modelParents)
		case 4:
			f.PushAddress = pick(m.rnd, modelPushes)
		default:
			f.ID = sessionID
		}
		if k := m.rnd.IntN(3); k < 2 {
			active := k == 0
			f.Active = &active
		}
		p := sessions.Paging{Skip: int64(m.rnd.IntN(4)), Take: int64(m.rnd.IntN(6)), Total: m.rnd.IntN(2) == 0}
		m.page(f, p)
		active, rest := "either", f
		if f.Active != nil {
			active, rest.Active = fmt.Sprint(*f.Active), nil
		}
		return fmt.Sprintf("get page of %+v, active %s, %+v", rest, active, p)
	case 2:
		list := []string{sessionID, id(1 + m.rnd.IntN(30)), id(1 + m.rnd.IntN(30))}
		want := make([]*logic.SessionState, len(list))
		for i, sid := range list {
			if s := m.model[sid]; s != nil {
				want[i] = &logic.SessionState{ID: s.ID, Active: s.Active, RequestTime: s.RequestTime,
					ExpireTime: s.ExpireTime, DeviceID: s.DeviceID, Client: s.Client}
			}
		}
		assertStates(m.t, m.store, list, want...)
		return fmt.Sprintf("get states %v", list)
	default:
		e := sessions.Expiry{IdleBefore: m.instant(), Now: m.instant()}
		got, err := m.store.ExpiredIDs(m.t.Context(), e)
		if err != nil {
			m.t.Fatalf("step %d: expired ids: %v", m.step, err)
		}
		var want []string
		for _, s := range m.model {
			if e.Expired(s) {
				want = append(want, s.ID)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		assertIDs(m.t, got, want)
		return fmt.Sprintf("expired ids %+v", e)
	}
}

// page checks a page of the store against the model's sessions that f
// matches, newest first, skipped and taken as p says, without payloads.
func (m *modelRun) page(f sessions.Filter, p sessions.Paging) {
	m.t.Helper()
	var match []*sessions.Session
	for _, s := range m.model {
		if f.Match(s) {
			match = append(match, s)
		}
	}
	slices.SortFunc(match, sessions.Newer)
	total := len(match)
	match = window(match, p)

	got, err := m.store.GetPageByFilter(m.t.Context(), f, p)
	if err != nil {
		m.t.Fatalf("step %d: get page %+v %+v: %v", m.step, f, p, err)
	}
	want := make([]string, len(match))
	for i, s := range match {
		want[i] = s.ID
	}
	assertIDs(m.t, pageIDs(got), want)
	if len(got.Data) == len(match) {
		for i, s := range match {
			assertSession(m.t, "page item", got.Data[i], s.Summary())
		}
	}
	m.wantTotal("sessions", got.Total, p, total)
}

func totalText(n *int64) string {
	if n == nil {
		return "nil"
	}
	return fmt.Sprint(*n)
}

// homeOf is the home of a session's places: a session is in one home, as
// an open takes places only in the home of its user.
func homeOf(sessionID string) string {
	return modelUsers[int(sessionID[len(sessionID)-1])%len(modelUsers)]
}

// changeTable makes one change or read of homes, devices or places.
func (m *modelRun) changeTable(sessionID string) string {
	ctx := m.t.Context()
	homeID := pick(m.rnd, modelUsers)
	deviceID := fmt.Sprintf("device-%d", 1+m.rnd.IntN(5))
	switch m.rnd.IntN(11) {
	case 0:
		h := sessions.Home{ID: homeID, MaxSessions: int64(m.rnd.IntN(4)), Policy: pick(m.rnd, []string{sessions.PolicyDeny, sessions.PolicyEvictOldest})}
		if m.rnd.IntN(2) == 0 {
			h.LeaseTimeout = 60_000
		}
		got, err := m.tables.SetHome(ctx, &h)
		m.must(err, "set home")
		m.wantHome("set home", got, &h)
		m.homes[h.ID] = h
		return fmt.Sprintf("set home %+v", h)
	case 1:
		n := int64(m.rnd.IntN(4))
		want, ok := m.homes[homeID]
		if !ok {
			want = sessions.Home{ID: homeID, Policy: sessions.PolicyDeny}
		}
		want.MaxSessions = n
		got, err := m.tables.SetMaxSessions(ctx, homeID, n)
		m.must(err, "set max sessions")
		m.wantHome("set max sessions", got, &want)
		m.homes[homeID] = want
		return fmt.Sprintf("set max sessions of %s to %d", homeID, n)
	case 2:
		got, err := m.tables.DeleteHome(ctx, homeID)
		m.must(err, "delete home")
		m.wantHome("delete home", got, m.home(homeID))
		delete(m.homes, homeID)
		return "delete home " + homeID
	case 3:
		got, err := m.tables.GetHome(ctx, homeID)
		m.must(err, "get home")
		m.wantHome("get home", got, m.home(homeID))
		p := m.paging()
		m.homePage(pick(m.rnd, []string{"", homeID}), p)
		return fmt.Sprintf("get home %s and homes %+v", homeID, p)
	case 4:
		d := sessions.Device{ID: deviceID, UserID: pick(m.rnd, modelUsers), CreateTime: m.instant()}
		got, _, err := m.tables.SetDevice(ctx, &d)
		m.must(err, "set device")
		m.wantDevice("set device", got, &d)
		m.devices[d.ID] = d
		return fmt.Sprintf("set device %+v", d)
	case 5:
		got, err := m.tables.DeleteDevice(ctx, deviceID)
		m.must(err, "delete device")
		m.wantDevice("delete device", got, m.device(deviceID))
		delete(m.devices, deviceID)
		return "delete device " + deviceID
	case 6:
		got, err := m.tables.GetDevice(ctx, deviceID)
		m.must(err, "get device")
		m.wantDevice("get device", got, m.device(deviceID))
		user, p := pick(m.rnd, append([]string{""}, modelUsers...)), m.paging()
		m.devicePage(user, p)
		return fmt.Sprintf("get device %s and devices of %q %+v", deviceID, user, p)
	case 7, 8:
		s := sessions.NewSlot(homeOf(sessionID), int64(m.rnd.IntN(3)), sessionID, m.instant())
		want := true
		for _, held := range m.slots {
			want = want && held.ID != s.ID && (held.HomeID != s.HomeID || held.Index != s.Index)
		}
		got, err := m.tables.TakeSlot(ctx, s)
		m.must(err, "take place")
		if got != want {
			m.t.Errorf("take place: got %v; want %v", got, want)
		}
		if want {
			m.slots[s.ID] = s
		}
		return fmt.Sprintf("take place %+v", s)
	case 9:
		slotID := sessionID + ":" + fmt.Sprint(m.rnd.IntN(3))
		if held := slices.Sorted(maps.Keys(m.slots)); len(held) > 0 && m.rnd.IntN(4) > 0 {
			slotID = pick(m.rnd, held) // mostly a held one
		}
		_, want := m.slots[slotID]
		got, err := m.tables.ReleaseSlot(ctx, slotID)
		m.must(err, "release place")
		if got != want {
			m.t.Errorf("release place: got %v; want %v", got, want)
		}
		delete(m.slots, slotID)
		return "release place " + slotID
	default:
		m.homeSlots(homeOf(sessionID))
		got, err := m.tables.GetSessionSlots(ctx, sessionID)
		m.must(err, "get places of a session")
		m.wantSlots("places of session "+sessionID, got, func(s sessions.Slot) bool { return s.SessionID == sessionID })
		return "get places of " + sessionID + " and of its home"
	}
}

func (m *modelRun) must(err error, what string) {
	m.t.Helper()
	if err != nil {
		m.t.Fatalf("step %d: %s: %v", m.step, what, err)
	}
}

func (m *modelRun) paging() sessions.Paging {
	return sessions.Paging{Skip: int64(m.rnd.IntN(3)), Take: int64(m.rnd.IntN(3)), Total: m.rnd.IntN(2) == 0}
}

func (m *modelRun) home(id string) *sessions.Home {
	if h, ok := m.homes[id]; ok {
		return &h
	}
	return nil
}

func (m *modelRun) device(id string) *sessions.Device {
	if d, ok := m.devices[id]; ok {
		return &d
	}
	return nil
}

func (m *modelRun) wantHome(what string, got, want *sessions.Home) {
	m.t.Helper()
	if (got == nil) != (want == nil) || got != nil && *got != *want {
		m.t.Errorf("%s: got %+v; want %+v", what, got, want)
	}
}

func (m *modelRun) wantDevice(what string, got, want *sessions.Device) {
	m.t.Helper()
	if (got == nil) != (want == nil) || got != nil && (got.ID != want.ID || got.UserID != want.UserID || !got.CreateTime.Equal(want.CreateTime)) {
		m.t.Errorf("%s: got %+v; want %+v", what, got, want)
	}
}

// homePage checks a page of homes, by id, against the model's.
func (m *modelRun) homePage(id string, p sessions.Paging) {
	m.t.Helper()
	got, err := m.tables.GetHomes(m.t.Context(), id, p)
	m.must(err, "get homes")
	wantPage(m, fmt.Sprintf("homes %q %+v", id, p), p, m.homes,
		func(h sessions.Home) bool { return id == "" || h.ID == id }, got.Data, got.Total, m.wantHome)
}

// devicePage checks a page of devices, by id, against the model's.
func (m *modelRun) devicePage(userID string, p sessions.Paging) {
	m.t.Helper()
	got, err := m.tables.GetDevices(m.t.Context(), userID, p)
	m.must(err, "get devices")
	wantPage(m, fmt.Sprintf("devices of %q %+v", userID, p), p, m.devices,
		func(d sessions.Device) bool { return userID == "" || d.UserID == userID }, got.Data, got.Total, m.wantDevice)
}

// wantPage checks a page, its items and its total, against the rows of
// the model that keep selects, in the order of their ids.
func wantPage[T any](m *modelRun, what string, p sessions.Paging, rows map[string]T, keep func(T) bool,
	got []*T, total *int64, wantRow func(what string, got, want *T)) {
	m.t.Helper()
	var want []*T
	for _, id := range slices.Sorted(maps.Keys(rows)) {
		if row := rows[id]; keep(row) {
			want = append(want, &row)
		}
	}
	m.wantTotal(what, total, p, len(want))
	want = window(want, p)
	if len(got) != len(want) {
		m.t.Errorf("%s: got %d; want %d", what, len(got), len(want))
		return
	}
	for i := range want {
		wantRow(fmt.Sprintf("%s, item %d", what, i), got[i], want[i])
	}
}

// homeSlots checks the places of a home against the model's.
func (m *modelRun) homeSlots(homeID string) {
	m.t.Helper()
	got, err := m.tables.GetSlots(m.t.Context(), homeID)
	m.must(err, "get places of a home")
	m.wantSlots("places of home "+homeID, got, func(s sessions.Slot) bool { return s.HomeID == homeID })
}

// wantSlots checks got, in any order, against the model's places that in
// selects.
func (m *modelRun) wantSlots(what string, got []sessions.Slot, in func(sessions.Slot) bool) {
	m.t.Helper()
	text := func(s sessions.Slot) string {
		return fmt.Sprintf("%s %s/%d %s %s", s.ID, s.HomeID, s.Index, s.SessionID, s.Created.UTC().Format(time.RFC3339Nano))
	}
	var g, w []string
	for _, s := range got {
		g = append(g, text(s))
	}
	for _, s := range m.slots {
		if in(s) {
			w = append(w, text(s))
		}
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		m.t.Errorf("%s: got %q; want %q", what, g, w)
	}
}

func (m *modelRun) wantTotal(what string, got *int64, p sessions.Paging, n int) {
	m.t.Helper()
	switch {
	case !p.Total && got != nil:
		m.t.Errorf("%s total: got %d; want nil (not asked)", what, *got)
	case p.Total && (got == nil || *got != int64(n)):
		m.t.Errorf("%s total: got %s; want %d", what, totalText(got), n)
	}
}

// window is list skipped and taken as p says.
func window[T any](list []T, p sessions.Paging) []T {
	list = list[min(int(p.Skip), len(list)):]
	if p.Take > 0 {
		list = list[:min(int(p.Take), len(list))]
	}
	return list
}
