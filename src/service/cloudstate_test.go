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
