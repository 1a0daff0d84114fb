package test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// outageConfig is the service over MongoDB with short timeouts.
const outageConfig = `
- descriptor: "pip-services:context-info:default:default:1.0"
  name: "service-sessions"
- descriptor: "service-sessions:persistence:mongodb:default:1.0"
  connection:
    uri: {{{MONGO_URI}}}
    database: outage
  options:
    connect_timeout: 5000
    operation_timeout: 1000
- descriptor: "service-sessions:controller:default:default:1.0"
- descriptor: "pip-services:endpoint:http:default:1.0"
  connection:
    port: 0
- descriptor: "service-sessions:service:commandable-http:default:1.0"
`

func TestAMongoDBOutageIsNoResponseAndTheServiceRecoversByItself(t *testing.T) {
	db := startMongoServer(t)
	base, _ := startText(t, outageConfig, map[string]string{"MONGO_URI": db.URI()})

	s := openSession(t, base, map[string]any{"user_id": "u1"})

	db.Stop(t)
	started := time.Now()
	r := call(t, http.MethodPost, base+"/v1/sessions/get_session_by_id?correlation_id=outage-1",
		map[string]any{"session_id": s["id"]})
	if took := time.Since(started); took > 5*time.Second {
		t.Errorf("request during the outage took %v; want it bounded by the operation timeout", took)
	}
	wantStatus(t, r, http.StatusInternalServerError)
	e := r.JSON(t)
	if e["category"] != "NoResponse" || e["code"] != "STORE_UNAVAILABLE" || e["correlation_id"] != "outage-1" {
		t.Errorf("error body: got %s; want NoResponse STORE_UNAVAILABLE with the correlation id", r.Body)
	}
	if strings.Contains(string(r.Body), db.URI()) {
		t.Errorf("error body names the database address: %s", r.Body)
	}

	db.Start(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r = command(t, base, "get_session_by_id", map[string]any{"session_id": s["id"]})
		if r.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the database came back: still %d %s", r.Status, r.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.JSON(t)["id"] != s["id"] {
		t.Errorf("after recovery: got %s; want the session opened before the outage", r.Body)
	}
}
