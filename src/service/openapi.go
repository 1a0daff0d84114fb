package service

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

type schema = map[string]any

// OpenAPI returns the OpenAPI 3 document of a commandable service, derived
// from the command definitions: one POST operation per command, its request
// body built from the arguments, its responses from the result type. With
// streams, the route's two Server-Sent Events streams are documented too.
func OpenAPI(title, description, baseRoute string, commands []logic.Command, streams bool) ([]byte, error) {
	if title == "" {
		title = "service-sessions"
	}
	g := &schemas{defs: schema{}}
	g.defs["Error"] = errorSchema()
	paths := schema{}
	for _, c := range commands {
		props, required := schema{}, []string{}
		for _, a := range c.Args {
			props[a.Name] = g.of(a.Type, a.MaxLen)
			if a.Required {
				required = append(required, a.Name)
			}
		}
		body := schema{"type": "object", "properties": props}
		if len(required) > 0 {
			body["required"] = required
		}
		responses := schema{
			"400": errorResponse("Invalid arguments"),
			"500": errorResponse("Internal failure; category NoResponse (code STORE_UNAVAILABLE) when the session store is unavailable, which may be retried"),
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
		paths["/"+baseRoute+"/"+c.Name] = schema{"post": schema{
			"operationId": c.Name,
			"summary":     c.Doc,
			"tags":        []string{baseRoute},
			"parameters": []schema{{"name": "correlation_id", "in": "query", "required": false,
				"description": "Ties the request to its log lines and errors", "schema": schema{"type": "string"}}},
			"requestBody": schema{"content": schema{"application/json": schema{"schema": body}}},
			"responses":   responses,
		}}
	}
	if streams {
		addStreamPaths(paths, baseRoute)
	}
	doc := schema{
		"openapi":    "3.0.3",
		"info":       schema{"title": title, "description": description, "version": "1.0"},
		"paths":      paths,
		"components": schema{"schemas": g.defs},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// schemas builds JSON schemas from Go types, naming structs as components.
type schemas struct{ defs schema }

func (g *schemas) of(t reflect.Type, maxLen int) schema {
	switch t {
	case reflect.TypeFor[time.Time](), reflect.TypeFor[sessions.Time]():
		return schema{"type": "string", "format": "date-time"}
	case reflect.TypeFor[json.RawMessage]():
		return schema{"description": "Any JSON value", "nullable": true}
	case reflect.TypeFor[sessions.FilterParams]():
		return schema{"type": "object",
			"additionalProperties": schema{"oneOf": []schema{{"type": "string"}, {"type": "number"}, {"type": "boolean"}}},
			"description":          "Filter keys and values; values may be strings, numbers or booleans"}
	case reflect.TypeFor[*sessions.PagingParams]():
		// Read as the Node service reads them: numbers and booleans may
		// come as text, as its client sends them.
		integer := schema{"oneOf": []schema{{"type": "integer"}, {"type": "string", "description": "An integer as text: 10, 1e1"}}}
		return schema{"type": "object", "properties": schema{
			"skip": integer, "take": integer,
			"total": schema{"oneOf": []schema{{"type": "boolean"}, {"type": "string"}}}}}
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
		return schema{"type": "object", "additionalProperties": g.of(t.Elem(), maxLen)}
	case reflect.Slice:
		return schema{"type": "array", "items": g.of(t.Elem(), 0)}
	case reflect.Struct:
		name := t.Name()
		if _, done := g.defs[name]; !done {
			g.defs[name] = schema{} // placeholder against recursion
			props := schema{}
			for i := range t.NumField() {
				f := t.Field(i)
				tag, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
				if tag == "" || tag == "-" || !f.IsExported() {
					continue
				}
				s := g.of(f.Type, 0)
				if nullable(f, opts) && s["$ref"] == nil {
					s["nullable"] = true
				}
				maps.Copy(s, fieldBounds[t][tag])
				props[tag] = s
			}
			def := schema{"type": "object", "properties": props}
			if req := requiredFields[t]; req != nil {
				def["required"] = req
			}
			g.defs[name] = def
		}
		return schema{"$ref": "#/components/schemas/" + name}
	}
	return schema{}
}

// fieldBounds are the bounds a struct's Validate checks, stated in its
// schema from the same constants.
var fieldBounds = map[reflect.Type]map[string]schema{
	reflect.TypeFor[sessions.Home](): {
		"id":           {"maxLength": sessions.MaxHomeIDLength, "description": "The account's user_id"},
		"max_sessions": {"minimum": 0, "maximum": sessions.MaxMaxSessions},
		"lease_timeout": {"minimum": 0, "maximum": sessions.MaxLeaseTimeout.Milliseconds(),
			"description": fmt.Sprintf("ms a session lives without a renew; 0 for the service default, else at least %d",
				sessions.MinLeaseTimeout.Milliseconds())},
		"policy": {"enum": []string{sessions.PolicyDeny, sessions.PolicyEvictOldest}, "default": sessions.PolicyDeny},
	},
}

// requiredFields are the fields a struct's Validate requires.
var requiredFields = map[reflect.Type][]string{
	reflect.TypeFor[sessions.Home](): {"id"},
}

// nullable reports whether a field is written as null when empty: it is
// tagged nullable:"true", or it is a pointer its json options do not omit
// when nil.
func nullable(f reflect.StructField, jsonOpts string) bool {
	has := func(o string) bool { return slices.Contains(strings.Split(jsonOpts, ","), o) }
	return f.Tag.Get("nullable") == "true" || f.Type.Kind() == reflect.Pointer && !has("omitempty") && !has("omitzero")
}

func errorSchema() schema {
	str := schema{"type": "string"}
	return schema{"type": "object", "properties": schema{
		"type": str, "category": str, "status": schema{"type": "integer"}, "code": str, "message": str,
		"details": schema{"type": "object"}, "correlation_id": str, "cause": str, "stack_trace": str,
	}}
}

func errorResponse(description string) schema {
	return schema{"description": description, "content": schema{"application/json": schema{
		"schema": schema{"$ref": "#/components/schemas/Error"}}}}
}

// addStreamPaths documents GET /<route>/events and /<route>/notifications.
func addStreamPaths(paths schema, route string) {
	query := func(name, description string, required bool) schema {
		return schema{"name": name, "in": "query", "required": required, "description": description,
			"schema": schema{"type": "string"}}
	}
	stream := func(description string) schema {
		return schema{"description": description, "content": schema{"text/event-stream": schema{"schema": schema{"type": "string"}}}}
	}
	busy := errorResponse("The instance holds as many streams as it may (TOO_MANY_STREAMS) or is stopping (SERVICE_STOPPING): try again later")
	paths["/"+route+"/events"] = schema{"get": schema{
		"operationId": "events",
		"summary": "Streams session events as Server-Sent Events: id, event (the type) and data {id, type, time, session}; " +
			"a reset message when Last-Event-ID is no longer buffered.",
		"tags": []string{route},
		"parameters": []schema{
			query("user_id", "Only events of this account", false),
			query("client", "Only events of sessions of this client", false),
			query("types", "Comma-separated event types: "+strings.Join(sessions.EventTypes, ", "), false),
			query("last_event_id", "Resume after this event id (as the Last-Event-ID header does)", false),
		},
		"responses": schema{"200": stream("The event stream"), "400": errorResponse("Invalid filter or Last-Event-ID"),
			"503": busy},
	}}
	paths["/"+route+"/notifications"] = schema{"get": schema{
		"operationId": "notifications",
		"summary": "A device's stream of the notifications sent to its session (event: notification); " +
			"it ends with event: end {session_id, reason} when the session ends.",
		"tags":       []string{route},
		"parameters": []schema{query("session_id", "The device's session", true)},
		"responses": schema{"200": stream("The notification stream"), "400": errorResponse("No session_id"),
			"404": errorResponse("The session is not live (SESSION_NOT_FOUND, SESSION_EXPIRED)"), "503": busy},
	}}
}
