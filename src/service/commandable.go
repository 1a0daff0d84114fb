package service

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logging"
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
	Increment(name string, n int64)
	Timing(name string, d time.Duration)
}

// CountersLocator finds every counters component among the references.
var CountersLocator = container.Descriptor{Group: "pip-services", Type: "counters", Kind: "*", Name: "*", Version: "1.0"}

// CommandableHTTP exposes every command of a controller as
// POST /<base_route>/<command> with a JSON object of arguments, and the
// OpenAPI document of those commands at /<base_route>/swagger.
type CommandableHTTP struct {
	baseRoute   string
	controller  container.Descriptor
	swagger     bool
	commands    []logic.Command
	endpoint    *Endpoint
	counters    []Counters
	log         *zap.Logger
	openAPI     []byte
	title       string
	description string
}

// NewCommandableHTTP returns a service on baseRoute (e.g. "v1/sessions")
// for the controller that controller locates.
func NewCommandableHTTP(baseRoute string, controller container.Descriptor) *CommandableHTTP {
	return &CommandableHTTP{baseRoute: strings.Trim(baseRoute, "/"), controller: controller, swagger: true, log: zap.NewNop()}
}

// Configure reads base_route and swagger.enable.
func (s *CommandableHTTP) Configure(cfg container.Config) error {
	s.baseRoute = strings.Trim(cfg.String("base_route", s.baseRoute), "/")
	enable, err := cfg.Bool("swagger.enable", true)
	if err != nil {
		return err
	}
	s.swagger = enable
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
	s.log = logging.For(refs, "service."+strings.ReplaceAll(s.baseRoute, "/", "."))
	s.counters = container.All[Counters](refs, CountersLocator)
	s.commands = ctrl.Commands()
	if info, ok := container.Optional[*container.ContextInfo](refs, contextInfoLocator); ok {
		s.title, s.description = info.Name(), info.Description()
	}
	r := s.endpoint.Router()
	for i := range s.commands {
		r.Post("/"+s.baseRoute+"/"+s.commands[i].Name, s.handler(&s.commands[i]))
	}
	if s.swagger {
		s.openAPI, err = OpenAPI(s.title, s.description, s.baseRoute, s.commands)
		if err != nil {
			return fmt.Errorf("openapi document: %w", err)
		}
		r.Get("/"+s.baseRoute+"/swagger", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(s.openAPI) //nolint:errcheck // the client went away
		})
	}
	return nil
}

// SwaggerDoc names the service's OpenAPI document for the swagger page;
// ok is false when swagger is disabled.
func (s *CommandableHTTP) SwaggerDoc() (name, route string, ok bool) {
	return s.baseRoute, "/" + s.baseRoute + "/swagger", s.swagger
}

func (s *CommandableHTTP) handler(cmd *logic.Command) http.HandlerFunc {
	counter := strings.ReplaceAll(s.baseRoute, "/", ".") + "." + cmd.Name
	countCalls, countTime, countErrors := counter+".exec_count", counter+".exec_time", counter+".exec_errors"
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		result, err := s.execute(r, cmd)
		for _, c := range s.counters {
			c.Increment(countCalls, 1)
			c.Timing(countTime, time.Since(start))
			if err != nil {
				c.Increment(countErrors, 1)
			}
		}
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

func (s *CommandableHTTP) execute(r *http.Request, cmd *logic.Command) (any, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, bodyTooLarge(tooLarge.Limit)
		}
		return nil, sessions.BadRequest(sessions.CodeBadJSON, "cannot read the request body: %v", err)
	}
	return cmd.Execute(r.Context(), body)
}
