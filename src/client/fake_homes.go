package client

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// RenewSession renews a session: marks it used and extends its lease. A
// closed session is SESSION_NOT_FOUND, a lapsed one SESSION_EXPIRED.
func (f *Fake) RenewSession(ctx context.Context, sessionID string) (*sessions.Session, error) {
	if err := checkRenewSession(ctx, sessionID); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	s, ok := f.sessions[sessionID]
	var err *sessions.Error
	switch {
	case !ok:
		err = sessions.SessionNotFound(sessionID)
	case !s.Active:
		err = sessions.NotLive(s, now)
	case !s.Live(now):
		closeAs(s, sessions.ReasonExpired, now)
		err = sessions.SessionExpired(sessionID)
	}
	if err != nil {
		return nil, coded(ctx, err)
	}
	var home *sessions.Home
	if h, ok := f.homes[s.UserID]; ok {
		home = &h
	}
	renew(s, home, now)
	return f.copyOf(s), nil
}

// SetHome creates or replaces the home (session quota) of an account.
// Lowering max_sessions closes nothing; new opens wait until the account
// is under the limit. A live session of the account without a lease gets
// one, from now.
func (f *Fake) SetHome(ctx context.Context, home *sessions.Home) (*sessions.Home, error) {
	if err := checkSetHome(ctx, home); err != nil {
		return nil, err
	}
	h := *home
	if err := h.Validate(); err != nil {
		return nil, coded(ctx, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.homes[h.ID] = h
	now := f.now()
	for _, s := range f.live(h.ID, now) {
		if s.ExpireTime.IsZero() {
			s.ExpireTime = now.Add(lease(&h))
		}
	}
	return &h, nil
}

// GetHome returns a home with its live sessions, newest first and without
// user and data, or nil.
func (f *Fake) GetHome(ctx context.Context, homeID string) (*sessions.HomeStatus, error) {
	if err := checkGetHome(ctx, homeID); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.homes[homeID]
	if !ok {
		return nil, nil
	}
	live := f.live(homeID, f.now())
	st := &sessions.HomeStatus{Home: h, ActiveCount: int64(len(live))}
	for _, s := range live {
		st.Sessions = append(st.Sessions, s.Summary())
	}
	return st, nil
}

// DeleteHome deletes a home and returns it, or nil; its sessions stay open
// without a quota.
func (f *Fake) DeleteHome(ctx context.Context, homeID string) (*sessions.Home, error) {
	if err := checkDeleteHome(ctx, homeID); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.homes[homeID]
	if !ok {
		return nil, nil
	}
	delete(f.homes, homeID)
	return &h, nil
}

// GetHomes returns a page of homes ordered by id; the filter key is id.
func (f *Fake) GetHomes(ctx context.Context, filter sessions.FilterParams, paging *sessions.PagingParams) (*sessions.HomePage, error) {
	if err := checkGetHomes(ctx, filter, paging); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var list []*sessions.Home
	for id, h := range f.homes {
		if filter["id"] == "" || filter["id"] == id {
			list = append(list, &h)
		}
	}
	slices.SortFunc(list, func(a, b *sessions.Home) int { return strings.Compare(a.ID, b.ID) })
	data, total := pageOf(list, paging)
	return &sessions.HomePage{Total: total, Data: data}, nil
}

// RegisterDevice maps a device to an account; registering again moves it,
// closing the live sessions of its former account on it.
func (f *Fake) RegisterDevice(ctx context.Context, deviceID, userID string) (*sessions.Device, error) {
	if err := checkRegisterDevice(ctx, deviceID, userID); err != nil {
		return nil, err
	}
	d := sessions.Device{ID: deviceID, UserID: userID, CreateTime: f.now()}
	f.mu.Lock()
	old, had := f.devices[deviceID]
	f.devices[deviceID] = d
	f.mu.Unlock()
	if had && old.UserID != userID {
		f.closeAll(sessions.Filter{UserID: old.UserID, DeviceID: deviceID})
	}
	return &d, nil
}

// GetDevice returns a device, or nil.
func (f *Fake) GetDevice(ctx context.Context, deviceID string) (*sessions.Device, error) {
	if err := checkGetDevice(ctx, deviceID); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devices[deviceID]
	if !ok {
		return nil, nil
	}
	return &d, nil
}

// DeleteDevice deletes a device, closing its account's live sessions on
// it, and returns it, or nil.
func (f *Fake) DeleteDevice(ctx context.Context, deviceID string) (*sessions.Device, error) {
	if err := checkDeleteDevice(ctx, deviceID); err != nil {
		return nil, err
	}
	f.mu.Lock()
	d, ok := f.devices[deviceID]
	delete(f.devices, deviceID)
	f.mu.Unlock()
	if !ok {
		return nil, nil
	}
	f.closeAll(sessions.Filter{UserID: d.UserID, DeviceID: deviceID})
	return &d, nil
}

// GetDevices returns a page of devices ordered by id; the filter key is
// user_id.
func (f *Fake) GetDevices(ctx context.Context, filter sessions.FilterParams, paging *sessions.PagingParams) (*sessions.DevicePage, error) {
	if err := checkGetDevices(ctx, filter, paging); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var list []*sessions.Device
	for _, d := range f.devices {
		if filter["user_id"] == "" || filter["user_id"] == d.UserID {
			list = append(list, &d)
		}
	}
	slices.SortFunc(list, func(a, b *sessions.Device) int { return strings.Compare(a.ID, b.ID) })
	data, total := pageOf(list, paging)
	return &sessions.DevicePage{Total: total, Data: data}, nil
}

// makeRoom lets one more session into home: lapsed sessions of the account
// are closed as expired; at the limit, evict_oldest closes the least
// recently renewed session as evicted, and deny refuses with the
// service's MAX_SESSIONS_EXCEEDED error, as does evict_oldest over a
// lowered limit. The caller holds the lock.
func (f *Fake) makeRoom(ctx context.Context, home sessions.Home, now time.Time) error {
	// A lapsed session holds its place until the home is full; then, as
	// the service's do, it is closed as expired and gives the place back.
	held := 0
	for _, s := range f.sessions {
		if s.UserID == home.ID && s.Active {
			held++
		}
	}
	if int64(held) < home.MaxSessions {
		return nil
	}
	for _, s := range f.sessions {
		if s.UserID == home.ID && s.Active && !s.Live(now) {
			closeAs(s, sessions.ReasonExpired, now)
		}
	}
	live := f.live(home.ID, now)
	if int64(len(live)) < home.MaxSessions {
		return nil
	}
	if home.Policy != sessions.PolicyEvictOldest || home.MaxSessions == 0 || int64(len(live)) > home.MaxSessions {
		return coded(ctx, sessions.MaxSessionsExceeded(&home, live))
	}
	closeAs(live[len(live)-1], sessions.ReasonEvicted, now) // live is newest first
	return nil
}

// live returns the live sessions of an account, newest first. The caller
// holds the lock.
func (f *Fake) live(userID string, now time.Time) []*sessions.Session {
	var out []*sessions.Session
	for _, s := range f.sessions {
		if s.UserID == userID && s.Live(now) {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, sessions.Newer)
	return out
}

// onDevice returns the live session the account has on a device, or nil.
// The caller holds the lock.
func (f *Fake) onDevice(userID, deviceID string, now time.Time) *sessions.Session {
	if deviceID == "" {
		return nil
	}
	for _, s := range f.live(userID, now) {
		if s.DeviceID == deviceID {
			return s
		}
	}
	return nil
}

// renew marks a session used and, in a home or with a lease, extends it.
func renew(s *sessions.Session, home *sessions.Home, now time.Time) {
	s.RequestTime = now
	if home != nil || !s.ExpireTime.IsZero() {
		s.ExpireTime = now.Add(lease(home))
	}
}

// lease returns the lease of sessions in home.
func lease(home *sessions.Home) time.Duration {
	if home != nil && home.LeaseTimeout > 0 {
		return time.Duration(home.LeaseTimeout) * time.Millisecond
	}
	return sessions.DefaultLeaseTimeout
}

func closeAs(s *sessions.Session, reason string, now time.Time) {
	u := sessions.Update{Close: &sessions.Closing{Time: now, Reason: reason}}
	u.Apply(s)
}
