package service_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/persistence"
	"github.com/sessionsd/service-sessions-go/src/service"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// stallingStore holds a Create until release is closed, then stores the
// session and says whether the command's context ended meanwhile.
type stallingStore struct {
	*persistence.Memory
	reached, release chan struct{}
	ended            chan error
}

func (s *stallingStore) Create(ctx context.Context, session *sessions.Session) (*sessions.Session, error) {
	close(s.reached)
	var ended error
	select {
	case <-ctx.Done():
		ended = ctx.Err()
	case <-s.release:
	}
	defer func() { s.ended <- ended }()
	return s.Memory.Create(ctx, session)
}

// A client that goes away does not stop its command half-way: the open
// goes on and stores its session.
func TestACommandRunsToItsEndWhenItsClientGoesAway(t *testing.T) {
	store := &stallingStore{Memory: persistence.NewMemory(), reached: make(chan struct{}), release: make(chan struct{}), ended: make(chan error, 1)}
	ctrl := logic.NewController(store, nil)
	if err := ctrl.Configure(container.Config{}); err != nil {
		t.Fatal(err)
	}
	controller := container.MustDescriptor("service-sessions:controller:default:default:1.0")
	e := service.NewEndpoint()
	if err := e.Configure(container.Config{"connection": map[string]any{"host": "127.0.0.1", "port": 0}}); err != nil {
		t.Fatal(err)
	}
	refs := container.NewReferences()
	refs.Put(controller, ctrl)
	refs.Put(container.MustDescriptor("pip-services:endpoint:http:default:1.0"), e)
	if err := service.NewCommandableHTTP(controller).SetReferences(refs); err != nil {
		t.Fatal(err)
	}
	if err := e.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })

	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.URL()+"/v1/sessions/open_session", strings.NewReader(`{"user_id":"gone"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	answered := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	<-store.reached
	cancel() // the client goes away while the session is being stored
	if err := <-answered; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: got %v; want its own cancellation", err)
	}
	// The server sees the connection close at once; give the command half
	// a second to be stopped, which it must not be.
	time.AfterFunc(500*time.Millisecond, func() { close(store.release) })
	if err := <-store.ended; err != nil {
		t.Fatalf("the command's context ended with the client: %v", err)
	}
	page, err := store.GetPageByFilter(t.Context(), sessions.Filter{UserID: "gone"}, sessions.Paging{Take: 10})
	if err != nil || len(page.Data) != 1 {
		t.Errorf("sessions of the client that went away: got %v, %v; want the one it opened", page, err)
	}
}
