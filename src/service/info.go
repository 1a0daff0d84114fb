package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// Heartbeat is the pip-services:heartbeat-service: GET /heartbeat answers the
// current time as a JSON string, so load balancers can tell the process is up;
// HEAD /heartbeat answers the same status without the body.
// When a component has failed for good, it answers 503 STORE_UNAVAILABLE
// instead, so that a liveness probe restarts the process.
type Heartbeat struct {
	now    func() time.Time
	faults []faulty
}

// faulty is implemented by components that can fail for good: the file
// persistence once its journal cannot be written. Only a restart mends
// them. A database that does not answer is not such a failure: the
// service recovers from it by itself.
type faulty interface {
	Fault() error
}

// NewHeartbeat returns the heartbeat service.
func NewHeartbeat() *Heartbeat { return &Heartbeat{now: time.Now} }

// SetReferences finds the components that can fail for good and registers
// the route on the endpoint.
func (h *Heartbeat) SetReferences(refs *container.References) error {
	ep, err := container.Required[*Endpoint](refs, EndpointLocator)
	if err != nil {
		return err
	}
	h.faults = container.All[faulty](refs, anyComponent)
	serve := func(w http.ResponseWriter, r *http.Request) {
		if err := h.fault(); err != nil {
			e := sessions.Unavailable(err)
			e.Status = http.StatusServiceUnavailable // what a probe expects of a process that is down
			ep.WriteError(w, r, e)
			return
		}
		w.Header()["Content-Type"] = jsonContentType
		w.Write(sessions.AppendTime(nil, h.now())) //nolint:errcheck // the client went away
	}
	// Probes often ask with HEAD; net/http drops the body of a HEAD answer.
	ep.Router().Get("/heartbeat", serve)
	ep.Router().Head("/heartbeat", serve)
	return nil
}

// fault returns the failures of the components, nil when there is none.
func (h *Heartbeat) fault() error {
	var errs []error
	for _, c := range h.faults {
		if err := c.Fault(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// anyComponent matches every component.
var anyComponent = container.Descriptor{Group: "*", Type: "*", Kind: "*", Name: "*", Version: "*"}

// Status is the pip-services:status-service: GET /status describes the
// process and its components. Its properties are the context info's, with
// the build's version (see container.Version) under "version" unless the
// config sets one.
type Status struct {
	now        func() time.Time
	version    string
	info       *container.ContextInfo
	components []string
}

// NewStatus returns the status service.
func NewStatus() *Status { return &Status{now: time.Now, version: container.Version()} }

type statusBody struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	StartTime   sessions.Time     `json:"start_time"`
	CurrentTime sessions.Time     `json:"current_time"`
	Uptime      int64             `json:"uptime"`
	Properties  map[string]string `json:"properties"`
	Components  []string          `json:"components"`
}

// SetReferences records the components and registers the route.
func (s *Status) SetReferences(refs *container.References) error {
	ep, err := container.Required[*Endpoint](refs, EndpointLocator)
	if err != nil {
		return err
	}
	if s.info, err = container.Required[*container.ContextInfo](refs, container.ContextInfoLocator); err != nil {
		return err
	}
	descriptors, _ := refs.Components()
	for _, d := range descriptors {
		s.components = append(s.components, d.String())
	}
	ep.Router().Get("/status", s.serve)
	ep.Router().Head("/status", s.serve)
	return nil
}

func (s *Status) serve(w http.ResponseWriter, _ *http.Request) {
	now := s.now()
	props := s.info.Properties()
	// A build without Git info (an image's) has no commit to show: the
	// config can name the release instead.
	if _, ok := props["version"]; !ok {
		props["version"] = s.version
	}
	writeJSON(w, http.StatusOK, &statusBody{
		ID: s.info.ContextID(), Name: s.info.Name(), Description: s.info.Description(),
		StartTime: sessions.Time(s.info.StartTime()), CurrentTime: sessions.Time(now),
		Uptime:     now.Sub(s.info.StartTime()).Milliseconds(),
		Properties: props, Components: s.components,
	})
}

// swaggerDocs is implemented by services that publish OpenAPI documents.
type swaggerDocs interface {
	SwaggerDocs() []SwaggerDoc
}

// SwaggerDoc is an OpenAPI document and the path it is served at.
type SwaggerDoc struct {
	Path string
	JSON []byte
}

// Swagger is the pip-services:swagger-service: GET /swagger is a page that
// shows the OpenAPI document of every commandable service. The page is
// rendered on the server, with no script, so it works without access to
// the internet and shows every operation, whatever its method.
type Swagger struct {
	sources []swaggerDocs
}

// NewSwagger returns the swagger page service.
func NewSwagger() *Swagger { return &Swagger{} }

// SetReferences finds the services with documents and registers the page,
// which reads their documents when it is asked for.
func (s *Swagger) SetReferences(refs *container.References) error {
	ep, err := container.Required[*Endpoint](refs, EndpointLocator)
	if err != nil {
		return err
	}
	s.sources = container.All[swaggerDocs](refs, anyComponent)
	ep.Router().Get("/swagger", func(w http.ResponseWriter, r *http.Request) {
		page, err := s.page()
		if err != nil {
			ep.WriteError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page) //nolint:errcheck // the client went away
	})
	return nil
}

// page renders every document.
func (s *Swagger) page() ([]byte, error) {
	var docs []pageDoc
	for _, src := range s.sources {
		for _, d := range src.SwaggerDocs() {
			doc, err := readDoc(d)
			if err != nil {
				return nil, err
			}
			docs = append(docs, doc)
		}
	}
	var b bytes.Buffer
	err := swaggerPage.Execute(&b, docs)
	return b.Bytes(), err
}

// pageDoc is what the page shows of one OpenAPI document.
type pageDoc struct {
	Path, Title string
	Ops         []pageOp
	Schemas     string
}

type pageOp struct {
	Method, Path, Summary string
	Args                  []pageArg
	Responses             []string
}

type pageArg struct {
	Name, In, Type string
	Required       bool
}

// openAPISchema is the part of a JSON schema the page shows.
type openAPISchema struct {
	Ref        string                   `json:"$ref"`
	Type       string                   `json:"type"`
	Items      *openAPISchema           `json:"items"`
	Properties map[string]openAPISchema `json:"properties"`
	Required   []string                 `json:"required"`
}

// name is how the page writes a schema's type: a component's name, an
// array as its item type followed by [], "any" when untyped.
func (s *openAPISchema) name() string {
	switch {
	case s == nil:
		return ""
	case s.Ref != "":
		return s.Ref[strings.LastIndex(s.Ref, "/")+1:]
	case s.Type == "array":
		return s.Items.name() + "[]"
	case s.Type == "":
		return "any"
	}
	return s.Type
}

// readDoc reads the operations of an OpenAPI document, in path order.
func readDoc(d SwaggerDoc) (pageDoc, error) {
	type operation struct {
		Summary    string `json:"summary"`
		Parameters []struct {
			Name     string        `json:"name"`
			In       string        `json:"in"`
			Required bool          `json:"required"`
			Schema   openAPISchema `json:"schema"`
		} `json:"parameters"`
		RequestBody *struct {
			Content map[string]struct {
				Schema openAPISchema `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
		Responses map[string]json.RawMessage `json:"responses"`
	}
	var doc struct {
		Info struct {
			Title string `json:"title"`
		} `json:"info"`
		Paths      map[string]map[string]operation `json:"paths"`
		Components struct {
			Schemas json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(d.JSON, &doc); err != nil {
		return pageDoc{}, fmt.Errorf("OpenAPI document %s: %w", d.Path, err)
	}
	out := pageDoc{Path: d.Path, Title: doc.Info.Title}
	var schemas bytes.Buffer
	if err := json.Indent(&schemas, doc.Components.Schemas, "", "  "); err == nil {
		out.Schemas = schemas.String()
	}
	for _, path := range slices.Sorted(maps.Keys(doc.Paths)) {
		for _, method := range slices.Sorted(maps.Keys(doc.Paths[path])) {
			op := doc.Paths[path][method]
			p := pageOp{Method: strings.ToUpper(method), Path: path, Summary: op.Summary,
				Responses: slices.Sorted(maps.Keys(op.Responses))}
			for _, q := range op.Parameters {
				p.Args = append(p.Args, pageArg{Name: q.Name, In: q.In, Type: q.Schema.name(), Required: q.Required})
			}
			if op.RequestBody != nil {
				body := op.RequestBody.Content["application/json"].Schema
				for _, name := range slices.Sorted(maps.Keys(body.Properties)) {
					s := body.Properties[name]
					p.Args = append(p.Args, pageArg{Name: name, In: "body", Type: s.name(), Required: slices.Contains(body.Required, name)})
				}
			}
			out.Ops = append(out.Ops, p)
		}
	}
	return out, nil
}

var swaggerPage = template.Must(template.New("swagger").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>service-sessions API</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
.op{border:1px solid #d8e2ea;border-radius:6px;margin:.8em 0;padding:.6em .9em;background:#f7fbfd}
.verb{display:inline-block;background:#49cc90;color:#fff;border-radius:3px;padding:0 .5em;font-weight:600;margin-right:.5em}
.verb.GET{background:#61affe}
code,pre{font-family:ui-monospace,monospace;font-size:13px} pre{background:#fff;border:1px solid #eee;padding:.5em;overflow:auto}
table{border-collapse:collapse} td,th{padding:.15em .8em .15em 0;text-align:left;vertical-align:top}
.req{color:#c00} .in{color:#777}
</style></head><body>
<h1>service-sessions API</h1>
<p>Every command is <code>POST</code> with a JSON object of arguments. Documents:
{{range .}}<a href="{{.Path}}">{{.Path}}</a> {{end}}</p>
{{range .}}<h2>{{.Title}} — {{.Path}}</h2>
{{range .Ops}}<div class="op"><span class="verb {{.Method}}">{{.Method}}</span><code>{{.Path}}</code><p>{{.Summary}}</p>
{{if .Args}}<table>{{range .Args}}<tr><td><code>{{.Name}}</code>{{if .Required}} <span class="req">required</span>{{end}}</td><td>{{.Type}}</td><td class="in">{{.In}}</td></tr>{{end}}</table>{{end}}
<p>Responses: {{range $i, $r := .Responses}}{{if $i}}, {{end}}{{$r}}{{end}}</p></div>
{{end}}<details><summary>Schemas</summary><pre>{{.Schemas}}</pre></details>
{{end}}</body></html>`))
