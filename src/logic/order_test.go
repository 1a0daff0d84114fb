package logic_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/events"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// gatedStore stops the first change it is told to stop right after the
// change is stored, until released: the caller has not had the answer yet
// and so has not published its event.
type gatedStore struct {
	*persistence.Memory
	armed   atomic.Bool
	stored  chan struct{}
	release chan struct{}
}

func newGatedStore() *gatedStore {
	return &gatedStore{Memory: persistence.NewMemory(), stored: make(chan struct{}), release: make(chan struct{})}
}

func (g *gatedStore) hold() {
	if g.armed.CompareAndSwap(true, false) {
		close(g.stored)
		<-g.release
	}
}

func (g *gatedStore) Create(ctx context.Context, s *sessions.Session) (*sessions.Session, error) {
	defer g.hold()
	return g.Memory.Create(ctx, s)
}

func (g *gatedStore) Update(ctx context.Context, id string, u sessions.Update) (*sessions.Session, error) {
	defer g.hold()
	return g.Memory.Update(ctx, id, u)
}

// step is a command on the session a test opened.
type step struct {
	command string
	args    func(s *sessions.Session) string
}

func (st step) run(c *logic.Controller, s *sessions.Session) error {
	_, err := run(c, st.command, st.args(s))
	return err
}

func sessionArgs(s *sessions.Session) string { return `{"session_id":"` + s.ID + `"}` }

func fixedArgs(args string) func(*sessions.Session) string {
	return func(*sessions.Session) string { return args }
}

func TestTheEventsOfASessionLeaveInTheOrderItsChangesWereStored(t *testing.T) {
	tests := []struct {
		name string
		// first's change is stored and held there before second starts.
		first, second step
		want          []string
	}{
		{
			name:   "a renewal, then a logout from the device",
			first:  step{"renew_session", sessionArgs},
			second: step{"close_session", sessionArgs},
			want:   []string{sessions.EventRenewed, sessions.EventClosed},
		},
		{
			name:   "an open, then a logout from all devices",
			first:  step{"open_session", fixedArgs(`{"user_id":"u2"}`)},
			second: step{"close_user_sessions", fixedArgs(`{"user_id":"u2"}`)},
			want:   []string{sessions.EventOpened, sessions.EventClosed},
		},
		{
			name:   "the expiry sweep, then a delete",
			first:  step{"close_expired_sessions", fixedArgs(``)},
			second: step{"delete_session_by_id", sessionArgs},
			want:   []string{sessions.EventExpired, sessions.EventDeleted},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newGatedStore()
			c, clk := newControllerOver(t, store, container.Config{"options": map[string]any{"expire_timeout": "60000"}})
			s := open(t, c, `{"user_id":"u1"}`)
			clk.advance(2 * time.Minute) // s is idle past the expire timeout
			sub, err := c.Events().Subscribe(t.Context(), events.Filter{}, events.Resume{})
			if err != nil {
				t.Fatal(err)
			}
			store.armed.Store(true)

			firstDone, secondDone := make(chan error, 1), make(chan error, 1)
			go func() { firstDone <- tt.first.run(c, s) }()
			<-store.stored
			go func() { secondDone <- tt.second.run(c, s) }()
			select { // a second change that did not wait for the first's event would be done by now
			case err := <-secondDone:
				secondDone <- err
			case <-time.After(100 * time.Millisecond):
			}
			close(store.release)
			for _, done := range []chan error{firstDone, secondDone} {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}

			var got []string
			for len(got) < len(tt.want) {
				select {
				case e := <-sub.Events():
					got = append(got, e.Type)
				case <-time.After(5 * time.Second):
					t.Fatalf("events: got %v; want %v", got, tt.want)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("events: got %v; want %v", got, tt.want)
			}
		})
	}
}

// failingUpdates fails every Update after the first allowed ones and
// counts those it failed.
type failingUpdates struct {
	*persistence.Memory
	allowed, failed atomic.Int64
}

func (f *failingUpdates) Update(ctx context.Context, id string, u sessions.Update) (*sessions.Session, error) {
	if f.allowed.Add(-1) < 0 {
		f.failed.Add(1)
		return nil, sessions.Unavailable(errors.New("the store is down"))
	}
	return f.Memory.Update(ctx, id, u)
}

func TestTheSweepClosesEachExpiredSessionAndStopsAtTheFirstError(t *testing.T) {
	const idle = 100
	tests := []struct {
		name       string
		allowed    int64
		wantClosed int
		wantErr    bool
	}{
		{"the store answers", idle, idle, false},
		{"the store fails after 10 closes", 10, 10, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &failingUpdates{Memory: persistence.NewMemory()}
			store.allowed.Store(1 << 30)
			c, clk := newControllerOver(t, store, container.Config{"options": map[string]any{"expire_timeout": "60000"}})
			for range idle {
				open(t, c, `{"user_id":"u1"}`)
			}
			clk.advance(2 * time.Minute)
			fresh := open(t, c, `{"user_id":"u1"}`)
			sub, err := c.Events().Subscribe(t.Context(), events.Filter{}, events.Resume{})
			if err != nil {
				t.Fatal(err)
			}
			store.allowed.Store(tt.allowed)

			_, err = run(c, "close_expired_sessions", ``)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("close_expired_sessions: got %v; want an error: %v", err, tt.wantErr)
			}
			sub.Close()
			closed := 0
			for e := range sub.Events() {
				if e.Type != sessions.EventExpired || e.Session.ID == fresh.ID {
					t.Errorf("event: got %s of %s; want only the idle sessions expired", e.Type, e.Session.ID)
				}
				closed++
			}
			if closed != tt.wantClosed {
				t.Errorf("expired events: got %d; want %d", closed, tt.wantClosed)
			}
			page := execute(t, c, "get_sessions", `{"filter":{"active":false},"paging":{"total":true}}`).(*sessions.Page)
			if int(*page.Total) != tt.wantClosed {
				t.Errorf("closed sessions: got %d; want %d", *page.Total, tt.wantClosed)
			}
			// Going on after the first error would fail every one left.
			if left := idle - tt.wantClosed; left > 0 && store.failed.Load() >= int64(left) {
				t.Errorf("failed closes: got %d; want the sweep to stop well before all %d left", store.failed.Load(), left)
			}
		})
	}
}
