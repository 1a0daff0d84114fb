package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// get_sessions with a device_id filter and paging.total must count the
// matching sessions, not every stored session.
func TestGetSessionsTotalCountsOnlyTheMatchingSessions(t *testing.T) {
	base := startMemory(t)
	openSession(t, base, map[string]any{"user_id": "u1", "device_id": "d1"})
	openSession(t, base, map[string]any{"user_id": "u2", "device_id": "d2"})
	openSession(t, base, map[string]any{"user_id": "u3"})
	r := command(t, base, "get_sessions", map[string]any{
		"filter": map[string]any{"device_id": "d1"},
		"paging": map[string]any{"total": true},
	})
	wantStatus(t, r, http.StatusOK)
	page := r.JSON(t)
	if n := len(page["data"].([]any)); n != 1 {
		t.Fatalf("items: got %d; want 1", n)
	}
	if total := page["total"]; total != 1.0 {
		t.Errorf("total: got %v; want 1 (the one session of device d1)", total)
	}
}

// Bytes that are not JSON white space (form feed, vertical tab, NBSP,
// U+0085) around a body make it malformed JSON: a 4xx and nothing stored.
func TestOnlyJSONWhiteSpaceMayWrapABody(t *testing.T) {
	base := startMemory(t)
	for _, tc := range []struct{ name, body string }{
		{"form feed", "\f{\"user_id\":\"ff\"}"},
		{"vertical tab", "{\"user_id\":\"vt\"}\v"},
		{"no-break space", "\u00a0{\"user_id\":\"nbsp\"}"},
		{"next line", "{\"user_id\":\"nel\"}\u0085"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if json.Valid([]byte(tc.body)) {
				t.Fatalf("test body %q is valid JSON", tc.body)
			}
			r := command(t, base, "open_session", tc.body)
			if r.Status != http.StatusBadRequest {
				t.Errorf("status: got %d; want 400 for malformed JSON (body %s)", r.Status, r.Body)
			}
		})
	}
	r := command(t, base, "get_sessions", map[string]any{"paging": map[string]any{"total": true}})
	if total := r.JSON(t)["total"]; total != 0.0 {
		t.Errorf("sessions stored from malformed bodies: got %v; want 0", total)
	}
}

// A session's user and data come back as valid JSON text (UTF-8), as every
// other string of a response does (invalid bytes become U+FFFD).
func TestUserAndDataComeBackAsValidJSONText(t *testing.T) {
	base := startMemory(t)
	r := command(t, base, "open_session", "{\"user_id\":\"u\",\"data\":\"\xff\xfe\",\"user\":{\"n\xff\":1}}")
	wantStatus(t, r, http.StatusOK)
	if !utf8.Valid(r.Body) {
		t.Errorf("response is not UTF-8, so not a JSON text (RFC 8259 §8.1): %q", r.Body)
	}
}

// A repeated key counts with its last value, as JSON.parse (and so the Node
// service) reads it, and as this service does for filter keys: a trailing
// null leaves user_id null, which open_session refuses.
func TestARepeatedArgumentCountsWithItsLastValue(t *testing.T) {
	base := startMemory(t)
	r := command(t, base, "open_session", `{"user_id":"alice","user_id":null}`)
	if r.Status != http.StatusBadRequest {
		t.Errorf("status: got %d; want 400 (user_id must not be null); body %s", r.Status, r.Body)
	}
	s := openSession(t, base, map[string]any{"user_id": "bob"})
	r = command(t, base, "delete_session_by_id", `{"session_id":"`+s["id"].(string)+`","session_id":null}`)
	if r.Status != http.StatusBadRequest {
		t.Errorf("delete_session_by_id: status %d; want 400 (session_id must not be null); body %.200s", r.Status, r.Body)
	}
	r = command(t, base, "open_session", `{"user_id":"carol","details":{"a":"1"},"details":{"b":"2"}}`)
	wantStatus(t, r, http.StatusOK)
	if d, _ := r.JSON(t)["details"].(map[string]any); len(d) != 1 || d["b"] != "2" {
		t.Errorf("details: got %v; want the last value {b:2}", d)
	}
}

// swaggerDoc fetches the OpenAPI document of v1/sessions.
func swaggerDoc(t *testing.T, base string) map[string]any {
	t.Helper()
	r := call(t, http.MethodGet, base+"/v1/sessions/swagger", nil)
	wantStatus(t, r, http.StatusOK)
	return r.JSON(t)
}

func schemaProp(t *testing.T, doc map[string]any, name, prop string) map[string]any {
	t.Helper()
	s := doc["components"].(map[string]any)["schemas"].(map[string]any)[name].(map[string]any)
	p, ok := s["properties"].(map[string]any)[prop].(map[string]any)
	if !ok {
		t.Fatalf("schema %s has no property %s", name, prop)
	}
	return p
}

// Fields the service sends as null must be nullable in the OpenAPI 3.0
// document; a `type: string` without `nullable: true` does not admit null.
func TestTheOpenAPIDocumentAdmitsTheNullsTheServiceSends(t *testing.T) {
	base := startMemory(t)
	doc := swaggerDoc(t, base)
	s := openSession(t, base, map[string]any{"user_id": "u1"})
	for _, f := range []string{"user_name", "address", "client"} {
		if s[f] != nil {
			t.Fatalf("%s: got %v; want null", f, s[f])
		}
		if p := schemaProp(t, doc, "Session", f); p["nullable"] != true {
			t.Errorf("Session.%s: schema %v is not nullable; the service sends null", f, p)
		}
	}
	page := command(t, base, "get_sessions", nil).JSON(t)
	if page["total"] != nil {
		t.Fatalf("total: got %v; want null", page["total"])
	}
	if p := schemaProp(t, doc, "Page", "total"); p["nullable"] != true {
		t.Errorf("Page.total: schema %v is not nullable; the service sends null", p)
	}
}

// Commands that always answer with a body document no 204; lookups and
// changes of a session that may not exist do.
func TestTheOpenAPIDocumentPromisesA204OnlyWhereThereMayBeNothing(t *testing.T) {
	base := startMemory(t)
	doc := swaggerDoc(t, base)
	for name, want := range map[string]bool{"open_session": false, "get_sessions": false, "renew_session": false,
		"get_session_by_id": true, "close_session": true, "delete_session_by_id": true} {
		op := doc["paths"].(map[string]any)["/v1/sessions/"+name].(map[string]any)["post"].(map[string]any)
		if _, got := op["responses"].(map[string]any)["204"]; got != want {
			t.Errorf("%s: documents a 204: %v; want %v", name, got, want)
		}
	}
}

// maxLength in the OpenAPI document (JSON Schema) counts characters, and the
// validation message says "characters": a 200-character name fits.
func TestMaxLengthCountsCharactersAsTheDocumentSays(t *testing.T) {
	base := startMemory(t)
	doc := swaggerDoc(t, base)
	op := doc["paths"].(map[string]any)["/v1/sessions/open_session"].(map[string]any)["post"].(map[string]any)
	props := op["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)
	max := props["user_name"].(map[string]any)["maxLength"].(float64)
	name := strings.Repeat("é", 200) // 200 characters, 400 bytes
	if float64(utf8.RuneCountInString(name)) > max {
		t.Fatalf("test name is too long for maxLength %v", max)
	}
	r := command(t, base, "open_session", map[string]any{"user_id": "u1", "user_name": name})
	if r.Status != http.StatusOK {
		t.Errorf("200-character user_name (maxLength %v): status %d; body %s", max, r.Status, r.Body)
	}
}

// The Home schema states the bounds set_home enforces: a value at a bound
// is accepted, one past it refused.
func TestTheHomeSchemaStatesTheBoundsSetHomeEnforces(t *testing.T) {
	base := startMemory(t)
	r := call(t, http.MethodGet, base+"/v1/homes/swagger", nil)
	wantStatus(t, r, http.StatusOK)
	doc := r.JSON(t)
	home := doc["components"].(map[string]any)["schemas"].(map[string]any)["Home"].(map[string]any)
	if req, _ := home["required"].([]any); len(req) != 2 || req[0] != "id" || req[1] != "max_sessions" {
		t.Errorf("Home required: got %v; want [id max_sessions]", home["required"])
	}
	idMax := int(schemaProp(t, doc, "Home", "id")["maxLength"].(float64))
	maxSessions := int64(schemaProp(t, doc, "Home", "max_sessions")["maximum"].(float64))
	leaseMax := int64(schemaProp(t, doc, "Home", "lease_timeout")["maximum"].(float64))
	policies := schemaProp(t, doc, "Home", "policy")["enum"].([]any)

	set := func(h map[string]any) int {
		t.Helper()
		return call(t, http.MethodPost, base+"/v1/homes/set_home", map[string]any{"home": h}).Status
	}
	for _, tc := range []struct {
		name string
		home map[string]any
		want int
	}{
		{"id at maxLength", map[string]any{"id": strings.Repeat("é", idMax), "max_sessions": 1}, http.StatusOK},
		{"id past maxLength", map[string]any{"id": strings.Repeat("é", idMax+1), "max_sessions": 1}, http.StatusBadRequest},
		{"max_sessions at maximum", map[string]any{"id": "h", "max_sessions": maxSessions}, http.StatusOK},
		{"max_sessions past maximum", map[string]any{"id": "h", "max_sessions": maxSessions + 1}, http.StatusBadRequest},
		{"max_sessions below minimum", map[string]any{"id": "h", "max_sessions": -1}, http.StatusBadRequest},
		{"lease_timeout at maximum", map[string]any{"id": "h", "max_sessions": 1, "lease_timeout": leaseMax}, http.StatusOK},
		{"lease_timeout past maximum", map[string]any{"id": "h", "max_sessions": 1, "lease_timeout": leaseMax + 1}, http.StatusBadRequest},
		{"policy outside enum", map[string]any{"id": "h", "max_sessions": 1, "policy": "random"}, http.StatusBadRequest},
	} {
		if got := set(tc.home); got != tc.want {
			t.Errorf("%s: status %d; want %d", tc.name, got, tc.want)
		}
	}
	for _, p := range policies {
		if got := set(map[string]any{"id": "h", "max_sessions": 1, "policy": p}); got != http.StatusOK {
			t.Errorf("policy %v from the enum: status %d; want 200", p, got)
		}
	}
}

// The paging the service takes as text ("take": "2", as the Node client
// sends it) is text the document admits, and the streams document the 503
// of an instance that has as many as it may.
func TestTheOpenAPIDocumentAdmitsPagingAsTextAndStreamsRefusedForLater(t *testing.T) {
	base := startMemory(t)
	doc := swaggerDoc(t, base)
	openSession(t, base, map[string]any{"user_id": "u1"})
	openSession(t, base, map[string]any{"user_id": "u2"})
	r := command(t, base, "get_sessions", map[string]any{"paging": map[string]any{"take": "1", "skip": "1", "total": "true"}})
	wantStatus(t, r, http.StatusOK)
	if page := r.JSON(t); len(page["data"].([]any)) != 1 || page["total"] != 2.0 {
		t.Fatalf("paging as text: got %s; want one session of a total of 2", r.Body)
	}
	paths := doc["paths"].(map[string]any)
	body := paths["/v1/sessions/get_sessions"].(map[string]any)["post"].(map[string]any)["requestBody"].(map[string]any)
	paging := body["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["properties"].(map[string]any)["paging"].(map[string]any)
	for _, field := range []string{"take", "skip", "total"} {
		admitsText := false
		for _, alt := range paging["properties"].(map[string]any)[field].(map[string]any)["oneOf"].([]any) {
			admitsText = admitsText || alt.(map[string]any)["type"] == "string"
		}
		if !admitsText {
			t.Errorf("paging.%s: schema %v does not admit the text the service takes", field, paging["properties"].(map[string]any)[field])
		}
	}
	for _, path := range []string{"/v1/sessions/events", "/v1/sessions/notifications"} {
		if _, ok := paths[path].(map[string]any)["get"].(map[string]any)["responses"].(map[string]any)["503"]; !ok {
			t.Errorf("GET %s documents no 503", path)
		}
	}
}

// A paging number with a fraction, as a client that divides may send, is
// rounded as the Node service rounds it: take 1.5 is a page of 2.
func TestAFractionInPagingIsRoundedAsNodeRoundsIt(t *testing.T) {
	base := startMemory(t)
	for _, user := range []string{"u1", "u2", "u3"} {
		openSession(t, base, map[string]any{"user_id": user})
	}
	r := command(t, base, "get_sessions", map[string]any{"paging": map[string]any{"take": 1.5, "skip": 0.4}})
	wantStatus(t, r, http.StatusOK)
	if n := len(r.JSON(t)["data"].([]any)); n != 2 {
		t.Errorf("take 1.5: got %d sessions; want 2", n)
	}
}

// A request's line and headers are bounded at about 64 KiB, not
// net/http's 1 MiB: an event stream keeps its request for as long as it
// runs. (net/http counts a few KiB more on a kept-alive connection.)
func TestRequestHeadersAreBoundedAtAbout64KiB(t *testing.T) {
	base := startMemory(t)
	wantStatus(t, call(t, http.MethodGet, base+"/heartbeat", nil, "X-Pad", strings.Repeat("p", 60<<10)), http.StatusOK)
	wantStatus(t, call(t, http.MethodGet, base+"/heartbeat", nil, "X-Pad", strings.Repeat("p", 128<<10)), http.StatusRequestHeaderFieldsTooLarge)
}

// With options.max_connections, the endpoint holds no more connections at
// once: one more waits, unanswered, until one of them closes.
func TestTheEndpointHoldsAtMostMaxConnections(t *testing.T) {
	base, _ := startText(t, endpointConfig("    max_connections: 2"), nil)
	addr := strings.TrimPrefix(base, "http://")
	ask := func(c net.Conn, wait time.Duration) error { // one request and its answer within wait
		if _, err := fmt.Fprint(c, "POST /v1/sessions/close_expired_sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(wait))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := ask(c, 10*time.Second); err != nil {
			t.Fatalf("connection %d of 2: %v", len(held)+1, err)
		}
		held = append(held, c)
	}
	third, err := net.Dial("tcp", addr) // the system takes it; the service does not yet
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if err := ask(third, 300*time.Millisecond); err == nil {
		t.Fatal("a third connection was served while two were held")
	}
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(third), nil) // its request was sent already
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("third connection once one closed: got %v, %v; want its request answered", resp, err)
	}
	resp.Body.Close()
}
