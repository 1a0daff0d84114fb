package sessions

import "time"

// Routes of the commands: each is POST /<route>/<command>.
const (
	SessionsRoute = "v1/sessions"
	HomesRoute    = "v1/homes"
	DevicesRoute  = "v1/devices"
)

// The event and notification streams: GET /<SessionsRoute>/<stream>.
const (
	EventsStream        = "events"
	NotificationsStream = "notifications"
	// StreamRetry is how long the service asks a stream's client to wait
	// before it reconnects (the Server-Sent Events retry field).
	StreamRetry = 2 * time.Second
)

// Defaults of the service's options, as the Node service has them; the
// SDK's fake keeps the same.
const (
	// DefaultExpireTimeout is how long a session may go without a request
	// before the sweep closes it.
	DefaultExpireTimeout = 24 * time.Hour
	// DefaultLeaseTimeout is the lease of the sessions of a home that sets
	// none.
	DefaultLeaseTimeout = 120 * time.Second
	// DefaultMaxPageSize is the largest page get_sessions returns.
	DefaultMaxPageSize = 100
)

// Length bounds of the text arguments, in characters (code points). The
// command definitions name them in their max tags ("session_id", "id"); a
// text argument that names none is bounded by MaxTextLength.
const (
	// MaxSessionIDLength bounds session ids: session_id and parent_id.
	MaxSessionIDLength = 64
	// MaxIDLength bounds every other id and short name: user_id,
	// device_id, home ids, push addresses, client, address, user_name.
	MaxIDLength = 256
	// MaxTextLength bounds any other text argument, every filter value
	// and the streams' query values.
	MaxTextLength = 1024
)
