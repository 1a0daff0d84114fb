package service

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Commandable is what a commandable service needs from a controller.
type Commandable interface {
	Commands() []logic.Command
}

// Counters records what the services do; the log and Prometheus counters
// components implement it.
type Counters interface {
	// CommandDone records one call of a command: how long it took and
	// the HTTP status it answered with (4xx or 5xx: an error).
	CommandDone(route, command string, d time.Duration, status int)
}

// AnyCountersLocator finds every counters component among the references,
// whatever its kind: the log counters, the Prometheus counters.
var AnyCountersLocator = container.Descriptor{Group: "pip-services", Type: "counters", Kind: "*", Name: "*", Version: "1.0"}

// CommandableHTTP exposes every command of a controller as
// POST /<route>/<command> with a JSON object of arguments, and the OpenAPI
// document of each route's commands at /<route>/swagger.
type CommandableHTTP struct {
	controller container.Descriptor
	swagger    bool
	streams    streams
	endpoint   *Endpoint
	counters   []Counters
	routes     []string
	docs       []SwaggerDoc
	// bodies holds the buffers request bodies are read into (*bytes.Buffer):
	// a body lives only until its command has decoded its arguments.
	bodies sync.Pool
}

// maxPooledBody is the largest buffer kept for another request; the few
// larger bodies (up to the endpoint's limit) leave theirs to the collector.
const maxPooledBody = 64 << 10

// NewCommandableHTTP returns a service for the controller that controller locates.
func NewCommandableHTTP(controller container.Descriptor) *CommandableHTTP {
	return &CommandableHTTP{controller: controller, swagger: true,
		streams: streams{keepAlive: DefaultKeepAlive, writeTimeout: DefaultStreamWriteTimeout}}
}

// Configure reads swagger.enable, and for the event streams
// options.keep_alive (ms between keep-alive comments on an idle stream) and
// options.write_timeout (ms a stream write may take before the client is
// dropped).
func (s *CommandableHTTP) Configure(cfg container.Config) error {
	enable, err := cfg.Bool("swagger.enable", true)
	if err != nil {
		return err
	}
	s.swagger = enable
	if s.streams.keepAlive, err = cfg.Millis("options.keep_alive", DefaultKeepAlive); err != nil {
		return err
	}
	if s.streams.writeTimeout, err = cfg.Millis("options.write_timeout", DefaultStreamWriteTimeout); err != nil {
		return err
	}
	if s.streams.keepAlive <= 0 || s.streams.writeTimeout <= 0 {
		return fmt.Errorf("options.keep_alive and options.write_timeout must be positive")
	}
	return nil
}

// SetReferences finds the controller and the endpoint and registers the routes.
func (s *CommandableHTTP) SetReferences(refs *container.References) error {
	ctrl, err := container.Required[Commandable](refs, s.controller)
	if err != nil {
		return err
	}
	if s.endpoint, err = container.Required[*Endpoint](refs, EndpointLocator); err != nil {
		return err
	}
	s.counters = container.All[Counters](refs, AnyCountersLocator)
	title, description := "", ""
	if info, ok := container.Optional[*container.ContextInfo](refs, container.ContextInfoLocator); ok {
		title, description = info.Name(), info.Description()
	}
	commands := ctrl.Commands()
	byRoute := map[string][]logic.Command{}
	r := s.endpoint.Router()
	for i := range commands {
		cmd := &commands[i]
		if _, seen := byRoute[cmd.Route]; !seen {
			s.routes = append(s.routes, cmd.Route)
		}
		byRoute[cmd.Route] = append(byRoute[cmd.Route], *cmd)
		r.Post("/"+cmd.Route+"/"+cmd.Name, s.handler(cmd))
	}
	if src, ok := ctrl.(EventSource); ok {
		s.streams.source, s.streams.endpoint = src, s.endpoint
		s.streams.register(sessions.SessionsRoute)
	}
	if !s.swagger {
		return nil
	}
	for _, route := range s.routes {
		doc, err := OpenAPI(APIDoc{Title: title, Description: description, Route: route, Commands: byRoute[route],
			Streams: s.streams.source != nil && route == sessions.SessionsRoute, Secured: s.endpoint.Secured()})
		if err != nil {
			return fmt.Errorf("openapi document of %s: %w", route, err)
		}
		s.docs = append(s.docs, SwaggerDoc{Path: "/" + route + "/swagger", JSON: doc})
		r.Get("/"+route+"/swagger", func(w http.ResponseWriter, _ *http.Request) {
			w.Header()["Content-Type"] = jsonContentType
			w.Write(doc) //nolint:errcheck // the client went away
		})
	}
	return nil
}

// SwaggerDocs returns every OpenAPI document the service publishes, for
// the swagger page; none when swagger is disabled.
func (s *CommandableHTTP) SwaggerDocs() []SwaggerDoc { return s.docs }

func (s *CommandableHTTP) handler(cmd *logic.Command) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		result, err := s.execute(r, cmd)
		took := time.Since(start)
		for _, c := range s.counters {
			c.CommandDone(cmd.Route, cmd.Name, took, answerStatus(result, err))
		}
		// Answers carry users' data: no cache keeps them, as in Node.
		w.Header()["Cache-Control"] = noStore
		switch {
		case err != nil:
			s.endpoint.WriteError(w, r, err)
		case result == nil:
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSON(w, http.StatusOK, result)
		}
	}
}

// execute reads the body into a pooled buffer and runs the command on it.
// The buffer goes back to the pool when the command returns: nothing the
// command decodes shares its bytes (encoding/json copies strings and raw
// values, and the argument types copy what they keep).
func (s *CommandableHTTP) execute(r *http.Request, cmd *logic.Command) (any, error) {
	buf, _ := s.bodies.Get().(*bytes.Buffer)
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	defer func() {
		if buf.Cap() <= maxPooledBody {
			buf.Reset()
			s.bodies.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return nil, readError(err)
	}
	// A command runs to its end even if its client goes away: some take
	// several steps (set_home stores the home, then counts its sessions),
	// and stopping between them would leave the change half made. Each step
	// is bounded by its store's own timeouts.
	return cmd.Execute(context.WithoutCancel(r.Context()), buf.Bytes())
}
