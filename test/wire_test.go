package test

import (
	"encoding/json"
	"net/http"
	"testing"
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
