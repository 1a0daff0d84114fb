package test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// modelRun drives a store and a model of it, a plain map of sessions read
// by scanning it, with the same random mix of creates, updates and
// deletes, and checks every read of the store against the same read of
// the model. The small pools of ids, users, clients and instants make
// ties, repeats and a deleted id created again common.
type modelRun struct {
	t     *testing.T
	store logic.Persistence
	rnd   *rand.Rand
	model map[string]*sessions.Session
	step  int
}

func newModelRun(t *testing.T, store logic.Persistence, seed uint64) *modelRun {
	return &modelRun{t: t, store: store, rnd: rand.New(rand.NewPCG(seed, seed)), model: map[string]*sessions.Session{}}
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
		switch k := m.rnd.IntN(12); {
		case k < 3:
			did = m.create(sessionID)
		case k < 6:
			did = m.update(sessionID)
		case k < 7:
			did = m.delete(sessionID)
		default:
			did = m.read(sessionID)
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
	if m.t.Failed() {
		m.t.Fatalf("after step %d: the store no longer holds what the changes left", m.step)
	}
}

func (m *modelRun) create(sessionID string) string {
	if m.model[sessionID] != nil {
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
	total := int64(len(match))
	match = match[min(p.Skip, total):]
	if p.Take > 0 {
		match = match[:min(p.Take, int64(len(match)))]
	}

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
	switch {
	case !p.Total && got.Total != nil:
		m.t.Errorf("total: got %d; want nil (not asked)", *got.Total)
	case p.Total && (got.Total == nil || *got.Total != total):
		m.t.Errorf("total: got %s; want %d", totalText(got.Total), total)
	}
}

func totalText(n *int64) string {
	if n == nil {
		return "nil"
	}
	return fmt.Sprint(*n)
}
