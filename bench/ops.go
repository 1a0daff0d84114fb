package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// The scenarios, in the order they run against one service: reads first,
// then the writes that add sessions.
const (
	opGetByID     = "get_session_by_id"
	opRenew       = "renew_session"
	opGetSessions = "get_sessions"
	opOpen        = "open_session"
	opQuotaOpen   = "quota_open_session"
	opEvictOpen   = "evict_open_session"
)

var allOps = []string{opGetByID, opRenew, opGetSessions, opOpen, opQuotaOpen, opEvictOpen}

// sessionsPerUser is how many preloaded sessions each user has, so
// get_sessions(user_id) returns a few sessions.
const sessionsPerUser = 4

// evictHomes is the number of homes of evict_open_session; each is full,
// so every open evicts.
const evictHomes = 1000

// fixture is what a service holds after the preload: sessions opened for
// users user-0 … user-(users-1), sessionsPerUser each.
type fixture struct {
	ids   []string
	users int
	// quotaHomes and evictHomes are the homes of quota_open_session and
	// evict_open_session, set up on setUpConns connections.
	quotaHomes, evictHomes, setUpConns int
}

// appendOpen appends an open_session body with small user and data
// payloads.
func appendOpen(b []byte, user string) []byte {
	b = append(b, `{"user_id":"`...)
	b = append(b, user...)
	b = append(b, `","user_name":"Name of `...)
	b = append(b, user...)
	b = append(b, `","address":"203.0.113.7","client":"web","user":{"id":"`...)
	b = append(b, user...)
	b = append(b, `","roles":["viewer"]},"data":{"theme":"dark","lang":"en"}}`...)
	return b
}

func userName(prefix string, i int) string { return prefix + strconv.Itoa(i) }

func appendUser(b []byte, prefix string, i int) []byte {
	return strconv.AppendInt(append(b, prefix...), int64(i), 10)
}

// openOp opens sessions for random users among n named prefix0 … prefix(n-1).
func openOp(name, prefix string, n int) op {
	return op{name: name, path: commandPath("open_session"), body: func(rng *rand.Rand, b []byte) []byte {
		var u [32]byte
		return appendOpen(b, string(appendUser(u[:0], prefix, rng.IntN(n))))
	}}
}

// idOp sends {"session_id": …} with a random preloaded id.
func idOp(name string, ids []string) op {
	return op{name: name, path: commandPath(name), body: func(rng *rand.Rand, b []byte) []byte {
		b = append(b, `{"session_id":"`...)
		b = append(b, ids[rng.IntN(len(ids))]...)
		return append(b, `"}`...)
	}}
}

// getSessionsOp lists the sessions of a random user among n named
// prefix0 … prefix(n-1).
func getSessionsOp(prefix string, n int) op {
	return op{name: opGetSessions, path: commandPath(opGetSessions), body: func(rng *rand.Rand, b []byte) []byte {
		b = append(b, `{"filter":{"user_id":"`...)
		b = appendUser(b, prefix, rng.IntN(n))
		return append(b, `"}}`...)
	}}
}

// scenario returns the op of a scenario against a preloaded fixture.
func (f *fixture) scenario(name string) op {
	switch name {
	case opGetByID, opRenew:
		return idOp(name, f.ids)
	case opGetSessions:
		return getSessionsOp("user-", f.users)
	case opOpen:
		// Users of their own, so the preloaded users keep their
		// sessionsPerUser sessions for get_sessions.
		return openOp(opOpen, "open-", f.users)
	case opQuotaOpen:
		o := openOp(opOpen, "quota-", f.quotaHomes)
		o.name = opQuotaOpen
		return o
	case opEvictOpen:
		o := openOp(opOpen, "home-", f.evictHomes)
		o.name = opEvictOpen
		return o
	}
	panic("unknown scenario " + name)
}

// commandPath is the path of a command of the sessions route.
func commandPath(name string) string { return "/" + sessions.SessionsRoute + "/" + name }

// post sends one request and fails on a status other than 2xx.
func post(c conn, path string, body []byte) ([]byte, error) {
	status, resp, err := c.post(path, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if status/100 != 2 {
		return nil, fmt.Errorf("%s: status %d: %.300s", path, status, resp)
	}
	return resp, nil
}

// setUpTries is how often a set-up request answered STORE_UNAVAILABLE is
// sent: the
// MongoDB test server can be slower than the service's operation timeout
// while it scans, and a set-up is not measured.
const setUpTries = 5

// postSetUp is post for set-up requests: it retries a STORE_UNAVAILABLE
// error (or a proxy's 503), after a pause that grows with each try.
func postSetUp(ctx context.Context, c conn, path string, body []byte) ([]byte, error) {
	for try := 1; ; try++ {
		status, resp, err := c.post(path, body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		switch {
		case status/100 == 2:
			return resp, nil
		case !unavailable(status, resp) || try == setUpTries:
			return nil, fmt.Errorf("%s: status %d after %d tries: %.300s", path, status, try, resp)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(try) * 200 * time.Millisecond):
		}
	}
}

// unavailable reports whether an answer says the store could not serve it
// now: the service's STORE_UNAVAILABLE error, or a proxy's 503.
func unavailable(status int, body []byte) bool {
	return status == http.StatusServiceUnavailable ||
		status == http.StatusInternalServerError && bytes.Contains(body, []byte(`"code":"STORE_UNAVAILABLE"`))
}

// preload opens n sessions through the API on many connections and
// returns their ids.
func preload(ctx context.Context, dial dialer, addr string, n int) (*fixture, error) {
	f := &fixture{ids: make([]string, n), users: max(n/sessionsPerUser, 1), evictHomes: evictHomes, setUpConns: 16}
	f.quotaHomes = f.users
	err := each(ctx, dial, addr, 16, n, func(c conn, i int) error {
		resp, err := post(c, commandPath("open_session"), appendOpen(nil, userName("user-", i%f.users)))
		if err != nil {
			return err
		}
		var s struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(resp, &s); err != nil || s.ID == "" {
			return fmt.Errorf("open_session answered %.300s: %v", resp, err)
		}
		f.ids[i] = s.ID
		return nil
	})
	return f, err
}

// setHomes gives each of n users prefix0 … a home of maxSessions places
// with the evict_oldest policy, on conns connections.
func setHomes(ctx context.Context, dial dialer, addr string, conns int, prefix string, n, maxSessions int) error {
	return each(ctx, dial, addr, conns, n, func(c conn, i int) error {
		body := fmt.Sprintf(`{"home":{"id":"%s%d","max_sessions":%d,"policy":"evict_oldest"}}`, prefix, i, maxSessions)
		_, err := postSetUp(ctx, c, "/"+sessions.HomesRoute+"/set_home", []byte(body))
		return err
	})
}

// setUp prepares a scenario: quota_open_session gives quotaHomes users
// (quota-0 …; as many as were preloaded, unless the target says fewer) a
// home with room to spare, so every open is counted but none evicts;
// evict_open_session fills evictHomes homes of 4 places, so every open
// evicts the least recently renewed session of its home.
func (f *fixture) setUp(ctx context.Context, dial dialer, addr, name string) error {
	switch name {
	case opQuotaOpen:
		return setHomes(ctx, dial, addr, f.setUpConns, "quota-", f.quotaHomes, 1000)
	case opEvictOpen:
		const places = 4
		if err := setHomes(ctx, dial, addr, f.setUpConns, "home-", f.evictHomes, places); err != nil {
			return err
		}
		return each(ctx, dial, addr, f.setUpConns, f.evictHomes*places, func(c conn, i int) error {
			_, err := postSetUp(ctx, c, commandPath("open_session"), appendOpen(nil, userName("home-", i%f.evictHomes)))
			return err
		})
	}
	return nil
}
