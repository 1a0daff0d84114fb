package service_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Ids are limited in characters, as the commands limit them: an account
// whose id is 200 Cyrillic letters (400 bytes) may have sessions and a home.
func TestCloudstateIDsAreLimitedInCharacters(t *testing.T) {
	base := startService(t)
	for _, tc := range []struct {
		why  string
		id   string
		want int
	}{
		{"200 Cyrillic letters, 400 bytes", strings.Repeat("ж", 200), http.StatusOK},
		{"256 Cyrillic letters", strings.Repeat("ж", 256), http.StatusOK},
		{"257 Cyrillic letters", strings.Repeat("ж", 257), http.StatusBadRequest},
	} {
		t.Run(tc.why, func(t *testing.T) {
			id := url.PathEscape(tc.id)
			for _, call := range []struct{ name, path, body string }{
				{"create a session", "/home/" + id + "/sessions/create", `{"device_id":"d1"}`},
				{"set the limit", "/home/" + id + "/sessions/setMaxSession", `{"max_nb_of_session":2}`},
				{"register the device", "/device/" + id + "/create", `{"account_id":"a1"}`},
				{"register a device to the account", "/device/d1/create", `{"account_id":"` + tc.id + `"}`},
			} {
				resp, err := http.Post(base+call.path, "application/json", strings.NewReader(call.body))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Errorf("%s: got status %d; want %d", call.name, resp.StatusCode, tc.want)
				}
			}
		})
	}
}

// An id sent as a JSON number is limited like one sent as a string.
func TestCloudstateIDsSentAsNumbersAreLimitedToo(t *testing.T) {
	base := startService(t)
	long := "1" + strings.Repeat("0", 300)
	for _, call := range []struct{ name, path, body string }{
		{"create a session", "/home/a1/sessions/create", `{"device_id":` + long + `}`},
		{"register a device", "/device/d1/create", `{"account_id":` + long + `}`},
	} {
		resp, err := http.Post(base+call.path, "application/json", strings.NewReader(call.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: got status %d; want 400", call.name, resp.StatusCode)
		}
	}
}

// A path id is decoded once, whatever it escapes: a slash, a space, or a
// percent sign.
func TestCloudstatePathIDsAreDecoded(t *testing.T) {
	base := startService(t)
	for _, account := range []string{"a/b c", "a b", "100%", "a%41"} {
		resp, err := http.Post(base+"/device/dev-"+url.PathEscape(account)+"/create", "application/json",
			strings.NewReader(`{"account_id":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// The device registered under the escaped path is found under its
		// id as a JSON body names it.
		resp, err = http.Post(base+"/v1/devices/get_device", "application/json",
			strings.NewReader(`{"device_id":"dev-`+account+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("device %q: get_device got %d; want 200, the device registered by the path", "dev-"+account, resp.StatusCode)
		}
	}
}

// An empty path id is missing, as an empty id in a body is: it neither
// registers a device without an id nor opens a session for no account.
func TestCloudstateEmptyPathIDsAreMissing(t *testing.T) {
	base := startService(t)
	post := func(path, body string) int {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := post("/device/dz/create", `{"account_id":"acc3"}`); status != http.StatusOK {
		t.Fatalf("register dz: got %d; want 200", status)
	}
	for _, call := range []struct{ path, body string }{
		{"/device//create", `{"account_id":"acc3"}`},
		{"/device//sessions/create", ``},
		{"/device//delete", ``},
		{"/home//sessions/create", `{"device_id":"dz"}`},
		{"/home//sessions/setMaxSession", `{"max_nb_of_session":2}`},
	} {
		if status := post(call.path, call.body); status != http.StatusBadRequest {
			t.Errorf("POST %s: got %d; want 400", call.path, status)
		}
	}
}

// Session ids are limited as the commands limit them, and a blank body is
// an empty one, as a command's is.
func TestCloudstateSessionIDsAreLimitedAndABlankBodyIsEmpty(t *testing.T) {
	base := startService(t)
	for _, tc := range []struct {
		why, body string
		want      int
	}{
		{"a session id of 65 characters", `{"session_id":"` + strings.Repeat("a", 65) + `"}`, http.StatusBadRequest},
		{"a session id of 64 characters", `{"session_id":"` + strings.Repeat("a", 64) + `"}`, http.StatusNotFound},
		{"a blank body", "  \n", http.StatusBadRequest}, // session_id must not be null, not bad JSON
	} {
		resp, err := http.Post(base+"/home/a1/sessions/heartbeat", "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		var e sessions.ErrorBody
		json.NewDecoder(resp.Body).Decode(&e) //nolint:errcheck // checked below through the code
		resp.Body.Close()
		if resp.StatusCode != tc.want || tc.want == http.StatusBadRequest && e.Code != sessions.CodeInvalidData {
			t.Errorf("%s: got %d %s; want %d (400 being %s)", tc.why, resp.StatusCode, e.Code, tc.want, sessions.CodeInvalidData)
		}
	}
}

// max_nb_of_session is an integer written as a number or as text, an
// integral fraction or exponent included, as protobuf's JSON mapping takes it.
func TestCloudstateMaxSessionsIsReadAsTheProtoReadsIntegers(t *testing.T) {
	base := startService(t)
	for _, tc := range []struct {
		value string
		want  float64
	}{
		{`3`, 3}, {`"4"`, 4}, {`5.0`, 5}, {`"6.0"`, 6}, {`7e0`, 7}, {`0`, 0},
	} {
		resp, err := http.Post(base+"/home/a1/sessions/setMaxSession", "application/json",
			strings.NewReader(`{"max_nb_of_session":`+tc.value+`}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: got status %d; want 200", tc.value, resp.StatusCode)
			continue
		}
		resp, err = http.Get(base + "/homes/a1")
		if err != nil {
			t.Fatal(err)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("GET /homes/a1: Cache-Control %q; want no-store, as the answers carry users' data", cc)
		}
		var home struct {
			MaxSessions float64 `json:"maxSessions"`
		}
		json.NewDecoder(resp.Body).Decode(&home) //nolint:errcheck // checked through the value
		resp.Body.Close()
		if home.MaxSessions != tc.want {
			t.Errorf("%s: maxSessions got %v; want %v", tc.value, home.MaxSessions, tc.want)
		}
	}
}

// A query pair that cannot be read is refused, not dropped: dropped, the
// account_id it carried would be taken from the body instead, or missing.
func TestCloudstateRefusesAQueryItCannotRead(t *testing.T) {
	base := startService(t)
	for _, query := range []string{"account_id=%zz", "account_id=a1;x"} {
		resp, err := http.Post(base+"/device/d1/create?"+query, "application/json", strings.NewReader(`{"account_id":"a2"}`))
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Code string }
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || body.Code != sessions.CodeInvalidData {
			t.Errorf("%s: got %d %s; want 400 %s", query, resp.StatusCode, body.Code, sessions.CodeInvalidData)
		}
	}
}
