package service

import (
	"html/template"
	"net/http"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// contextInfoLocator finds the process's context info among the references.
var contextInfoLocator = container.Descriptor{Group: "pip-services", Type: "context-info", Kind: "*", Name: "*", Version: "1.0"}

// Heartbeat is the pip-services:heartbeat-service: GET /heartbeat answers the
// current time as a JSON string, so load balancers can tell the process is up.
type Heartbeat struct{ now func() time.Time }

// NewHeartbeat returns the heartbeat service.
func NewHeartbeat() *Heartbeat { return &Heartbeat{now: time.Now} }

// SetReferences registers the route on the endpoint.
func (h *Heartbeat) SetReferences(refs *container.References) error {
	ep, err := container.Required[*Endpoint](refs, EndpointLocator)
	if err != nil {
		return err
	}
	ep.Router().Get("/heartbeat", func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = jsonContentType
		w.Write(sessions.AppendTime(nil, h.now())) //nolint:errcheck // the client went away
	})
	return nil
}

// Status is the pip-services:status-service: GET /status describes the
// process and its components.
type Status struct {
	now        func() time.Time
	info       *container.ContextInfo
	components []string
}

// NewStatus returns the status service.
func NewStatus() *Status { return &Status{now: time.Now} }

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
	if s.info, err = container.Required[*container.ContextInfo](refs, contextInfoLocator); err != nil {
		return err
	}
	descriptors, _ := refs.Components()
	for _, d := range descriptors {
		s.components = append(s.components, d.String())
	}
	ep.Router().Get("/status", s.serve)
	return nil
}

func (s *Status) serve(w http.ResponseWriter, _ *http.Request) {
	now := s.now()
	writeJSON(w, http.StatusOK, &statusBody{
		ID: s.info.ContextID(), Name: s.info.Name(), Description: s.info.Description(),
		StartTime: sessions.Time(s.info.StartTime()), CurrentTime: sessions.Time(now),
		Uptime:     now.Sub(s.info.StartTime()).Milliseconds(),
		Properties: s.info.Properties(), Components: s.components,
	})
}

// swaggerDocs is implemented by services that publish OpenAPI documents.
type swaggerDocs interface {
	SwaggerDocs() []string
}

// Swagger is the pip-services:swagger-service: GET /swagger is a page that
// shows the OpenAPI document of every commandable service. The page is self
// contained, so it works without access to the internet.
type Swagger struct {
	docs []string
}

// NewSwagger returns the swagger page service.
func NewSwagger() *Swagger { return &Swagger{} }

// SetReferences collects the documents and registers the page.
func (s *Swagger) SetReferences(refs *container.References) error {
	ep, err := container.Required[*Endpoint](refs, EndpointLocator)
	if err != nil {
		return err
	}
	for _, d := range container.All[swaggerDocs](refs, container.Descriptor{Group: "*", Type: "*", Kind: "*", Name: "*", Version: "*"}) {
		s.docs = append(s.docs, d.SwaggerDocs()...)
	}
	ep.Router().Get("/swagger", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := swaggerPage.Execute(w, s.docs); err != nil {
			ep.WriteError(w, r, err)
		}
	})
	return nil
}

var swaggerPage = template.Must(template.New("swagger").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>service-sessions API</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#222}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}
.op{border:1px solid #d8e2ea;border-radius:6px;margin:.8em 0;padding:.6em .9em;background:#f7fbfd}
.verb{display:inline-block;background:#49cc90;color:#fff;border-radius:3px;padding:0 .5em;font-weight:600;margin-right:.5em}
code,pre{font-family:ui-monospace,monospace;font-size:13px} pre{background:#fff;border:1px solid #eee;padding:.5em;overflow:auto}
table{border-collapse:collapse} td,th{padding:.15em .8em .15em 0;text-align:left;vertical-align:top}
.req{color:#c00}
</style></head><body>
<h1>service-sessions API</h1>
<p>Every command is <code>POST</code> with a JSON object of arguments. Documents:
{{range .}}<a href="{{.}}">{{.}}</a> {{end}}</p>
<div id="docs" data-routes="{{range $i, $d := .}}{{if $i}},{{end}}{{$d}}{{end}}"></div>
<script>
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c]));
const type = s => !s ? "" : s.$ref ? s.$ref.split("/").pop() : s.type === "array" ? type(s.items) + "[]" : (s.type || "any");
async function show(route) {
  const doc = await (await fetch(route)).json();
  let html = "<h2>" + esc(doc.info.title) + " — " + esc(route) + "</h2>";
  for (const [path, item] of Object.entries(doc.paths)) {
    const op = item.post, body = op.requestBody.content["application/json"].schema, req = body.required || [];
    html += '<div class="op"><span class="verb">POST</span><code>' + esc(path) + "</code><p>" + esc(op.summary) + "</p><table>";
    for (const [name, s] of Object.entries(body.properties || {}))
      html += "<tr><td><code>" + esc(name) + "</code>" + (req.includes(name) ? ' <span class="req">required</span>' : "") + "</td><td>" + esc(type(s)) + "</td></tr>";
    html += "</table><p>Responses: " + Object.keys(op.responses).map(esc).join(", ") + "</p></div>";
  }
  html += "<details><summary>Schemas</summary><pre>" + esc(JSON.stringify(doc.components.schemas, null, 2)) + "</pre></details>";
  document.getElementById("docs").insertAdjacentHTML("beforeend", html);
}
document.getElementById("docs").dataset.routes.split(",").filter(Boolean).forEach(show);
</script></body></html>`))
