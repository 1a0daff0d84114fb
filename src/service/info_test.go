package service_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/service"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// faultyStore stands for the file persistence, whose journal can fail for good.
type faultyStore struct{ fault error }

func (s *faultyStore) Fault() error { return s.fault }

// heartbeatOverAFaultyStore registers the heartbeat on an endpoint beside a
// store that can fail for good.
func heartbeatOverAFaultyStore(t *testing.T) (*service.Endpoint, *faultyStore) {
	t.Helper()
	store := &faultyStore{}
	e := service.NewEndpoint()
	refs := container.NewReferences()
	refs.Put(service.EndpointLocator, e)
	refs.Put(container.MustDescriptor("service-sessions:persistence:file:default:1.0"), store)
	if err := service.NewHeartbeat().SetReferences(refs); err != nil {
		t.Fatal(err)
	}
	return e, store
}

func TestTheHeartbeatAnswers503OnceAComponentHasFailedForGood(t *testing.T) {
	e, store := heartbeatOverAFaultyStore(t)
	heartbeat := func() *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		e.Router().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/heartbeat", nil))
		return w
	}

	if w := heartbeat(); w.Code != http.StatusOK {
		t.Fatalf("while the store works: status %d %s; want 200", w.Code, w.Body)
	}

	store.fault = errors.New("write sessions.json.journal: no space left on device")
	w := heartbeat()
	var body sessions.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if w.Code != http.StatusServiceUnavailable || body.Code != sessions.CodeStoreUnavailable {
		t.Errorf("after the store failed: status %d, code %s; want 503 %s", w.Code, body.Code, sessions.CodeStoreUnavailable)
	}
}

func TestProbesMayAskTheHeartbeatWithHEAD(t *testing.T) {
	e, store := heartbeatOverAFaultyStore(t)
	server := httptest.NewServer(e.Router())
	t.Cleanup(server.Close)
	head := func() int {
		resp, err := http.Head(server.URL + "/heartbeat")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if status := head(); status != http.StatusOK {
		t.Errorf("HEAD /heartbeat while the store works: status %d; want 200", status)
	}
	store.fault = errors.New("write sessions.json.journal: no space left on device")
	if status := head(); status != http.StatusServiceUnavailable {
		t.Errorf("HEAD /heartbeat after the store failed: status %d; want 503", status)
	}
}

func TestTheStatusShowsTheVersionUnlessTheConfigSetsOne(t *testing.T) {
	tests := []struct {
		name       string
		properties map[string]any
		want       string
	}{
		{"the build's", map[string]any{"region": "eu"}, container.Version()},
		{"the config's", map[string]any{"version": "2.3.0"}, "2.3.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := container.NewContextInfo()
			if err := info.Configure(container.Config{"properties": tt.properties}); err != nil {
				t.Fatal(err)
			}
			e := service.NewEndpoint()
			refs := container.NewReferences()
			refs.Put(service.EndpointLocator, e)
			refs.Put(container.ContextInfoDescriptor, info)
			if err := service.NewStatus().SetReferences(refs); err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			e.Router().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/status", nil))
			var body struct {
				Properties map[string]string `json:"properties"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if got := body.Properties["version"]; got != tt.want {
				t.Errorf("version property: got %q; want %q", got, tt.want)
			}
		})
	}
}
