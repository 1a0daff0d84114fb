package logic

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/events"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Argument structs of the event, address and metadata commands.
type (
	// UpdateSessionDetailsArgs merges details into a session's.
	UpdateSessionDetailsArgs struct {
		SessionID string `json:"session_id" required:"true" max:"session_id"`
		// Details are merged; an empty value deletes the key.
		Details map[string]string `json:"details" required:"true" max:"id"`
	}

	// BindPushAddressArgs binds a session to a push address.
	BindPushAddressArgs struct {
		SessionID string `json:"session_id" required:"true" max:"session_id"`
		Address   string `json:"address" required:"true" max:"id"`
	}

	// UserIDArgs names one account.
	UserIDArgs struct {
		UserID string `json:"user_id" required:"true" max:"id"`
	}

	// AddressArgs names one push address.
	AddressArgs struct {
		Address string `json:"address" required:"true" max:"id"`
	}

	// SendNotificationArgs addresses a notification to the devices of an
	// account's or a push address's active sessions.
	SendNotificationArgs struct {
		// UserID or PushAddress (or both) select the sessions.
		UserID      string          `json:"user_id" max:"id"`
		PushAddress string          `json:"push_address" max:"id"`
		Method      string          `json:"method" required:"true" max:"id"`
		Params      json.RawMessage `json:"params"`
	}
)

func (c *Controller) eventCommands() []Command {
	return []Command{
		repeatable(orNothing(define(sessions.SessionsRoute, "update_session_details", "Merges details into a session's: an empty value deletes the key.", c.UpdateSessionDetails))),
		repeatable(orNothing(define(sessions.SessionsRoute, "bind_push_address", "Binds an active session to a push address, which many sessions may share.", c.BindPushAddress))),
		define(sessions.SessionsRoute, "close_user_sessions", "Closes every active session of an account (log out from all devices) and returns how many.", c.CloseUserSessions),
		define(sessions.SessionsRoute, "close_address_sessions", "Closes every active session bound to a push address and returns how many.", c.CloseAddressSessions),
		needsOneOf(define(sessions.SessionsRoute, "send_notification", "Sends a notification to the device streams of the active sessions of an account (user_id), of a push address, or of both at once (that account's sessions bound to that address), and returns how many received it.", c.SendNotification),
			"user_id", "push_address"),
	}
}

// Options of the event hub, read by Configure. The hub is replaced by one
// with them once every option is valid; Configure runs before the
// references are set, so no component holds the hub it replaces.
func (c *Controller) configureEvents(cfg container.Config) error {
	opts := c.hubOptions
	for _, o := range []struct {
		key      string
		dst      *int
		def, max int
	}{
		{"options.event_buffer", &opts.Buffer, events.DefaultBuffer, events.MaxBuffer},
		{"options.event_buffer_bytes", &opts.BufferBytes, events.DefaultBufferBytes, events.MaxBufferBytes},
		{"options.subscriber_buffer", &opts.SubscriberBuffer, events.DefaultSubscriberBuffer, events.MaxSubscriberBuffer},
		{"options.notification_queue", &opts.NotificationQueue, events.DefaultNotificationQueue, events.MaxNotificationQueue},
		{"options.max_subscribers", &opts.MaxSubscribers, events.DefaultMaxSubscribers, math.MaxInt32},
		{"options.max_device_streams", &opts.MaxStreams, events.DefaultMaxStreams, math.MaxInt32},
		{"options.max_session_streams", &opts.MaxSessionStreams, events.DefaultMaxSessionStreams, math.MaxInt32},
	} {
		n, err := cfg.Int(o.key, int64(o.def))
		if err != nil {
			return err
		}
		if n < 1 || n > int64(o.max) {
			return fmt.Errorf("%s: %d must be between 1 and %d", o.key, n, o.max)
		}
		*o.dst = int(n)
	}
	poll, err := cfg.Millis("options.event_poll_interval", events.DefaultPollInterval)
	if err != nil {
		return err
	}
	c.hubOptions, c.sharedOptions.PollInterval = opts, poll
	c.events = events.NewHub(opts, c.now)
	return nil
}

// UpdateSessionDetails merges details into a session's; nil when it does not
// exist. A merge that would leave more than sessions.MaxMapEntries entries is
// refused. The count is checked under the session's lock, so it is exact
// for the changes of one instance; over MongoDB, instances merging into the
// same session at once could each pass it.
func (c *Controller) UpdateSessionDetails(ctx context.Context, a *UpdateSessionDetailsArgs) (*sessions.Session, error) {
	if len(a.Details) == 0 {
		s, err := c.store.GetOneByID(ctx, a.SessionID)
		return c.seen(s), err
	}
	s, err := c.change(ctx, a.SessionID, sessions.EventUpdated, func() (*sessions.Session, error) {
		s, err := c.store.GetOneByID(ctx, a.SessionID)
		if err != nil || s == nil {
			return nil, err
		}
		if err := sessions.CheckDetailsMerge(s.Details, a.Details); err != nil {
			return nil, err
		}
		return c.store.Update(ctx, a.SessionID, sessions.Update{Details: a.Details})
	})
	return c.seen(s), err
}

// BindPushAddress binds an active session to an address; nil when there is
// no active session with that id.
func (c *Controller) BindPushAddress(ctx context.Context, a *BindPushAddressArgs) (*sessions.Session, error) {
	// A lapsed session is no active one, closed or not yet.
	if s, err := c.store.GetOneByID(ctx, a.SessionID); err != nil || s == nil || !s.Live(c.now()) {
		return nil, err
	}
	s, err := c.update(ctx, a.SessionID, sessions.Update{PushAddress: a.Address, IfActive: true})
	return c.seen(s), err
}

// CloseUserSessions closes every active session of an account.
func (c *Controller) CloseUserSessions(ctx context.Context, a *UserIDArgs) (int64, error) {
	return c.closeAll(ctx, sessions.Filter{UserID: a.UserID})
}

// CloseAddressSessions closes every active session bound to an address.
func (c *Controller) CloseAddressSessions(ctx context.Context, a *AddressArgs) (int64, error) {
	return c.closeAll(ctx, sessions.Filter{PushAddress: a.Address})
}

// closeAll closes every live session matching f and returns how many this
// call closed (a session another caller closed first is not counted).
func (c *Controller) closeAll(ctx context.Context, f sessions.Filter) (int64, error) {
	var n int64
	err := c.eachLive(ctx, f, func(s *sessions.Session) error {
		closed, err := c.closeActive(ctx, s.ID, sessions.ReasonClosed)
		if closed != nil {
			n++
		}
		return err
	})
	return n, err
}

// eachLive calls fn once for every live session matching f. A store's
// listing need not be a snapshot: a MongoDB cursor may miss a session
// renewed while it reads. So eachLive lists again until a listing brings
// no session it has not seen, at most livePasses times.
func (c *Controller) eachLive(ctx context.Context, f sessions.Filter, fn func(*sessions.Session) error) error {
	seen := make(map[string]bool)
	for range livePasses {
		live, err := c.liveSessions(ctx, f)
		if err != nil {
			return err
		}
		fresh := 0
		for _, s := range live {
			if seen[s.ID] {
				continue
			}
			seen[s.ID], fresh = true, fresh+1
			if err := fn(s); err != nil {
				return err
			}
		}
		if fresh == 0 {
			return nil
		}
	}
	return nil
}

// livePasses bounds the listings of eachLive, so that an account that
// keeps opening sessions cannot hold a logout or a notification forever.
const livePasses = 4

// SendNotification delivers a notification to the device streams of the
// matching live sessions, on every instance, and returns how many streams
// received it.
func (c *Controller) SendNotification(ctx context.Context, a *SendNotificationArgs) (int64, error) {
	if a.UserID == "" && a.PushAddress == "" {
		// The command checks it first (see needsOneOf); an empty filter
		// here would notify every session.
		return 0, sessions.InvalidData(sessions.NullProblem("user_id or push_address"))
	}
	var ids []string
	err := c.eachLive(ctx, sessions.Filter{UserID: a.UserID, PushAddress: a.PushAddress}, func(s *sessions.Session) error {
		ids = append(ids, s.ID)
		return nil
	})
	if err != nil {
		return 0, err
	}
	n, err := c.events.Notify(ctx, ids, sessions.Notification{Method: a.Method, Params: sessions.Payload(a.Params)})
	return int64(n), err
}

// ExpireLapsed closes a session whose lease has lapsed, as the expiry sweep
// would, so that its device streams end when the lease does rather than at
// the next sweep. It returns when the session needs looking at again: the
// end of its lease while it is live, zero when it has no lease or is no
// longer active.
func (c *Controller) ExpireLapsed(ctx context.Context, id string) (time.Time, error) {
	now := c.now()
	states, err := c.store.GetStatesByIDs(ctx, []string{id})
	if err != nil {
		return time.Time{}, err
	}
	s := states[0]
	switch {
	case s == nil || !s.Active:
		return time.Time{}, nil
	case s.Live(now):
		return s.ExpireTime, nil
	}
	kept, err := c.lapse(ctx, s, now) // its place is freed as the sweep's are: by the next open of a full home
	if err != nil || kept == nil {
		return time.Time{}, err
	}
	return kept.ExpireTime, nil // renewed meanwhile
}

// LiveSession returns the session a device stream may follow: an active,
// unexpired one. A missing or closed session is SESSION_NOT_FOUND, a lapsed
// one SESSION_EXPIRED.
func (c *Controller) LiveSession(ctx context.Context, id string) (*sessions.Session, error) {
	s, err := c.store.GetOneByID(ctx, id)
	switch {
	case err != nil:
		return nil, err
	case s == nil:
		return nil, sessions.SessionNotFound(id)
	}
	if e := sessions.NotLive(s, c.now()); e != nil {
		return nil, e
	}
	return s, nil
}
