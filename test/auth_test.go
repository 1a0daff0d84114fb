package test

import (
	"net/http"
	"testing"
)

var apiKeyConfig = endpointConfig(`    api_keys: "key-one, key-two"`) + `- descriptor: "pip-services:heartbeat-service:http:default:1.0"
`

func TestAPIKeysGuardEveryRouteButTheHeartbeat(t *testing.T) {
	base, _ := startText(t, apiKeyConfig, nil)
	open := base + "/v1/sessions/open_session"
	body := map[string]any{"user_id": "u1"}

	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"no key", nil, http.StatusUnauthorized},
		{"wrong key", []string{"Authorization", "Bearer key-three"}, http.StatusUnauthorized},
		{"not a bearer token", []string{"Authorization", "key-one"}, http.StatusUnauthorized},
		{"first key", []string{"Authorization", "Bearer key-one"}, http.StatusOK},
		{"second key", []string{"Authorization", "Bearer key-two"}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, http.MethodPost, open, body, tc.header...)
			wantStatus(t, r, tc.want)
			if tc.want == http.StatusUnauthorized {
				if e := r.JSON(t); e["category"] != "Unauthorized" || e["code"] != "UNAUTHORIZED" {
					t.Errorf("error body: got %s; want Unauthorized/UNAUTHORIZED", r.Body)
				}
			}
		})
	}
	wantStatus(t, call(t, http.MethodGet, base+"/heartbeat", nil), http.StatusOK)
}
