package test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	idPattern   = regexp.MustCompile(`^[0-9a-f]{32}$`)
	timePattern = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
)

func TestOpenSessionReturnsTheNewSession(t *testing.T) {
	base := startMemory(t)
	s := openSession(t, base, map[string]any{
		"user_id": "u1", "user_name": "Ann", "address": "10.0.0.1", "client": "web",
		"user": map[string]any{"name": "Ann", "roles": []any{"admin"}}, "data": map[string]any{"cart": 3},
	})
	if id, _ := s["id"].(string); !idPattern.MatchString(id) {
		t.Errorf("id: got %q; want 32 lowercase hex characters", id)
	}
	for key, want := range map[string]any{"user_id": "u1", "user_name": "Ann", "address": "10.0.0.1", "client": "web", "active": true} {
		if s[key] != want {
			t.Errorf("%s: got %v; want %v", key, s[key], want)
		}
	}
	for _, key := range []string{"open_time", "request_time"} {
		if v, _ := s[key].(string); !timePattern.MatchString(v) {
			t.Errorf("%s: got %q; want RFC 3339 UTC with milliseconds", key, v)
		}
	}
	if _, ok := s["close_time"]; ok {
		t.Errorf("close_time: present on an active session; want absent")
	}
	if got := s["data"].(map[string]any)["cart"]; got != 3.0 {
		t.Errorf("data.cart: got %v; want 3", got)
	}
	if got := s["user"].(map[string]any)["name"]; got != "Ann" {
		t.Errorf("user.name: got %v; want Ann", got)
	}

	got := command(t, base, "get_session_by_id", map[string]any{"session_id": s["id"]})
	wantStatus(t, got, http.StatusOK)
	if g := got.JSON(t); g["id"] != s["id"] || g["user"] == nil || g["data"] == nil {
		t.Errorf("get_session_by_id: got %s; want the opened session with user and data", got.Body)
	}
}

// Answers carry users' data, so no cache may keep one: the Node service
// says so too.
func TestNoCacheKeepsAnAnswer(t *testing.T) {
	base := startMemory(t)
	s := openSession(t, base, map[string]any{"user_id": "u1", "data": map[string]any{"secret": 1}})
	for _, tc := range []struct {
		name, command string
		args          any
	}{
		{"a session", "get_session_by_id", map[string]any{"session_id": s["id"]}},
		{"nothing", "get_session_by_id", map[string]any{"session_id": strings.Repeat("0", 32)}},
		{"an error", "get_session_by_id", map[string]any{}},
	} {
		r := command(t, base, tc.command, tc.args)
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s (%d): Cache-Control got %q; want no-store", tc.name, r.Status, got)
		}
	}
	// Errors from the checks before any command runs, and from the streams.
	for _, tc := range []struct {
		name string
		r    response
	}{
		{"a body not JSON", call(t, http.MethodPost, base+"/v1/sessions/get_session_by_id", "x", "Content-Type", "text/plain")},
		{"a body too large", call(t, http.MethodPost, base+"/v1/sessions/get_session_by_id", strings.Repeat(" ", 2<<20))},
		{"a stream of no session", call(t, http.MethodGet, base+"/v1/sessions/notifications?session_id=nope", nil)},
	} {
		if got := tc.r.Header.Get("Cache-Control"); tc.r.Status < 400 || got != "no-store" {
			t.Errorf("%s (%d): Cache-Control got %q; want an error with no-store", tc.name, tc.r.Status, got)
		}
	}
}

// A page of another origin can send a form or text without a CORS
// preflight, but not JSON: a body of any other type is refused, so such a
// page cannot run a command even where cors_origins keeps it out.
func TestACommandRunsOnJSONOnly(t *testing.T) {
	base := startMemory(t)
	s := openSession(t, base, map[string]any{"user_id": "victim"})
	body := `{"user_id":"victim"}`
	for _, contentType := range []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "",
		"application/json; charset=utf-16", "application/json; charset=iso-8859-1"} { // JSON is read as UTF-8 only
		r := call(t, http.MethodPost, base+"/v1/sessions/close_user_sessions", body, "Content-Type", contentType, "Origin", "https://evil.example")
		wantStatus(t, r, http.StatusUnsupportedMediaType)
		if e := r.JSON(t); e["code"] != "UNSUPPORTED_MEDIA_TYPE" || e["category"] != "BadRequest" {
			t.Errorf("Content-Type %q: got %v; want the error body of UNSUPPORTED_MEDIA_TYPE", contentType, e)
		}
	}
	if got := command(t, base, "get_session_by_id", map[string]any{"session_id": s["id"]}).JSON(t); got["active"] != true {
		t.Errorf("session: got %v; want it still open", got)
	}
	for _, contentType := range []string{"application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8", "Application/JSON", "application/vnd.api+json"} {
		r := call(t, http.MethodPost, base+"/v1/sessions/get_session_by_id", `{"session_id":"`+s["id"].(string)+`"}`, "Content-Type", contentType)
		wantStatus(t, r, http.StatusOK)
	}
	// No body needs no type.
	wantStatus(t, call(t, http.MethodPost, base+"/v1/sessions/close_expired_sessions", "", "Content-Type", ""), http.StatusNoContent)
}

func TestNilResultsAre204WithAnEmptyBody(t *testing.T) {
	base := startMemory(t)
	missing := map[string]any{"session_id": strings.Repeat("0", 32)}
	for _, tc := range []struct {
		command string
		args    any
	}{
		{"get_session_by_id", missing},
		{"store_session_data", map[string]any{"session_id": missing["session_id"], "data": 1}},
		{"update_session_user", map[string]any{"session_id": missing["session_id"], "user": 1}},
		{"close_session", missing},
		{"delete_session_by_id", missing},
		{"close_expired_sessions", nil},
	} {
		t.Run(tc.command, func(t *testing.T) {
			r := command(t, base, tc.command, tc.args)
			wantStatus(t, r, http.StatusNoContent)
			if len(r.Body) != 0 {
				t.Errorf("body: got %q; want empty", r.Body)
			}
		})
	}
}

func TestStoreDataAndUpdateUserRenewTheSession(t *testing.T) {
	base := startMemory(t)
	s := openSession(t, base, map[string]any{"user_id": "u1", "data": "old", "user": "old"})
	time.Sleep(5 * time.Millisecond) // request_time has millisecond precision

	r := command(t, base, "store_session_data", map[string]any{"session_id": s["id"], "data": map[string]any{"k": "v"}})
	wantStatus(t, r, http.StatusOK)
	got := r.JSON(t)
	if got["data"].(map[string]any)["k"] != "v" || got["user"] != "old" {
		t.Errorf("store_session_data: got %s; want new data, same user", r.Body)
	}
	if got["request_time"].(string) <= s["request_time"].(string) {
		t.Errorf("request_time: got %v; want later than %v", got["request_time"], s["request_time"])
	}

	r = command(t, base, "update_session_user", map[string]any{"session_id": s["id"], "user": map[string]any{"name": "Bob"}})
	wantStatus(t, r, http.StatusOK)
	got = r.JSON(t)
	if got["user"].(map[string]any)["name"] != "Bob" || got["data"].(map[string]any)["k"] != "v" {
		t.Errorf("update_session_user: got %s; want new user, same data", r.Body)
	}
}

func TestCloseSessionClearsUserAndData(t *testing.T) {
	base := startMemory(t)
	s := openSession(t, base, map[string]any{"user_id": "u1", "data": 1, "user": 2})
	r := command(t, base, "close_session", map[string]any{"session_id": s["id"]})
	wantStatus(t, r, http.StatusOK)
	got := r.JSON(t)
	if got["active"] != false || got["user"] != nil || got["data"] != nil {
		t.Errorf("closed session: got %s; want active=false, user and data null", r.Body)
	}
	if v, _ := got["close_time"].(string); !timePattern.MatchString(v) {
		t.Errorf("close_time: got %q; want a date", v)
	}
}

func TestDeleteSessionReturnsItThenItIsGone(t *testing.T) {
	base := startMemory(t)
	s := openSession(t, base, map[string]any{"user_id": "u1"})
	r := command(t, base, "delete_session_by_id", map[string]any{"session_id": s["id"]})
	wantStatus(t, r, http.StatusOK)
	if r.JSON(t)["id"] != s["id"] {
		t.Errorf("deleted: got %s; want session %v", r.Body, s["id"])
	}
	wantStatus(t, command(t, base, "get_session_by_id", map[string]any{"session_id": s["id"]}), http.StatusNoContent)
}

func TestGetSessionsTakesNodeStyleStringFiltersAndPaging(t *testing.T) {
	base := startMemory(t)
	var ids []string
	for i := range 5 {
		s := openSession(t, base, map[string]any{"user_id": "u1", "client": "web", "data": i, "user": "x"})
		ids = append(ids, s["id"].(string))
		time.Sleep(2 * time.Millisecond)
	}
	openSession(t, base, map[string]any{"user_id": "u2"})
	closed := ids[0]
	wantStatus(t, command(t, base, "close_session", map[string]any{"session_id": closed}), http.StatusOK)

	r := command(t, base, "get_sessions", map[string]any{
		"filter": map[string]any{"user_id": "u1", "active": "true"},
		"paging": map[string]any{"skip": "1", "take": "2", "total": "true"},
	})
	wantStatus(t, r, http.StatusOK)
	var page struct {
		Total *int64           `json:"total"`
		Data  []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		t.Fatal(err)
	}
	if page.Total == nil || *page.Total != 4 {
		t.Errorf("total: got %v; want 4 active sessions of u1", page.Total)
	}
	// Newest first: ids[4], ids[3], ids[2], ids[1]; skip 1, take 2.
	if len(page.Data) != 2 || page.Data[0]["id"] != ids[3] || page.Data[1]["id"] != ids[2] {
		t.Fatalf("page: got %s; want %s then %s", r.Body, ids[3], ids[2])
	}
	for _, item := range page.Data {
		if _, ok := item["user"]; ok {
			t.Errorf("page item has user; want it left out")
		}
		if _, ok := item["data"]; ok {
			t.Errorf("page item has data; want it left out")
		}
	}

	r = command(t, base, "get_sessions", map[string]any{"filter": map[string]any{"user_id": "u1"}})
	if err := json.Unmarshal(r.Body, &page); err != nil {
		t.Fatal(err)
	}
	if page.Total != nil || len(page.Data) != 5 {
		t.Errorf("without paging.total: got total %v and %d items; want null and 5", page.Total, len(page.Data))
	}

	// Booleans as Pip's converter reads them.
	for active, want := range map[string]int{"Yes": 4, "y": 4, "NO": 1, "n": 1} {
		r = command(t, base, "get_sessions", map[string]any{"filter": map[string]any{"user_id": "u1", "active": active}})
		if err := json.Unmarshal(r.Body, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != want {
			t.Errorf("active %q: got %d sessions; want %d", active, len(page.Data), want)
		}
	}
}

func TestGetSessionsTimeWindowIsOnRequestTime(t *testing.T) {
	base := startMemory(t)
	first := openSession(t, base, map[string]any{"user_id": "u1"})
	time.Sleep(5 * time.Millisecond)
	second := openSession(t, base, map[string]any{"user_id": "u1"})

	count := func(filter map[string]any) []any {
		t.Helper()
		r := command(t, base, "get_sessions", map[string]any{"filter": filter})
		wantStatus(t, r, http.StatusOK)
		return r.JSON(t)["data"].([]any)
	}
	from := second["request_time"]
	if got := count(map[string]any{"from_time": from}); len(got) != 1 || got[0].(map[string]any)["id"] != second["id"] {
		t.Errorf("from_time=%v (inclusive): got %v; want only the second session", from, got)
	}
	if got := count(map[string]any{"to_time": from}); len(got) != 1 || got[0].(map[string]any)["id"] != first["id"] {
		t.Errorf("to_time=%v (exclusive): got %v; want only the first session", from, got)
	}
	// Epoch milliseconds, as a number or as its text (Node's clients send
	// every filter value as text), mean the same instant.
	at, err := time.Parse(time.RFC3339Nano, from.(string))
	if err != nil {
		t.Fatal(err)
	}
	for _, ms := range []any{at.UnixMilli(), strconv.FormatInt(at.UnixMilli(), 10)} {
		if got := count(map[string]any{"from_time": ms}); len(got) != 1 || got[0].(map[string]any)["id"] != second["id"] {
			t.Errorf("from_time=%#v (epoch milliseconds): got %v; want only the second session", ms, got)
		}
	}
}

func TestPageSizeIsCappedAtMaxPageSize(t *testing.T) {
	base := startMemory(t)
	for range 105 {
		openSession(t, base, map[string]any{"user_id": "u1"})
	}
	r := command(t, base, "get_sessions", map[string]any{"paging": map[string]any{"take": 1000}})
	wantStatus(t, r, http.StatusOK)
	if n := len(r.JSON(t)["data"].([]any)); n != 100 {
		t.Errorf("items: got %d; want the cap of 100", n)
	}
}

func TestBadInputIsA4xxErrorBodyAndStoresNothing(t *testing.T) {
	base := startMemory(t)
	deep := strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200)
	for _, tc := range []struct {
		name, path, body string
		status           int
		code, message    string
	}{
		{"missing user_id", "open_session", `{"user_name":"x"}`, 400, "INVALID_DATA", "Validation failed: user_id must not be null"},
		{"empty body", "open_session", ``, 400, "INVALID_DATA", "Validation failed: user_id must not be null"},
		{"null body", "open_session", ` null `, 400, "INVALID_DATA", "Validation failed: user_id must not be null"},
		{"wrong type", "open_session", `{"user_id":12}`, 400, "INVALID_DATA", "Validation failed: user_id type must be string but found long"},
		{"malformed JSON", "open_session", `{"user_id":`, 400, "BAD_JSON", ""},
		{"not an object", "open_session", `["u1"]`, 400, "INVALID_DATA", "Validation failed: arguments must be a JSON object"},
		{"oversize string", "open_session", `{"user_id":"` + strings.Repeat("x", 300) + `"}`, 400, "INVALID_DATA", "Validation failed: user_id must not be longer than 256 characters"},
		{"hostile nesting", "open_session", `{"user_id":"u","data":` + deep + `}`, 400, "INVALID_DATA", ""},
		{"hostile nesting under an unknown key", "open_session", `{"user_id":"u","other":` + deep + `}`, 400, "INVALID_DATA",
			"Validation failed: request body must not nest deeper than 64 levels"},
		{"bad filter date", "get_sessions", `{"filter":{"from_time":"yesterday"}}`, 400, "INVALID_DATA", ""},
		{"bad paging", "get_sessions", `{"paging":{"take":"many"}}`, 400, "INVALID_DATA", ""},
		{"unknown command", "open_sesame", `{}`, 404, "NOT_FOUND", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, http.MethodPost, base+"/v1/sessions/"+tc.path+"?correlation_id=c-42", tc.body)
			wantStatus(t, r, tc.status)
			e := r.JSON(t)
			if e["code"] != tc.code {
				t.Errorf("code: got %v; want %s", e["code"], tc.code)
			}
			if tc.message != "" && e["message"] != tc.message {
				t.Errorf("message: got %q; want %q", e["message"], tc.message)
			}
			if e["correlation_id"] != "c-42" {
				t.Errorf("correlation_id: got %v; want c-42", e["correlation_id"])
			}
			if e["status"] != float64(tc.status) {
				t.Errorf("status field: got %v; want %d", e["status"], tc.status)
			}
			if st, _ := e["stack_trace"].(string); st != "" {
				t.Errorf("stack_trace: got %q; want none outside debug mode", st)
			}
		})
	}
	r := command(t, base, "get_sessions", map[string]any{"paging": map[string]any{"total": true}})
	if total := r.JSON(t)["total"]; total != 0.0 {
		t.Errorf("sessions stored after bad input: got %v; want 0", total)
	}
}

// A correlation id comes in the query string, as Pip clients send it, or
// in a correlation_id header; the query string wins when both are given.
func TestTheCorrelationIDComesFromTheQueryOrTheHeader(t *testing.T) {
	base := startMemory(t)
	for _, tc := range []struct {
		name, query, header, want string
	}{
		{"header", "", "from-header", "from-header"},
		{"query", "?correlation_id=from-query", "", "from-query"},
		{"both", "?correlation_id=from-query", "from-header", "from-query"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var header []string
			if tc.header != "" {
				header = []string{"correlation_id", tc.header}
			}
			r := call(t, http.MethodPost, base+"/v1/sessions/open_session"+tc.query, `{}`, header...)
			wantStatus(t, r, http.StatusBadRequest)
			if got := r.JSON(t)["correlation_id"]; got != tc.want {
				t.Errorf("correlation_id: got %v; want %s", got, tc.want)
			}
		})
	}
}

func TestErrorBodyHasThePipShape(t *testing.T) {
	base := startMemory(t)
	r := call(t, http.MethodPost, base+"/v1/sessions/open_session", `{}`, "correlation_id", "from-header")
	wantStatus(t, r, http.StatusBadRequest)
	e := r.JSON(t)
	for _, key := range []string{"type", "category", "status", "code", "message", "details", "correlation_id", "cause", "stack_trace"} {
		if _, ok := e[key]; !ok {
			t.Errorf("error body lacks %q: %s", key, r.Body)
		}
	}
	if e["category"] != "BadRequest" || e["type"] != "BadRequestException" {
		t.Errorf("category/type: got %v/%v; want BadRequest/BadRequestException", e["category"], e["type"])
	}
	if e["correlation_id"] != "from-header" {
		t.Errorf("correlation_id from header: got %v; want from-header", e["correlation_id"])
	}
	// What the error has not is null, as the Node service writes it.
	r = call(t, http.MethodPost, base+"/v1/sessions/open_session", `{}`)
	for key, v := range r.JSON(t) {
		if (key == "correlation_id" || key == "cause" || key == "stack_trace") && v != nil {
			t.Errorf("%s without one: got %q; want null", key, v)
		}
	}
	// A long one is cut at 256 bytes, at a character's start.
	long := strings.Repeat("é", 200) // 400 bytes
	r = call(t, http.MethodPost, base+"/v1/sessions/open_session?correlation_id="+url.QueryEscape(long), `{}`)
	if got := r.JSON(t)["correlation_id"]; got != strings.Repeat("é", 128) {
		t.Errorf("a 400-byte correlation_id: got %d bytes back; want the first 256", len(fmt.Sprint(got)))
	}
}

func TestOversizeBodyIs413(t *testing.T) {
	base := startMemory(t)
	const head, tail = `{"user_id":"u1","data":"`, `"}`
	data := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name string
		body any
	}{
		{"with a Content-Length", head + data + tail},
		// A reader of unknown length makes the client send the body in
		// chunks, with no Content-Length to refuse it by up front.
		{"chunked", io.MultiReader(strings.NewReader(head), strings.NewReader(data), strings.NewReader(tail))},
	} {
		r := call(t, http.MethodPost, base+"/v1/sessions/open_session", tc.body)
		if r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: status %d; want 413", tc.name, r.Status)
			continue
		}
		if code := r.JSON(t)["code"]; code != "BODY_TOO_LARGE" {
			t.Errorf("%s: code %v; want BODY_TOO_LARGE", tc.name, code)
		}
	}
}

// The bound is options.max_body_size, or options.request_max_size, the
// Pip.Services endpoint's name for it, when a config gives only that.
func TestTheBodyBoundIsConfigurableUnderEitherName(t *testing.T) {
	body := func(n int) string {
		return `{"user_id":"u1","data":"` + strings.Repeat("x", n-len(`{"user_id":"u1","data":""}`)) + `"}`
	}
	for _, tc := range []struct {
		name, options string
		bound         int
	}{
		{"max_body_size", "    max_body_size: 2000", 2000},
		{"request_max_size", "    request_max_size: 3000", 3000},
		{"both: max_body_size counts", "    max_body_size: 2000\n    request_max_size: 3000", 2000},
		{"max_body_size left empty", "    max_body_size: \"\"\n    request_max_size: 3000", 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, _ := startText(t, endpointConfig(tc.options), nil)
			wantStatus(t, call(t, http.MethodPost, base+"/v1/sessions/open_session", body(tc.bound)), http.StatusOK)
			wantStatus(t, call(t, http.MethodPost, base+"/v1/sessions/open_session", body(tc.bound+1)), http.StatusRequestEntityTooLarge)
		})
	}
}

func TestJSONResponsesCarryTheirLengthAndAreNeverChunked(t *testing.T) {
	base := startMemory(t)
	for range 20 {
		openSession(t, base, map[string]any{"user_id": "u1", "data": strings.Repeat("d", 200)})
	}
	for _, tc := range []struct {
		name string
		r    response
	}{
		{"a session", command(t, base, "open_session", map[string]any{"user_id": "u1"})},
		{"a page of 20 sessions", command(t, base, "get_sessions", map[string]any{"filter": map[string]any{"user_id": "u1"}})},
		{"an error", command(t, base, "open_session", map[string]any{})},
	} {
		if got, want := tc.r.Header.Get("Content-Length"), strconv.Itoa(len(tc.r.Body)); got != want {
			t.Errorf("%s: Content-Length %q; want %s (Transfer-Encoding %q)", tc.name, got, want, tc.r.Header.Get("Transfer-Encoding"))
		}
	}
}

func TestGetOnACommandIsRejectedWithAnErrorBody(t *testing.T) {
	base := startMemory(t)
	r := call(t, http.MethodGet, base+"/v1/sessions/get_sessions", nil)
	wantStatus(t, r, http.StatusMethodNotAllowed)
	if code := r.JSON(t)["code"]; code != "METHOD_NOT_ALLOWED" {
		t.Errorf("code: got %v; want METHOD_NOT_ALLOWED", code)
	}
	if allow := r.Header.Get("Allow"); allow != "POST" {
		t.Errorf("Allow: got %q; want POST", allow)
	}
	r = call(t, http.MethodPost, base+"/heartbeat", nil)
	wantStatus(t, r, http.StatusMethodNotAllowed)
	if allow := r.Header.Get("Allow"); allow != "GET, HEAD" {
		t.Errorf("Allow on /heartbeat: got %q; want GET, HEAD", allow)
	}
}

func TestHeartbeatStatusAndSwagger(t *testing.T) {
	base := startMemory(t)

	r := call(t, http.MethodGet, base+"/heartbeat", nil)
	wantStatus(t, r, http.StatusOK)
	var now string
	if err := json.Unmarshal(r.Body, &now); err != nil || !timePattern.MatchString(now) {
		t.Errorf("heartbeat: got %s; want a JSON date string", r.Body)
	}

	r = call(t, http.MethodGet, base+"/status", nil)
	wantStatus(t, r, http.StatusOK)
	st := r.JSON(t)
	if st["name"] != "service-sessions" {
		t.Errorf("status name: got %v; want service-sessions", st["name"])
	}
	for _, key := range []string{"id", "description", "start_time", "current_time", "uptime", "properties", "components"} {
		if _, ok := st[key]; !ok {
			t.Errorf("status lacks %q", key)
		}
	}
	if props, _ := st["properties"].(map[string]any); !strings.HasPrefix(fmt.Sprint(props["version"]), "service-sessions-go ") {
		t.Errorf("status properties: got %v; want the version, as --version prints it", st["properties"])
	}
	if !strings.Contains(string(r.Body), "service-sessions:controller:default:default:1.0") {
		t.Errorf("status components: got %v; want the controller listed", st["components"])
	}
	for _, path := range []string{"/heartbeat", "/status"} {
		r = call(t, http.MethodHead, base+path, nil)
		wantStatus(t, r, http.StatusOK)
		if len(r.Body) != 0 {
			t.Errorf("HEAD %s: body %q; want none", path, r.Body)
		}
	}

	r = call(t, http.MethodGet, base+"/v1/sessions/swagger", nil)
	wantStatus(t, r, http.StatusOK)
	doc := r.JSON(t)
	if doc["openapi"] != "3.0.3" {
		t.Errorf("openapi version: got %v; want 3.0.3", doc["openapi"])
	}
	paths := doc["paths"].(map[string]any)
	for _, c := range []string{"get_sessions", "get_session_by_id", "open_session", "store_session_data",
		"update_session_user", "close_session", "close_expired_sessions", "delete_session_by_id",
		"update_session_details", "bind_push_address", "close_user_sessions", "close_address_sessions", "send_notification"} {
		if _, ok := paths["/v1/sessions/"+c]; !ok {
			t.Errorf("OpenAPI document lacks %s", c)
		}
	}
	for _, stream := range []string{"events", "notifications"} {
		if op, _ := paths["/v1/sessions/"+stream].(map[string]any); op["get"] == nil {
			t.Errorf("OpenAPI document lacks GET /v1/sessions/%s", stream)
		}
	}
	get := paths["/v1/sessions/get_session_by_id"].(map[string]any)["post"].(map[string]any)
	body := get["requestBody"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
	if req, _ := body["required"].([]any); len(req) != 1 || req[0] != "session_id" {
		t.Errorf("get_session_by_id required: got %v; want [session_id]", body["required"])
	}

	r = call(t, http.MethodGet, base+"/swagger", nil)
	wantStatus(t, r, http.StatusOK)
	page := string(r.Body)
	for _, route := range []string{"v1/sessions", "v1/homes", "v1/devices"} {
		if !strings.Contains(page, `href="/`+route+`/swagger"`) {
			t.Errorf("swagger page does not link the %s document", route)
		}
		// Every operation of the document is on the page, with its method.
		doc := call(t, http.MethodGet, base+"/"+route+"/swagger", nil).JSON(t)
		for path, item := range doc["paths"].(map[string]any) {
			for method := range item.(map[string]any) {
				op := `>` + strings.ToUpper(method) + `</span><code>` + path + `</code>`
				if !strings.Contains(page, op) {
					t.Errorf("swagger page lacks %s %s", strings.ToUpper(method), path)
				}
			}
		}
	}
	if !strings.Contains(page, "<code>last_event_id</code>") || !strings.Contains(page, "<code>user_id</code> <span class=\"req\">required</span>") {
		t.Errorf("swagger page lacks the arguments of its operations")
	}
}

func TestTheExpirySweepClosesIdleSessionsOnItsOwn(t *testing.T) {
	base, _ := startText(t, `
- descriptor: "service-sessions:persistence:memory:default:1.0"
- descriptor: "service-sessions:controller:default:default:1.0"
  options:
    expire_timeout: 1000
    cleanup_interval: 50
- descriptor: "pip-services:endpoint:http:default:1.0"
  connection:
    port: 0
- descriptor: "service-sessions:service:commandable-http:default:1.0"
`, nil)
	id := openSession(t, base, map[string]any{"user_id": "u1"})["id"].(string)
	if s := command(t, base, "get_session_by_id", map[string]any{"session_id": id}).JSON(t); s["active"] != true {
		t.Fatalf("just opened: %v; want active", s)
	}
	waitFor(t, "the sweep to close the idle session", func() bool {
		s := command(t, base, "get_session_by_id", map[string]any{"session_id": id}).JSON(t)
		return s["active"] == false && s["close_reason"] == "expired"
	})
}

// A server that serves GET serves HEAD (RFC 9110): every GET route answers
// it with the GET's status and headers and no body, a stream included,
// whose answer ends at its headers; a route of another method still
// refuses it.
func TestEveryGetRouteAnswersHead(t *testing.T) {
	base := startMemory(t)
	id := openSession(t, base, map[string]any{"user_id": "u1"})["id"].(string)
	client := &http.Client{Timeout: 5 * time.Second} // a HEAD that ran on as a stream would fail it
	for _, tc := range []struct {
		path, contentType string
		status            int
	}{
		{"/v1/sessions/swagger", "application/json", http.StatusOK},
		{"/swagger", "text/html; charset=utf-8", http.StatusOK},
		{"/metrics", "", http.StatusOK},
		{"/devices/nowhere", "application/json", http.StatusNotFound},
		{"/v1/sessions/events?types=opened", "text/event-stream", http.StatusOK},
		{"/v1/sessions/events?types=exploded", "application/json", http.StatusBadRequest},
		{"/v1/sessions/notifications?session_id=" + id, "text/event-stream", http.StatusOK},
		{"/v1/sessions/notifications?session_id=nobody", "application/json", http.StatusNotFound},
		{"/v1/sessions/open_session", "application/json", http.StatusMethodNotAllowed},
	} {
		for range 2 { // the connection is kept for the next request
			resp, err := client.Head(base + tc.path)
			if err != nil {
				t.Fatalf("HEAD %s: %v", tc.path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || len(body) != 0 ||
				tc.contentType != "" && resp.Header.Get("Content-Type") != tc.contentType {
				t.Errorf("HEAD %s: got %d %q with %d bytes; want %d %q and no body",
					tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), tc.status, tc.contentType)
			}
		}
	}
	if r := call(t, http.MethodPost, base+"/v1/sessions/swagger", nil); r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST to a GET route: got %d, Allow %q; want 405, GET, HEAD", r.Status, r.Header.Get("Allow"))
	}
}
