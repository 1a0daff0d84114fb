package service

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

type schema = map[string]any

// APIDoc is what the OpenAPI document of one commandable route says.
type APIDoc struct {
	Title, Description string
	Route              string // e.g. v1/sessions
	Commands           []logic.Command
	// Streams documents the route's two Server-Sent Events streams.
	Streams bool
	// Secured says the endpoint asks for an API key.
	Secured bool
}

// OpenAPI returns the OpenAPI 3 document of a commandable service, derived
// from the command definitions: one POST operation per command, its request
// body built from the arguments, its responses from the result type and
// the failures the command lists.
func OpenAPI(d APIDoc) ([]byte, error) {
	title, baseRoute := d.Title, d.Route
	if title == "" {
		title = "service-sessions"
	}
	g := &schemas{defs: schema{}}
	g.defs["Error"] = errorSchema()
	paths := schema{}
	for _, c := range d.Commands {
		op := schema{
			"operationId": c.Name,
			"summary":     c.Doc,
			"tags":        []string{baseRoute},
			"parameters": []schema{{"name": "correlation_id", "in": "query", "required": false,
				"description": "Ties the request to its log lines and errors", "schema": schema{"type": "string"}}},
			"requestBody": schema{"content": schema{"application/json": schema{"schema": g.request(c)}}},
			"responses":   g.responses(c, d.Secured),
		}
		if c.Repeatable {
			op["description"] = "Repeatable: sending it again after an attempt that failed or went unanswered does what one attempt does, and answers alike."
		}
		paths["/"+baseRoute+"/"+c.Name] = schema{"post": op}
	}
	if d.Streams {
		addStreamPaths(paths, baseRoute)
	}
	components := schema{"schemas": g.defs}
	doc := schema{
		"openapi":    "3.0.3",
		"info":       schema{"title": title, "description": d.Description, "version": "1.0"},
		"servers":    []schema{{"url": "/"}}, // the service that serves the document
		"paths":      paths,
		"components": components,
	}
	if d.Secured {
		components["securitySchemes"] = schema{"apiKey": schema{"type": "http", "scheme": "bearer",
			"description": "One of the endpoint's api_keys"}}
		doc["security"] = []schema{{"apiKey": []string{}}}
	}
	return json.MarshalIndent(doc, "", "  ")
}

// schemas builds JSON schemas from Go types, naming structs as components.
type schemas struct{ defs schema }

// request returns the schema of a command's request body: an object of its
// arguments.
func (g *schemas) request(c logic.Command) schema {
	props, required := schema{}, []string{}
	for _, a := range c.Args {
		s := g.of(a.Type, a.MaxLen)
		switch {
		case a.Required && s["type"] == "string":
			s["minLength"] = 1 // an empty id is a missing one
		case a.Required && s["type"] == nil && s["$ref"] == nil: // any JSON value
			s["description"] = "Any JSON value but null"
			s["not"] = schema{"enum": []any{nil}}
		case !a.Required && s["type"] != nil:
			s["nullable"] = true // null is absent, as the Node client sends it
		}
		props[a.Name] = s
		if a.Required {
			required = append(required, a.Name)
		}
	}
	body := schema{"type": "object", "properties": props}
	if len(required) > 0 {
		body["required"] = required
	}
	if len(c.OneOf) > 0 {
		var anyOf []schema
		for _, name := range c.OneOf {
			anyOf = append(anyOf, schema{"required": []string{name},
				"properties": schema{name: schema{"type": "string", "minLength": 1}}})
		}
		body["anyOf"] = anyOf
	}
	return body
}

// responses returns a command's responses by status: the result, the
// failures it lists and those every command may meet.
func (g *schemas) responses(c logic.Command, secured bool) schema {
	responses := schema{
		"400": errorResponse("Invalid arguments (INVALID_DATA) or malformed JSON (BAD_JSON)"),
		strconv.Itoa(statusByCode[sessions.CodeBodyTooLarge]): errorResponse("The body is larger than the endpoint takes (" + sessions.CodeBodyTooLarge + ")"),
		strconv.Itoa(statusByCode[sessions.CodeNotJSON]):      errorResponse("The body is not JSON (" + sessions.CodeNotJSON + ")"),
		"500": errorResponse(unavailable(c.Repeatable)),
	}
	if secured {
		responses["401"] = errorResponse("No valid API key (UNAUTHORIZED)")
	}
	byStatus := map[int][]string{}
	for _, f := range c.Failures {
		status := statusOf(f.Category)
		byStatus[status] = append(byStatus[status], f.Code)
	}
	for status, codes := range byStatus {
		key := strconv.Itoa(status)
		if r, ok := responses[key].(schema); ok { // 400: one more code than the generic ones
			r["description"] = r["description"].(string) + "; " + strings.Join(codes, ", ")
			continue
		}
		responses[key] = errorResponse(http.StatusText(status) + ": " + strings.Join(codes, ", "))
	}
	if c.Result != nil {
		responses["200"] = schema{"description": "The result",
			"content": schema{"application/json": schema{"schema": g.of(c.Result, 0)}}}
		if c.OrNothing {
			responses["204"] = schema{"description": "Nothing found"}
		}
	} else {
		responses["204"] = schema{"description": "Done; nothing to return"}
	}
	return responses
}

func (g *schemas) of(t reflect.Type, maxLen int) schema {
	switch t {
	case reflect.TypeFor[time.Time](), reflect.TypeFor[sessions.Time]():
		return schema{"type": "string", "format": "date-time"}
	case reflect.TypeFor[json.RawMessage]():
		return schema{"description": "Any JSON value"}
	case reflect.TypeFor[sessions.FilterParams]():
		return schema{"type": "object", "maxProperties": sessions.MaxMapEntries,
			"additionalProperties": schema{"oneOf": []schema{{"type": "string", "nullable": true}, {"type": "number"}, {"type": "boolean"}}},
			"description":          fmt.Sprintf("Filter keys and values; values may be strings, numbers or booleans, and a null one is absent; at most %d bytes as JSON", sessions.MaxMapBytes)}
	case reflect.TypeFor[*sessions.PagingParams]():
		// Read as the Node service reads them: numbers and booleans may
		// come as text, as its client sends them.
		integer := schema{"oneOf": []schema{
			{"type": "number", "nullable": true, "description": "A fraction is rounded, a half up, as the Node service rounds it"},
			{"type": "string", "pattern": `^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`, "description": "A number as text: 10, 1e1"}}}
		return schema{"type": "object", "properties": schema{
			"skip": integer, "take": integer,
			"total": schema{"oneOf": []schema{{"type": "boolean", "nullable": true}, {"type": "integer", "enum": []int{0, 1}},
				{"type": "string", "pattern": "^([Tt]([Rr][Uu][Ee])?|[Ff]([Aa][Ll][Ss][Ee])?|[Yy]([Ee][Ss])?|[Nn][Oo]?|[01])?$",
					"description": "true, t, yes, y, 1 or their opposites, in any case"}}}}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.of(t.Elem(), maxLen)
	case reflect.String:
		s := schema{"type": "string"}
		if maxLen > 0 {
			s["maxLength"] = maxLen
		}
		return s
	case reflect.Bool:
		return schema{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64:
		return schema{"type": "integer"}
	case reflect.Float64:
		return schema{"type": "number"}
	case reflect.Map:
		// Every map the API takes or gives is bounded so (see sessions.MaxMapBytes).
		return schema{"type": "object", "maxProperties": sessions.MaxMapEntries, "additionalProperties": g.of(t.Elem(), maxLen),
			"description": fmt.Sprintf("At most %d entries and %d bytes as JSON", sessions.MaxMapEntries, sessions.MaxMapBytes)}
	case reflect.Slice:
		return schema{"type": "array", "items": g.of(t.Elem(), 0)}
	case reflect.Struct:
		name := t.Name()
		if _, done := g.defs[name]; !done {
			g.defs[name] = schema{} // placeholder against recursion
			props, required := schema{}, []string(nil)
			g.fields(t, props, &required)
			def := schema{"type": "object", "properties": props}
			if required != nil {
				def["required"] = required
			}
			g.defs[name] = def
		}
		return schema{"$ref": "#/components/schemas/" + name}
	}
	return schema{}
}

// fields adds the properties of struct t to props, and its required
// fields to required. The fields of an embedded struct without a JSON name
// are its own, as encoding/json writes them.
func (g *schemas) fields(t reflect.Type, props schema, required *[]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct:
			g.fields(f.Type, props, required)
			continue
		case tag == "" || tag == "-" || !f.IsExported():
			continue
		}
		s := g.of(f.Type, 0)
		if nullable(f, opts) && s["type"] != nil { // any JSON value admits null already
			s["nullable"] = true
		}
		maps.Copy(s, fieldBounds[t][tag])
		props[tag] = s
		if f.Tag.Get("required") == "true" {
			*required = append(*required, tag)
		}
	}
}

// fieldBounds are the bounds a struct's Validate checks, stated in its
// schema from the same constants.
var fieldBounds = map[reflect.Type]map[string]schema{
	reflect.TypeFor[sessions.Home](): {
		"id":           {"minLength": 1, "maxLength": sessions.MaxIDLength, "description": "The account's user_id"},
		"max_sessions": {"minimum": 0, "maximum": sessions.MaxMaxSessions},
		"lease_timeout": {"minimum": 0, "maximum": sessions.MaxLeaseTimeout.Milliseconds(),
			"anyOf": []schema{{"enum": []int{0}}, {"minimum": sessions.MinLeaseTimeout.Milliseconds()}},
			"description": fmt.Sprintf("ms a session lives without a renew; 0 for the service default, else at least %d",
				sessions.MinLeaseTimeout.Milliseconds())},
		"policy": {"enum": []any{sessions.PolicyDeny, sessions.PolicyEvictOldest, "", nil}, "nullable": true, "default": sessions.PolicyDeny,
			"description": "What an open does at the limit; empty or null is deny"},
	},
}

// nullable reports whether a field is written as null when empty: it is
// tagged nullable:"true", or it is a pointer its json options do not omit
// when nil.
func nullable(f reflect.StructField, jsonOpts string) bool {
	has := func(o string) bool { return slices.Contains(strings.Split(jsonOpts, ","), o) }
	return f.Tag.Get("nullable") == "true" || f.Type.Kind() == reflect.Pointer && !has("omitempty") && !has("omitzero")
}

func errorSchema() schema {
	str, orNull := schema{"type": "string"}, schema{"type": "string", "nullable": true}
	return schema{"type": "object", "properties": schema{
		"type": str, "category": str, "status": schema{"type": "integer"}, "code": str, "message": str,
		"details": schema{"type": "object", "nullable": true}, "correlation_id": orNull, "cause": orNull, "stack_trace": orNull,
	}}
}

func errorResponse(description string) schema {
	return schema{"description": description, "content": schema{"application/json": schema{
		"schema": schema{"$ref": "#/components/schemas/Error"}}}}
}

// addStreamPaths documents GET /<route>/events and /<route>/notifications.
func addStreamPaths(paths schema, route string) {
	query := func(name, description string, required bool, maxLen int) schema {
		s := schema{"type": "string"}
		if maxLen > 0 {
			s["maxLength"] = maxLen
		}
		return schema{"name": name, "in": "query", "required": required, "description": description, "schema": s}
	}
	stream := func(description string) schema {
		return schema{"description": description, "content": schema{"text/event-stream": schema{"schema": schema{"type": "string"}}}}
	}
	busy := errorResponse("The instance holds as many streams as it may (" + sessions.CodeTooManyStreams +
		") or is stopping (" + sessions.CodeServiceStopping + "): try again later")
	busyStatus := strconv.Itoa(statusByCode[sessions.CodeTooManyStreams])
	paths["/"+route+"/"+sessions.EventsStream] = schema{"get": schema{
		"operationId": sessions.EventsStream,
		"summary": "Streams session events as Server-Sent Events: id, event (the type) and data {id, type, time, session}; " +
			"a reset message when Last-Event-ID is no longer buffered.",
		"tags": []string{route},
		"parameters": []schema{
			query("user_id", "Only events of this account", false, sessions.MaxTextLength),
			query("client", "Only events of sessions of this client", false, sessions.MaxTextLength),
			query("types", "Comma-separated event types: "+strings.Join(sessions.EventTypes(), ", "), false, 0),
			query("last_event_id", "Resume after this event id (as the Last-Event-ID header does)", false, 0),
		},
		"responses": schema{"200": stream("The event stream"), "400": errorResponse("Invalid filter or Last-Event-ID"),
			busyStatus: busy},
	}}
	paths["/"+route+"/"+sessions.NotificationsStream] = schema{"get": schema{
		"operationId": sessions.NotificationsStream,
		"summary": "A device's stream of the notifications sent to its session (event: notification); " +
			"it ends with event: end {session_id, reason} when the session ends.",
		"tags":       []string{route},
		"parameters": []schema{query("session_id", "The device's session", true, sessions.MaxSessionIDLength)},
		"responses": schema{"200": stream("The notification stream"), "400": errorResponse("No session_id, or one longer than a command's (INVALID_DATA)"),
			"404":      errorResponse("The session is not live (" + sessions.CodeSessionNotFound + ", " + sessions.CodeSessionExpired + ")"),
			busyStatus: busy},
	}}
}

// unavailable describes the 500 answer of a command, repeatable or not.
func unavailable(repeatable bool) string {
	const failure = "Internal failure; category NoResponse (code STORE_UNAVAILABLE) when the session store is unavailable"
	if repeatable {
		return failure + ": the command may be sent again"
	}
	return failure + ": the command may or may not have been done"
}
