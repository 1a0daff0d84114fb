package test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/build"
	"github.com/sessionsd/service-sessions-go/src/container"
)

// nodeConfig is a verbatim copy of the Node service's own config.yml.
var nodeConfig = repoFile("src", "container", "testdata", "pip-node-config.yml")

func TestTheNodeServiceConfigStartsThisService(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]string
	}{
		{"memory", map[string]string{}},
		{"file", map[string]string{"FILE_ENABLED": "true", "FILE_PATH": filepath.Join(t.TempDir(), "sessions.json")}},
		{"mongodb", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "mongodb" {
				uri := mongoURI(t)
				tc.params = map[string]string{"MONGO_ENABLED": "true", "MONGO_SERVICE_URI": uri, "MONGO_DB": mongoDatabase(t, uri)}
			}
			base, _ := startConfig(t, nodeConfig, tc.params)
			s := openSession(t, base, map[string]any{"user_id": "u1"})
			wantStatus(t, command(t, base, "get_session_by_id", map[string]any{"session_id": s["id"]}), http.StatusOK)
			wantStatus(t, call(t, http.MethodGet, base+"/heartbeat", nil), http.StatusOK)
			wantStatus(t, call(t, http.MethodGet, base+"/v1/sessions/swagger", nil), http.StatusOK)
		})
	}
}

func TestTheExampleConfigStartsWithEveryServiceItShows(t *testing.T) {
	base, _ := startConfig(t, repoFile("config.example.yml"), map[string]string{
		"FILE_PATH": filepath.Join(t.TempDir(), "sessions.json")})
	s := openSession(t, base, map[string]any{"user_id": "u1"})
	wantStatus(t, command(t, base, "get_session_by_id", map[string]any{"session_id": s["id"]}), http.StatusOK)
	for _, path := range []string{"/heartbeat", "/status", "/swagger", "/v1/sessions/swagger", "/v1/homes/swagger", "/v1/devices/swagger"} {
		wantStatus(t, call(t, http.MethodGet, base+path, nil), http.StatusOK)
	}
}

func TestBadConfigsFailWithOneClearLine(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		want         []string
	}{
		{"unknown descriptor", `- descriptor: "acme:widget:default:default:1.0"`,
			[]string{"unknown descriptor", "acme:widget:default:default:1.0"}},
		{"gRPC", `- descriptor: "pip-services:endpoint:grpc:default:1.0"`,
			[]string{"pip-services:endpoint:grpc:default:1.0", "gRPC is not supported"}},
		{"bad value", "- descriptor: \"service-sessions:persistence:memory:default:1.0\"\n" +
			"- descriptor: \"service-sessions:controller:default:default:1.0\"\n  options:\n    expire_timeout: soon",
			[]string{"service-sessions:controller:default:default:1.0", "options.expire_timeout", `"soon"`}},
		{"an expire timeout of 0, which would close every session", "- descriptor: \"service-sessions:persistence:memory:default:1.0\"\n" +
			"- descriptor: \"service-sessions:controller:default:default:1.0\"\n  options:\n    expire_timeout: 0",
			[]string{"options.expire_timeout", "cleanup_interval to 0 to stop the sweep"}},
		{"missing dependency", `- descriptor: "service-sessions:controller:default:default:1.0"`,
			[]string{"service-sessions:controller:default:default:1.0", "service-sessions:persistence"}},
		{"file without a path", `- descriptor: "service-sessions:persistence:file:default:1.0"`,
			[]string{"service-sessions:persistence:file:default:1.0", "path"}},
		{"bad port", "- descriptor: \"pip-services:endpoint:http:default:1.0\"\n  connection:\n    port: http",
			[]string{"pip-services:endpoint:http:default:1.0", "connection.port"}},
		// Read as text, these were a file named "[a]", and every default.
		{"a list where one value belongs", "- descriptor: \"service-sessions:persistence:file:default:1.0\"\n  path: [a]",
			[]string{"service-sessions:persistence:file:default:1.0", "path: a list"}},
		{"a section written as one value", "- descriptor: \"pip-services:endpoint:http:default:1.0\"\n  connection: 5",
			[]string{"pip-services:endpoint:http:default:1.0", "connection: 5 is one value"}},
		{"options written as one value", "- descriptor: \"service-sessions:persistence:memory:default:1.0\"\n" +
			"- descriptor: \"service-sessions:controller:default:default:1.0\"\n  options: hello",
			[]string{"service-sessions:controller:default:default:1.0", "options: hello is one value"}},
		{"two endpoints", "- descriptor: \"pip-services:endpoint:http:default:1.0\"\n  connection:\n    port: 0\n" +
			"- descriptor: \"pip-services:endpoint:http:admin:1.0\"\n  connection:\n    port: 0",
			[]string{"pip-services:endpoint:http:default:1.0", "2 HTTP endpoints"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := container.Build(build.Factories(), tc.config, nil)
			if err == nil {
				err = p.Open(t.Context())
				if err == nil {
					t.Cleanup(func() { p.Close(t.Context()) })
				}
			}
			if err == nil {
				t.Fatalf("config %q started; want an error", tc.config)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q; want one line", msg)
			}
			for _, want := range tc.want {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not name %q", msg, want)
				}
			}
		})
	}
}

// The shipped config takes the API keys, the CORS origins and the file
// store's sync mode from parameters, so a container needs no config of its own.
func TestTheShippedConfigTakesAPIKeysCORSOriginsAndSyncFromParameters(t *testing.T) {
	shipped := repoFile("config", "config.yml")
	base, _ := startConfig(t, shipped, map[string]string{"MEMORY_ENABLED": "true",
		"API_KEYS": "key-one,key-two", "CORS_ORIGINS": "https://app.example"})
	open := base + "/v1/sessions/open_session"
	wantStatus(t, call(t, http.MethodPost, open, map[string]any{"user_id": "u1"}), http.StatusUnauthorized)
	r := call(t, http.MethodPost, open, map[string]any{"user_id": "u1"}, "Authorization", "Bearer key-two", "Origin", "https://app.example")
	wantStatus(t, r, http.StatusOK)
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("Access-Control-Allow-Origin: got %q; want the origin CORS_ORIGINS names", got)
	}

	// Unset, no key is asked and every origin may call.
	base, _ = startConfig(t, shipped, map[string]string{"MEMORY_ENABLED": "true"})
	r = call(t, http.MethodPost, base+"/v1/sessions/open_session", map[string]any{"user_id": "u1"}, "Origin", "https://any.example")
	wantStatus(t, r, http.StatusOK)
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin without CORS_ORIGINS: got %q; want *", got)
	}

	text, err := os.ReadFile(shipped)
	if err != nil {
		t.Fatal(err)
	}
	for _, params := range []map[string]string{{"FILE_ENABLED": "true"}, {}} {
		params["FILE_SYNC"] = "sometimes"
		params["FILE_PATH"] = filepath.Join(t.TempDir(), "sessions.json")
		if _, err := container.Build(build.Factories(), string(text), params); err == nil || !strings.Contains(err.Error(), `options.sync: "sometimes"`) {
			t.Errorf("FILE_SYNC=sometimes with %v: got %v; want options.sync refused", params, err)
		}
	}
}
