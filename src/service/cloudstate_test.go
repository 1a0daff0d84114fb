package service_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
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
