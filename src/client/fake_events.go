package client

import (
	"context"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// UpdateSessionDetails merges details into a session's (an empty value
// deletes the key); nil when it does not exist. A merge that would leave
// more than 100 entries is refused.
func (f *Fake) UpdateSessionDetails(ctx context.Context, sessionID string, details map[string]string) (*sessions.Session, error) {
	if err := checkUpdateSessionDetails(ctx, sessionID, details); err != nil {
		return nil, err
	}
	s, err := f.update(sessionID, sessions.Update{Details: details}, func(s *sessions.Session) error {
		return sessions.CheckDetailsMerge(s.Details, details)
	})
	if err != nil {
		return nil, coded(ctx, err)
	}
	return s, nil
}

// BindPushAddress binds an active session to a push address; nil when
// there is no active session with that id.
func (f *Fake) BindPushAddress(ctx context.Context, sessionID, address string) (*sessions.Session, error) {
	if err := checkBindPushAddress(ctx, sessionID, address); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[sessionID]
	if !ok || !s.Live(f.now()) || !(&sessions.Update{PushAddress: address, IfActive: true}).Apply(s) {
		return nil, nil
	}
	return f.copyOf(s), nil
}

// CloseUserSessions closes every live session of an account and returns how many.
func (f *Fake) CloseUserSessions(ctx context.Context, userID string) (int64, error) {
	if err := checkCloseUserSessions(ctx, userID); err != nil {
		return 0, err
	}
	return f.closeAll(sessions.Filter{UserID: userID}), nil
}

// CloseAddressSessions closes every live session bound to a push address
// and returns how many.
func (f *Fake) CloseAddressSessions(ctx context.Context, address string) (int64, error) {
	if err := checkCloseAddressSessions(ctx, address); err != nil {
		return 0, err
	}
	return f.closeAll(sessions.Filter{PushAddress: address}), nil
}

func (f *Fake) closeAll(filter sessions.Filter) int64 {
	active := true
	filter.Active, filter.Now = &active, f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	var n int64
	for _, s := range f.sessions {
		if filter.Match(s) {
			(&sessions.Update{Close: &sessions.Closing{Time: filter.Now, Reason: sessions.ReasonClosed}}).Apply(s)
			n++
		}
	}
	return n
}

// SendNotification checks its arguments as the service does and returns
// 0: no device stream is ever connected to the fake.
func (f *Fake) SendNotification(ctx context.Context, args SendNotificationArgs) (int64, error) {
	if err := checkSendNotification(ctx, args); err != nil {
		return 0, err
	}
	return 0, nil
}
