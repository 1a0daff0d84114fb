package test

import (
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// backend boots the shipped config over one persistence and returns its URL.
type backend struct {
	name  string
	start func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{"memory", startMemory},
		{"file", func(t *testing.T) string {
			base, _ := startConfig(t, repoFile("config", "config.yml"), map[string]string{
				"FILE_ENABLED": "true", "FILE_PATH": filepath.Join(t.TempDir(), "sessions.json")})
			return base
		}},
		{"mongodb", func(t *testing.T) string {
			return startMongoService(t, mongoParams(t))
		}},
	}
}

// mongoParams returns the template parameters of a fresh database on the
// shared MongoDB-wire test server.
func mongoParams(t *testing.T) map[string]string {
	t.Helper()
	uri := mongoURI(t)
	return map[string]string{"MONGO_ENABLED": "true", "MONGO_SERVICE_URI": uri, "MONGO_DB": mongoDatabase(t, uri)}
}

// startMongoService boots one service instance over MongoDB.
func startMongoService(t *testing.T, params map[string]string) string {
	t.Helper()
	base, _ := startConfig(t, repoFile("config", "config.yml"), params)
	return base
}

func homes(t *testing.T, base, name string, args any) response {
	t.Helper()
	return call(t, http.MethodPost, base+"/v1/homes/"+name, args)
}

// openInParallel opens n sessions of user at once, spreading them over
// bases, and returns how many succeeded and how many were refused with 409.
func openInParallel(t *testing.T, bases []string, user string, n int) (opened, denied int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := command(t, bases[i%len(bases)], "open_session", map[string]any{"user_id": user, "device_id": "d" + strconv.Itoa(i)})
			mu.Lock()
			defer mu.Unlock()
			switch r.Status {
			case http.StatusOK:
				opened++
			case http.StatusConflict:
				if code := r.JSON(t)["code"]; code != "MAX_SESSIONS_EXCEEDED" {
					t.Errorf("409 code: got %v; want MAX_SESSIONS_EXCEEDED", code)
				}
				denied++
			default:
				t.Errorf("open: got %d %s", r.Status, r.Body)
			}
		})
	}
	wg.Wait()
	return opened, denied
}

func activeCount(t *testing.T, base, home string) float64 {
	t.Helper()
	r := homes(t, base, "get_home", map[string]any{"home_id": home})
	wantStatus(t, r, http.StatusOK)
	return r.JSON(t)["active_count"].(float64)
}

func TestSixtyFourParallelOpensAgainstALimitOfThreeGiveExactlyThree(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			base := b.start(t)
			wantStatus(t, homes(t, base, "set_home", map[string]any{"home": map[string]any{"id": "acct", "max_sessions": 3}}), http.StatusOK)
			opened, denied := openInParallel(t, []string{base}, "acct", 64)
			if opened != 3 || denied != 61 {
				t.Errorf("got %d opened and %d denied; want 3 and 61", opened, denied)
			}
			if n := activeCount(t, base, "acct"); n != 3 {
				t.Errorf("active sessions: got %v; want 3", n)
			}
		})
	}
}

func TestEvictOldestKeepsExactlyTheLimitUnderParallelOpens(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			base := b.start(t)
			wantStatus(t, homes(t, base, "set_home", map[string]any{"home": map[string]any{
				"id": "acct", "max_sessions": 3, "policy": "evict_oldest"}}), http.StatusOK)
			// Every open gets in, each but the first three by evicting
			// the oldest: those that find every place just taken, its
			// session being stored, wait for it rather than give up. On
			// the MongoDB test server, whose every write scans, 32 opens
			// of one home in a row may outlast an open's patience, and
			// those refused are refused as full (openInParallel checks).
			opened, _ := openInParallel(t, []string{base}, "acct", 32)
			want := 32
			if b.name == "mongodb" {
				want = 3
			}
			if opened < want {
				t.Errorf("opened: got %d; want at least %d of 32", opened, want)
			}
			if n := activeCount(t, base, "acct"); n != 3 {
				t.Errorf("active sessions: got %v; want 3", n)
			}
			r := command(t, base, "get_sessions", map[string]any{"filter": map[string]any{"user_id": "acct", "active": false},
				"paging": map[string]any{"total": true}})
			if evicted := r.JSON(t)["total"].(float64); int(evicted) != opened-3 {
				t.Errorf("evicted sessions: got %v; want %d (opened - 3)", evicted, opened-3)
			}
		})
	}
}

func TestTwoInstancesOnOneMongoDBNeverExceedTheLimit(t *testing.T) {
	params := mongoParams(t)
	a, b := startMongoService(t, params), startMongoService(t, params)
	wantStatus(t, homes(t, a, "set_home", map[string]any{"home": map[string]any{"id": "acct", "max_sessions": 3}}), http.StatusOK)
	opened, denied := openInParallel(t, []string{a, b}, "acct", 64)
	if opened != 3 || denied != 61 {
		t.Errorf("got %d opened and %d denied over two instances; want 3 and 61", opened, denied)
	}
	for _, base := range []string{a, b} {
		if n := activeCount(t, base, "acct"); n != 3 {
			t.Errorf("active sessions seen from %s: got %v; want 3", base, n)
		}
	}
}

func TestHomesAndDevicesOverHTTP(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			base := b.start(t)
			r := homes(t, base, "set_home", map[string]any{"home": map[string]any{"id": "acct", "max_sessions": 1, "lease_timeout": 60000}})
			wantStatus(t, r, http.StatusOK)
			if h := r.JSON(t); h["policy"] != "deny" || h["lease_timeout"] != 60000.0 {
				t.Errorf("set_home: got %s; want policy deny (the default) and the lease", r.Body)
			}
			wantStatus(t, call(t, http.MethodPost, base+"/v1/devices/register_device", map[string]any{"device_id": "tv", "user_id": "acct"}), http.StatusOK)

			s := openSession(t, base, map[string]any{"device_id": "tv"})
			if s["user_id"] != "acct" || s["expire_time"] == nil {
				t.Errorf("open by device: got %v; want a session of acct with a lease", s)
			}
			r = command(t, base, "open_session", map[string]any{"user_id": "acct", "device_id": "phone"})
			wantStatus(t, r, http.StatusConflict)
			details := r.JSON(t)["details"].(map[string]any)
			if details["max_sessions"] != 1.0 || len(details["active"].([]any)) != 1 {
				t.Fatalf("409 details: got %v; want max_sessions 1 and the active session", details)
			}
			if a := details["active"].([]any)[0].(map[string]any); a["id"] != s["id"] || a["device_id"] != "tv" || a["client"] != nil {
				t.Errorf("409 details active: got %v; want the session on tv, client null as the session writes it", a)
			}

			r = command(t, base, "renew_session", map[string]any{"session_id": s["id"]})
			wantStatus(t, r, http.StatusOK)
			wantStatus(t, command(t, base, "close_session", map[string]any{"session_id": s["id"]}), http.StatusOK)
			r = command(t, base, "renew_session", map[string]any{"session_id": s["id"]})
			wantStatus(t, r, http.StatusNotFound)
			if code := r.JSON(t)["code"]; code != "SESSION_NOT_FOUND" {
				t.Errorf("renew closed: got code %v; want SESSION_NOT_FOUND", code)
			}

			r = command(t, base, "open_session", map[string]any{"device_id": "ghost"})
			wantStatus(t, r, http.StatusNotFound)
			if code := r.JSON(t)["code"]; code != "DEVICE_NOT_REGISTERED" {
				t.Errorf("unregistered device: got code %v; want DEVICE_NOT_REGISTERED", code)
			}

			r = homes(t, base, "get_homes", map[string]any{"paging": map[string]any{"total": true}})
			wantStatus(t, r, http.StatusOK)
			if r.JSON(t)["total"] != 1.0 {
				t.Errorf("get_homes: got %s; want one home", r.Body)
			}
			r = call(t, http.MethodPost, base+"/v1/devices/get_devices", map[string]any{"filter": map[string]any{"user_id": "acct"}})
			wantStatus(t, r, http.StatusOK)
			if n := len(r.JSON(t)["data"].([]any)); n != 1 {
				t.Errorf("get_devices: got %d; want 1", n)
			}
			wantStatus(t, homes(t, base, "delete_home", map[string]any{"home_id": "acct"}), http.StatusOK)
			wantStatus(t, homes(t, base, "get_home", map[string]any{"home_id": "acct"}), http.StatusNoContent)
		})
	}
}

func TestBadHomeInputIs400(t *testing.T) {
	base := startMemory(t)
	for _, home := range []map[string]any{
		{"id": "a", "max_sessions": -1},
		{"id": "a", "max_sessions": 1e9},
		{"id": "a", "max_sessions": 1, "lease_timeout": -1},
		{"id": "a", "max_sessions": 1, "policy": "lottery"},
		{"max_sessions": 1},
	} {
		r := homes(t, base, "set_home", map[string]any{"home": home})
		wantStatus(t, r, http.StatusBadRequest)
		if code := r.JSON(t)["code"]; code != "INVALID_DATA" {
			t.Errorf("set_home %v: got code %v; want INVALID_DATA", home, code)
		}
	}
}

// The routes read request fields by their proto names (device_id) or by
// their camelCase JSON names (deviceId), as protobuf's JSON mapping, which
// the sample's clients use, reads both.
func TestCloudstateSessionManagerRoutes(t *testing.T) {
	for _, naming := range []struct {
		name string
		key  func(string) string
	}{
		{"proto names", func(k string) string { return k }},
		{"camelCase names", func(k string) string {
			return map[string]string{"max_nb_of_session": "maxNbOfSession", "device_id": "deviceId",
				"session_id": "sessionId", "account_id": "accountId"}[k]
		}},
	} {
		t.Run(naming.name, func(t *testing.T) {
			key := naming.key
			base := startMemory(t)
			post := func(path string, body any) response {
				t.Helper()
				return call(t, http.MethodPost, base+path, body)
			}
			wantStatus(t, post("/home/acct/sessions/setMaxSession", map[string]any{key("max_nb_of_session"): 1}), http.StatusOK)

			r := post("/home/acct/sessions/create", map[string]any{key("device_id"): "tv"})
			wantStatus(t, r, http.StatusOK)
			created := r.JSON(t)
			exp, err := strconv.ParseInt(created["expiration"].(string), 10, 64)
			if created["accountId"] != "acct" || created["sessionId"] == "" || err != nil || exp < time.Now().Unix() {
				t.Fatalf("create: got %s; want accountId, sessionId and a future expiration in epoch seconds", r.Body)
			}
			r = post("/home/acct/sessions/create", map[string]any{key("device_id"): "phone"})
			wantStatus(t, r, http.StatusConflict)
			// Named both ways alike (the same text however written, or one
			// null), one device: its session is renewed.
			for _, body := range []string{`{"device_id":"tv","deviceId":"tv"}`, `{"device_id":"t\u0076","deviceId":"tv"}`,
				`{"device_id":null,"deviceId":"tv"}`} {
				r = post("/home/acct/sessions/create", body)
				wantStatus(t, r, http.StatusOK)
				if r.JSON(t)["sessionId"] != created["sessionId"] {
					t.Errorf("create with %s: got %s; want tv's session", body, r.Body)
				}
			}

			r = post("/home/acct/sessions/heartbeat", map[string]any{key("session_id"): created["sessionId"]})
			wantStatus(t, r, http.StatusOK)
			if r.JSON(t)["sessionId"] != created["sessionId"] {
				t.Errorf("heartbeat: got %s; want the same session", r.Body)
			}
			wantStatus(t, post("/home/other/sessions/heartbeat", map[string]any{key("session_id"): created["sessionId"]}), http.StatusNotFound)

			r = call(t, http.MethodGet, base+"/homes/acct", nil)
			wantStatus(t, r, http.StatusOK)
			home := r.JSON(t)
			list := home["sessions"].([]any)
			if home["maxSessions"] != 1.0 || len(list) != 1 || list[0].(map[string]any)["deviceId"] != "tv" {
				t.Errorf("GET /homes/acct: got %s; want one session on tv and maxSessions 1", r.Body)
			}

			r = post("/home/acct/sessions/teardown", map[string]any{key("session_id"): created["sessionId"]})
			wantStatus(t, r, http.StatusOK)
			if string(r.Body) != "{}" {
				t.Errorf("teardown: got %s; want {}", r.Body)
			}

			wantStatus(t, post("/device/box-1/create?account_id=acct", nil), http.StatusOK)
			wantStatus(t, post("/device/box-2/create", map[string]any{key("account_id"): "acct"}), http.StatusOK)
			// The account in the query and in the body, the same: one account.
			wantStatus(t, post("/device/box-3/create?account_id=acct", map[string]any{key("account_id"): "acct"}), http.StatusOK)
			r = call(t, http.MethodGet, base+"/devices/box-1", nil)
			wantStatus(t, r, http.StatusOK)
			if r.JSON(t)["accountId"] != "acct" {
				t.Errorf("GET /devices/box-1: got %s; want accountId acct", r.Body)
			}
			r = post("/device/box-1/sessions/create", nil)
			wantStatus(t, r, http.StatusOK)
			if r.JSON(t)["accountId"] != "acct" {
				t.Errorf("device session create: got %s; want accountId acct", r.Body)
			}
			wantStatus(t, post("/device/box-1/delete", nil), http.StatusOK)
			r = call(t, http.MethodGet, base+"/devices/box-1", nil)
			wantStatus(t, r, http.StatusNotFound)
			if code := r.JSON(t)["code"]; code != "DEVICE_NOT_REGISTERED" {
				t.Errorf("deleted device: got code %v; want DEVICE_NOT_REGISTERED with the error body", code)
			}
			r = post("/home/acct/sessions/setMaxSession", map[string]any{key("max_nb_of_session"): -4})
			wantStatus(t, r, http.StatusBadRequest)
		})
	}
}

// Where the sample's model differs from the service's, the routes follow
// the service: an account has a home only once one is set, and a teardown
// names a session of the account.
func TestCloudstateRoutesOnAnAccountWithoutAHome(t *testing.T) {
	base := startMemory(t)
	r := call(t, http.MethodPost, base+"/home/acct/sessions/create", map[string]any{"device_id": "tv"})
	wantStatus(t, r, http.StatusOK)
	if created := r.JSON(t); created["accountId"] != "acct" || created["sessionId"] == "" || created["expiration"] != "0" {
		t.Errorf("create without a home: got %s; want a session without a lease, expiration \"0\"", r.Body)
	}
	for _, device := range []string{"phone", "laptop"} { // no quota: the sample's would refuse the third
		wantStatus(t, call(t, http.MethodPost, base+"/home/acct/sessions/create", map[string]any{"device_id": device}), http.StatusOK)
	}
	r = call(t, http.MethodGet, base+"/homes/acct", nil)
	wantStatus(t, r, http.StatusNotFound)
	if code := r.JSON(t)["code"]; code != "NOT_FOUND" {
		t.Errorf("GET /homes/acct without a home: got code %v; want NOT_FOUND", code)
	}
	r = call(t, http.MethodPost, base+"/home/acct/sessions/teardown", map[string]any{"session_id": strings.Repeat("0", 32)})
	wantStatus(t, r, http.StatusNotFound)
	if code := r.JSON(t)["code"]; code != "SESSION_NOT_FOUND" {
		t.Errorf("teardown of an unknown session: got code %v; want SESSION_NOT_FOUND", code)
	}
}

func TestBadInputOnTheCloudstateRoutesIsA4xxErrorBodyAndStoresNothing(t *testing.T) {
	base := startMemory(t)
	long := strings.Repeat("x", 257)
	deep := strings.Repeat(`{"a":`, 20_000) + "1" + strings.Repeat("}", 20_000)
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"malformed JSON", "/home/acct/sessions/create", `{"device_id":`, 400, "BAD_JSON"},
		{"not an object", "/home/acct/sessions/create", `["tv"]`, 400, "INVALID_DATA"}, // as the commands answer
		{"hostile nesting", "/home/acct/sessions/create", `{"device_id":"tv","x":` + deep + `}`, 400, "BAD_JSON"},
		{"nesting past the body's limit", "/home/acct/sessions/create", `{"device_id":"tv","x":` + deep[:5*65] + "1" + deep[len(deep)-65:] + `}`, 400, "INVALID_DATA"},
		{"device_id not a string", "/home/acct/sessions/create", `{"device_id":{"id":"tv"}}`, 400, "INVALID_DATA"},
		{"oversize device_id", "/home/acct/sessions/create", `{"device_id":"` + long + `"}`, 400, "INVALID_DATA"},
		{"oversize account in the path", "/home/" + long + "/sessions/create", `{}`, 400, "INVALID_DATA"},
		{"oversize account in the query", "/device/box/create?account_id=" + long, ``, 400, "INVALID_DATA"},
		{"two accounts in the query", "/device/box/create?account_id=acct&account_id=other", ``, 400, "INVALID_DATA"},
		{"one account in the query, another in the body", "/device/box/create?account_id=acct", `{"account_id":"other"}`, 400, "INVALID_DATA"},
		{"a device by both its names, different", "/home/acct/sessions/create", `{"device_id":"tv","deviceId":"phone"}`, 400, "INVALID_DATA"},
		{"an account in the path that is not UTF-8", "/home/acct-%FF/sessions/create", `{}`, 400, "INVALID_DATA"},
		{"a device in the path that is not UTF-8", "/device/box-%FF/create?account_id=acct", ``, 400, "INVALID_DATA"},
		{"missing session_id", "/home/acct/sessions/heartbeat", `{}`, 400, "INVALID_DATA"},
		{"session_id not a string", "/home/acct/sessions/teardown", `{"session_id":[1]}`, 400, "INVALID_DATA"},
		{"missing max_nb_of_session", "/home/acct/sessions/setMaxSession", `{}`, 400, "INVALID_DATA"},
		{"max_nb_of_session not an integer", "/home/acct/sessions/setMaxSession", `{"max_nb_of_session":"three"}`, 400, "INVALID_DATA"},
		{"max_nb_of_session a fraction", "/home/acct/sessions/setMaxSession", `{"max_nb_of_session":2.5}`, 400, "INVALID_DATA"},
		{"max_nb_of_session not a number", "/home/acct/sessions/setMaxSession", `{"max_nb_of_session":"NaN"}`, 400, "INVALID_DATA"},
		{"max_nb_of_session infinite", "/home/acct/sessions/setMaxSession", `{"max_nb_of_session":"Infinity"}`, 400, "INVALID_DATA"},
		{"missing account_id", "/device/box/create", `{}`, 400, "INVALID_DATA"},
		{"oversize body", "/device/box/create", `{"account_id":"acct","pad":"` + strings.Repeat("p", 1<<20) + `"}`, 413, "BODY_TOO_LARGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, http.MethodPost, base+tc.path, tc.body)
			wantStatus(t, r, tc.status)
			if code := r.JSON(t)["code"]; code != tc.code {
				t.Errorf("code: got %v; want %s", code, tc.code)
			}
		})
	}
	// Worded as the commands' validation is.
	r := call(t, http.MethodPost, base+"/home/acct/sessions/create", `{"device_id":{"a":1}}`)
	if msg := r.JSON(t)["message"]; msg != "Validation failed: device_id type must be string but found map" {
		t.Errorf("a map for device_id: got message %q; want Pip's wording", msg)
	}
	wantStatus(t, call(t, http.MethodGet, base+"/homes/acct", nil), http.StatusNotFound)
	wantStatus(t, call(t, http.MethodGet, base+"/devices/box", nil), http.StatusNotFound)
	r = command(t, base, "get_sessions", map[string]any{"paging": map[string]any{"total": true}})
	if total := r.JSON(t)["total"]; total != 0.0 {
		t.Errorf("sessions stored after bad input: got %v; want 0", total)
	}
}
