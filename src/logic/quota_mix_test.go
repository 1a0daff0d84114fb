package logic_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Opens by account and by device, renewals, closes, deletes, devices
// moving between accounts, changes of policy, lapsing leases and sweeps,
// any mix of them in parallel, never leave a home with more live sessions
// than its places, counted at any moment the clock stands still; and when
// they are all gone, each home admits exactly its limit again: no place is
// lost to a session that is no longer there.
func TestAnyParallelMixKeepsAHomeWithinItsLimitAndLosesNoPlace(t *testing.T) {
	const limit = 3
	stores := map[string]func(t *testing.T) logic.Store{
		"memory": func(*testing.T) logic.Store { return persistence.NewMemory() },
		"file": func(t *testing.T) logic.Store {
			f := persistence.NewFile(filepath.Join(t.TempDir(), "sessions.json"))
			if err := f.Open(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close(context.Background()) })
			return f
		},
	}
	for name, store := range stores {
		for _, policy := range []string{sessions.PolicyDeny, sessions.PolicyEvictOldest} {
			t.Run(name+"/"+policy, func(t *testing.T) {
				clk := &safeClock{t: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
				c := logic.NewController(store(t), clk.now)
				if err := c.Configure(container.Config{}); err != nil {
					t.Fatal(err)
				}
				mix := &quotaMix{t: t, c: c, clk: clk, limit: limit}
				mix.setHomes(policy)
				var wg sync.WaitGroup
				for w := range 8 {
					wg.Go(func() { mix.run(rand.New(rand.NewPCG(uint64(w), 1)), 300) })
				}
				wg.Wait()
				if mix.most < limit {
					t.Fatalf("the mix held at most %d live sessions at once in a home (of %d opened); want homes filled", mix.most, mix.opened)
				}

				// Every lease lapses, and the sweep closes what is left.
				clk.set(clk.now().Add(time.Minute))
				execute(t, c, "close_expired_sessions", ``)
				mix.setHomes(policy)
				for _, home := range mixHomes {
					for i := range limit {
						open(t, c, fmt.Sprintf(`{"user_id":%q,"device_id":"after-%d"}`, home, i))
					}
					_, err := run(c, "open_session", fmt.Sprintf(`{"user_id":%q,"device_id":"one-more"}`, home))
					if policy == sessions.PolicyDeny {
						wantCode(t, err, sessions.CodeMaxSessionsExceeded)
					} else if err != nil {
						t.Fatalf("an evicting open into the full home %s: %v", home, err)
					}
					if n := mix.live(home); n != limit {
						t.Errorf("live sessions of %s after the mix: got %d; want %d", home, n, limit)
					}
				}
			})
		}
	}
}

// mixHomes are the accounts of the mix, each with a home.
var mixHomes = []string{"acct-1", "acct-2"}

// quotaMix runs random commands on one home's sessions from several
// goroutines.
type quotaMix struct {
	t     *testing.T
	c     *logic.Controller
	clk   *safeClock
	limit int

	// still stops the clock while the live sessions are counted, so the
	// count is of one moment.
	still sync.Mutex

	mu     sync.Mutex
	ids    []string
	opened int
	most   int // live sessions at once, the most counted
}

// allowed are the refusals the mix may meet: a full home, a session that
// was closed, deleted or lapsed meanwhile, a device that is not registered
// or that moved while its session opened.
var allowed = []string{sessions.CodeMaxSessionsExceeded, sessions.CodeSessionNotFound, sessions.CodeSessionExpired,
	sessions.CodeDeviceNotRegistered, sessions.CodeDeviceMoved}

// setHomes gives each account a home of the mix's limit with policy.
func (m *quotaMix) setHomes(policy string) {
	for _, home := range mixHomes {
		m.try("set_home", fmt.Sprintf(`{"home":{"id":%q,"max_sessions":%d,"lease_timeout":10000,"policy":%q}}`, home, m.limit, policy))
	}
}

func (m *quotaMix) run(rnd *rand.Rand, steps int) {
	for range steps {
		id, home, device := m.someID(rnd), pick(rnd, mixHomes), fmt.Sprintf("d%d", rnd.IntN(8))
		switch k := rnd.IntN(16); {
		case k < 3:
			m.try("open_session", fmt.Sprintf(`{"user_id":%q,"device_id":%q}`, home, device))
		case k < 5:
			m.try("open_session", fmt.Sprintf(`{"device_id":%q}`, device)) // into the device's account
		case k == 5:
			m.try("register_device", fmt.Sprintf(`{"device_id":%q,"user_id":%q}`, device, home))
		case k == 6:
			m.try("delete_device", fmt.Sprintf(`{"device_id":%q}`, device))
		case k == 7:
			m.setHomes(pick(rnd, []string{sessions.PolicyDeny, sessions.PolicyEvictOldest}))
		case k == 8 && id != "":
			m.try("close_session", `{"session_id":"`+id+`"}`)
		case k == 9 && id != "":
			m.try("renew_session", `{"session_id":"`+id+`"}`)
		case k == 10 && id != "":
			m.try("delete_session_by_id", `{"session_id":"`+id+`"}`)
		case k == 11:
			m.still.Lock()
			m.clk.set(m.clk.now().Add(time.Duration(rnd.IntN(4000)) * time.Millisecond))
			m.still.Unlock()
		case k == 12:
			m.try("close_expired_sessions", ``)
		default:
			m.still.Lock()
			n := m.live(home)
			m.still.Unlock()
			m.mu.Lock()
			m.most = max(m.most, n)
			m.mu.Unlock()
			if n > m.limit {
				m.t.Errorf("live sessions of %s: got %d; want at most %d", home, n, m.limit)
			}
		}
	}
}

func pick[T any](rnd *rand.Rand, from []T) T { return from[rnd.IntN(len(from))] }

func (m *quotaMix) someID(rnd *rand.Rand) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.ids) == 0 {
		return ""
	}
	return m.ids[len(m.ids)-1-rnd.IntN(min(len(m.ids), 12))] // mostly recent ones
}

// try runs a command and fails the test on an error that is not a refusal
// the mix allows.
func (m *quotaMix) try(name, args string) {
	r, err := run(m.c, name, args)
	var e *sessions.Error
	switch {
	case err == nil:
		if s, ok := r.(*sessions.Session); ok && name == "open_session" {
			m.mu.Lock()
			m.ids = append(m.ids, s.ID)
			m.opened++
			m.mu.Unlock()
		}
	case !errors.As(err, &e) || !slices.Contains(allowed, e.Code):
		m.t.Errorf("%s %s: %v", name, args, err)
	}
}

// live counts the sessions of a home live now.
func (m *quotaMix) live(home string) int {
	r, err := run(m.c, "get_sessions", fmt.Sprintf(`{"filter":{"user_id":%q,"active":true},"paging":{"total":true}}`, home))
	if err != nil {
		m.t.Errorf("get_sessions: %v", err)
		return 0
	}
	return int(*r.(*sessions.Page).Total)
}
