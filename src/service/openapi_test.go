package service_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/service"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// document returns the OpenAPI document of a route of the controller's
// commands, decoded.
func document(t *testing.T, route string, secured bool) map[string]any {
	t.Helper()
	var commands []logic.Command
	for _, c := range logic.NewController(nil, nil).Commands() {
		if c.Route == route {
			commands = append(commands, c)
		}
	}
	b, err := service.OpenAPI(service.APIDoc{Route: route, Commands: commands, Secured: secured})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// at walks doc along keys.
func at(doc map[string]any, keys ...string) any {
	var v any = doc
	for _, k := range keys {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

func keysOf(v any) []string {
	m, _ := v.(map[string]any)
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestTheDocumentListsEveryStatusACommandMayAnswer(t *testing.T) {
	doc := document(t, sessions.SessionsRoute, false)
	for path, want := range map[string][]string{
		"/v1/sessions/open_session":      {"200", "400", "404", "409", "413", "415", "500"},
		"/v1/sessions/renew_session":     {"200", "400", "404", "413", "415", "500"},
		"/v1/sessions/get_session_by_id": {"200", "204", "400", "413", "415", "500"},
	} {
		if got := keysOf(at(doc, "paths", path, "post", "responses")); !slices.Equal(got, want) {
			t.Errorf("%s: responses %v; want %v", path, got, want)
		}
	}
	if got := at(doc, "paths", "/v1/sessions/open_session", "post", "responses", "409", "description"); got != "Conflict: MAX_SESSIONS_EXCEEDED, DEVICE_MOVED" {
		t.Errorf("open_session 409: got %q; want the codes named", got)
	}
	if got := at(doc, "components", "schemas", "Error", "properties", "details", "nullable"); got != true {
		t.Errorf("Error.details: nullable %v; want true, as errors without details send null", got)
	}
	if at(doc, "security") != nil || at(doc, "components", "securitySchemes") != nil {
		t.Error("a document of an endpoint without API keys declares security")
	}
}

func TestASecuredEndpointsDocumentDeclaresItsKey(t *testing.T) {
	doc := document(t, sessions.SessionsRoute, true)
	if got := at(doc, "components", "securitySchemes", "apiKey", "scheme"); got != "bearer" {
		t.Errorf("security scheme: got %v; want bearer", got)
	}
	if !reflect.DeepEqual(at(doc, "security"), []any{map[string]any{"apiKey": []any{}}}) {
		t.Errorf("security: got %v; want the API key on every operation", at(doc, "security"))
	}
	if at(doc, "paths", "/v1/sessions/get_sessions", "post", "responses", "401") == nil {
		t.Error("get_sessions: no 401 documented")
	}
}

// What the service accepts and refuses, as the request schemas say it.
func TestRequestSchemasAdmitWhatTheServiceTakes(t *testing.T) {
	doc := document(t, sessions.SessionsRoute, false)
	body := func(command string) map[string]any {
		return at(doc, "paths", "/v1/sessions/"+command, "post", "requestBody", "content", "application/json", "schema").(map[string]any)
	}
	open := body("open_session")
	if got := at(open, "properties", "user_name", "nullable"); got != true {
		t.Errorf("open_session user_name: nullable %v; want true, as the Node client sends null", got)
	}
	if got := len(open["anyOf"].([]any)); got != 2 {
		t.Errorf("open_session: anyOf of %d; want user_id or device_id", got)
	}
	for _, m := range []any{at(open, "properties", "details"), at(body("get_sessions"), "properties", "filter")} {
		if got := at(m.(map[string]any), "maxProperties"); got != float64(sessions.MaxMapEntries) {
			t.Errorf("details and filter: maxProperties %v; want %d, as the service bounds them", got, sessions.MaxMapEntries)
		}
	}
	store := body("store_session_data")
	if got := at(store, "properties", "session_id", "minLength"); got != 1.0 {
		t.Errorf("store_session_data session_id: minLength %v; want 1, an empty id being a missing one", got)
	}
	if at(store, "properties", "data", "not") == nil {
		t.Error("store_session_data data: null admitted; the service refuses it")
	}
	walk(doc, func(m map[string]any) {
		if m["nullable"] == true && m["type"] == nil { // OpenAPI 3.0 needs a type beside it
			t.Errorf("nullable without a type: %v", m)
		}
	})
	paging := at(body("get_sessions"), "properties", "paging", "properties", "take", "oneOf").([]any)
	text := regexp.MustCompile(paging[1].(map[string]any)["pattern"].(string))
	for in, want := range map[string]bool{"10": true, "1e1": true, "+7": true, "2.5": true, " 5 ": false, "abc": false, "": false} {
		if text.MatchString(in) != want {
			t.Errorf("paging.take as text %q: admitted %v; want %v, as the service reads it", in, !want, want)
		}
	}
	homes := document(t, sessions.HomesRoute, false)
	if got := keysOf(at(homes, "components", "schemas", "HomeStatus", "properties")); !slices.Equal(got,
		[]string{"active_count", "id", "lease_timeout", "max_sessions", "policy", "sessions"}) {
		t.Errorf("HomeStatus: properties %v; want the home's with its count and sessions", got)
	}
}

func walk(v any, f func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(v)
		for _, e := range v {
			walk(e, f)
		}
	case []any:
		for _, e := range v {
			walk(e, f)
		}
	}
}

func TestTheDocumentSaysWhichCommandsAClientMaySendAgain(t *testing.T) {
	doc := document(t, sessions.SessionsRoute, false)
	for path, want := range map[string]bool{
		"/v1/sessions/get_session_by_id":   true,
		"/v1/sessions/renew_session":       true,
		"/v1/sessions/open_session":        false,
		"/v1/sessions/close_user_sessions": false,
	} {
		desc, _ := at(doc, "paths", path, "post", "description").(string)
		if got := regexp.MustCompile(`^Repeatable:`).MatchString(desc); got != want {
			t.Errorf("%s: description %q; want repeatable %v", path, desc, want)
		}
	}
}

// The streams' query parameters are bounded in the document as the service
// bounds them.
func TestTheStreamsParametersStateTheirBounds(t *testing.T) {
	b, err := service.OpenAPI(service.APIDoc{Route: sessions.SessionsRoute, Streams: true})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		stream, param string
		want          float64
	}{
		{sessions.EventsStream, "user_id", sessions.MaxTextLength},
		{sessions.EventsStream, "client", sessions.MaxTextLength},
		{sessions.NotificationsStream, "session_id", sessions.MaxSessionIDLength},
	} {
		params, _ := at(doc, "paths", "/"+sessions.SessionsRoute+"/"+tc.stream, "get", "parameters").([]any)
		var got any
		for _, p := range params {
			if p, _ := p.(map[string]any); p["name"] == tc.param {
				got = at(p, "schema", "maxLength")
			}
		}
		if got != tc.want {
			t.Errorf("%s %s maxLength: got %v; want %v", tc.stream, tc.param, got, tc.want)
		}
	}
}

// The documented error is the body the service writes: every key, and null
// where an error may have no value.
func TestTheErrorSchemaIsTheErrorBody(t *testing.T) {
	b, err := json.Marshal(sessions.ErrorBody{})
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatal(err)
	}
	props := at(document(t, sessions.SessionsRoute, false), "components", "schemas", "Error", "properties")
	if got, want := keysOf(props), keysOf(body); !slices.Equal(got, want) {
		t.Errorf("Error schema: properties %v; want the body's keys %v", got, want)
	}
	for key, v := range body {
		if nullable := at(props.(map[string]any), key, "nullable") == true; (v == nil) != nullable {
			t.Errorf("Error schema %s: nullable %v; the body writes %v for none", key, nullable, v)
		}
	}
}
