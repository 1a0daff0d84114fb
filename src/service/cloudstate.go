package service

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logic"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// SessionManager is what the Cloudstate-compatible routes need: the
// controller's own operations, so there is no second session store.
type SessionManager interface {
	OpenSession(ctx context.Context, a *logic.OpenSessionArgs) (*sessions.Session, error)
	RenewSession(ctx context.Context, a *logic.SessionIDArgs) (*sessions.Session, error)
	GetSessionByID(ctx context.Context, a *logic.SessionIDArgs) (*sessions.Session, error)
	CloseSession(ctx context.Context, a *logic.SessionIDArgs) (*sessions.Session, error)
	SetMaxSessions(ctx context.Context, id string, n int64) (*sessions.Home, error)
	GetHome(ctx context.Context, a *logic.HomeIDArgs) (*sessions.HomeStatus, error)
	RegisterDevice(ctx context.Context, a *logic.RegisterDeviceArgs) (*sessions.Device, error)
	GetDevice(ctx context.Context, a *logic.DeviceIDArgs) (*sessions.Device, error)
	DeleteDevice(ctx context.Context, a *logic.DeviceIDArgs) (*sessions.Device, error)
}

// Cloudstate serves the routes of the Cloudstate session-manager sample
// (/home/{account_id}/…, /device/{device_id}/…, /homes/…, /devices/…),
// mapped onto the controller: requests name fields as the proto does
// (device_id) or in camelCase (deviceId), replies in camelCase. {account_id} is the
// user_id; expiration is epoch seconds as a string.
type Cloudstate struct {
	controller container.Descriptor
	ctrl       SessionManager
	endpoint   *Endpoint
	counters   []Counters
}

// NewCloudstate returns the Cloudstate-compatible routes for the controller
// that controller locates.
func NewCloudstate(controller container.Descriptor) *Cloudstate {
	return &Cloudstate{controller: controller}
}

// SetReferences finds the controller and the endpoint and registers the routes.
func (s *Cloudstate) SetReferences(refs *container.References) error {
	var err error
	if s.ctrl, err = container.Required[SessionManager](refs, s.controller); err != nil {
		return err
	}
	if s.endpoint, err = container.Required[*Endpoint](refs, EndpointLocator); err != nil {
		return err
	}
	s.counters = container.All[Counters](refs, AnyCountersLocator)
	r := s.endpoint.Router()
	r.Post("/home/{account_id}/sessions/create", s.handle("create_session", s.create))
	r.Post("/home/{account_id}/sessions/heartbeat", s.handle("heartbeat", s.heartbeat))
	r.Post("/home/{account_id}/sessions/teardown", s.handle("teardown", s.teardown))
	r.Post("/home/{account_id}/sessions/setMaxSession", s.handle("set_max_session", s.setMaxSession))
	r.Get("/homes/{account_id}", s.handle("get_home", s.getHome))
	r.Post("/device/{device_id}/create", s.handle("create_device", s.createDevice))
	r.Post("/device/{device_id}/delete", s.handle("delete_device", s.deleteDevice))
	r.Get("/devices/{device_id}", s.handle("get_device", s.getDevice))
	r.Post("/device/{device_id}/sessions/create", s.handle("create_device_session", s.createForDevice))
	return nil
}

// CloudstateRoute is the route the Cloudstate routes are counted under,
// each with its name in handle.
const CloudstateRoute = "cloudstate"

// badID says what is wrong with an id taken from the path or query, or "".
// An id must be UTF-8 text, as every id that arrives in a JSON body is.
func badID(key, id string) string {
	if problem := sessions.TextProblem(key, id, sessions.MaxIDLength); problem != "" {
		return problem
	}
	if !utf8.ValidString(id) {
		return key + " must be UTF-8 text"
	}
	return ""
}

// handle decodes the optional JSON body of a route and writes its result,
// and counts the call as the command name of CloudstateRoute.
func (s *Cloudstate) handle(name string, f func(r *http.Request, body map[string]json.RawMessage) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		result, err := s.serve(r, f)
		took := time.Since(start)
		for _, c := range s.counters {
			c.CommandDone(CloudstateRoute, name, took, answerStatus(result, err))
		}
		// Answers carry users' data: no cache keeps them.
		w.Header()["Cache-Control"] = noStore
		if err != nil {
			s.endpoint.WriteError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, result)
	}
}

// serve checks the ids of a request, decodes its optional JSON body and
// runs f with it.
func (s *Cloudstate) serve(r *http.Request, f func(r *http.Request, body map[string]json.RawMessage) (any, error)) (any, error) {
	q, err := query(r)
	if err != nil {
		return nil, err
	}
	for _, key := range []string{"account_id", "device_id"} {
		fromQuery, err := queryParam(q, key)
		if err != nil {
			return nil, err
		}
		for _, id := range []string{param(r, key), fromQuery} {
			if problem := badID(key, id); problem != "" {
				return nil, sessions.InvalidData(problem)
			}
		}
		// An empty path id (/device//create) is missing, as an empty id in
		// a body is.
		if inPath(r, key) && param(r, key) == "" {
			return nil, sessions.InvalidData(sessions.NullProblem(key))
		}
	}
	body := map[string]json.RawMessage{}
	if r.Method == http.MethodPost { // a GET's body, if any, is no request's
		if err := readObject(r, body); err != nil {
			return nil, err
		}
	}
	// As a command does, a route runs to its end if its client goes away.
	return f(r.WithContext(context.WithoutCancel(r.Context())), body)
}

// readObject reads the members of a request's JSON object body into body.
// A blank body is {}, as a command's is. The members are walked, not
// decoded: a route reads a few of them, whatever else a body holds.
func readObject(r *http.Request, body map[string]json.RawMessage) error {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return readError(err)
	}
	if len(bytes.TrimSpace(raw)) == 0 || sessions.WalkObject(raw, func(key, value []byte) { body[sessions.Unquote(key)] = value }) {
		return nil
	}
	if !json.Valid(raw) {
		return sessions.BadRequest(sessions.CodeBadJSON, "request body is not valid JSON")
	}
	if problem := sessions.TooDeep("request body", raw); problem != "" {
		return sessions.InvalidData(problem)
	}
	return sessions.InvalidData("request body must be a JSON object")
}

// str reads a string field of the body, named as the proto field
// (device_id) or by its JSON name (deviceId), as protobuf's JSON mapping
// accepts both; a number is accepted too.
func str(body map[string]json.RawMessage, key string) (string, error) {
	s, err := text(body[key], key)
	if err != nil {
		return "", err
	}
	camel := lowerCamel(key)
	other, err := text(body[camel], key)
	switch {
	case err != nil:
		return "", err
	case s == "":
		s = other
	case other != "" && other != s:
		// Neither is dropped in silence, as a query parameter given twice.
		return "", sessions.InvalidData(key + " and " + camel + " must not differ")
	}
	if problem := sessions.TextProblem(key, s, sessions.MaxIDLength); problem != "" {
		return "", sessions.InvalidData(problem)
	}
	return s, nil
}

// text reads one JSON value of the field key as text: a string, or a
// number as it is written; absent or null is "".
func text(raw json.RawMessage, key string) (string, error) {
	if raw == nil || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", sessions.InvalidData(sessions.TypeProblem(key, "string", sessions.KindOf(raw)))
		}
		s = n.String()
	}
	return s, nil
}

// inPath reports whether the route of r has the path parameter key.
func inPath(r *http.Request, key string) bool {
	return slices.Contains(chi.RouteContext(r.Context()).URLParams.Keys, key)
}

// param returns a path parameter decoded. chi matches the escaped path
// (RawPath) when there is one, as when the path holds an escaped slash,
// and then leaves every escape in place; else the path is decoded already.
func param(r *http.Request, key string) string {
	v := chi.URLParam(r, key)
	if r.URL.RawPath == "" {
		return v
	}
	if decoded, err := url.PathUnescape(v); err == nil {
		return decoded
	}
	return v
}

// lowerCamel returns the JSON name protobuf gives a snake_case field:
// max_nb_of_session is maxNbOfSession.
func lowerCamel(key string) string {
	words := strings.Split(key, "_")
	for i := 1; i < len(words); i++ {
		if w := words[i]; w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, "")
}

func required(body map[string]json.RawMessage, key string) (string, error) {
	v, err := str(body, key)
	if err == nil && v == "" {
		err = sessions.InvalidData(sessions.NullProblem(key))
	}
	return v, err
}

type sessionReply struct {
	AccountID  string `json:"accountId"`
	SessionID  string `json:"sessionId"`
	Expiration string `json:"expiration"`
}

func reply(s *sessions.Session) *sessionReply {
	return &sessionReply{AccountID: s.UserID, SessionID: s.ID, Expiration: expiration(s)}
}

// expiration is epoch seconds as a string; a session without a lease never
// lapses on its own and reports "0".
func expiration(s *sessions.Session) string {
	if s.ExpireTime.IsZero() {
		return "0"
	}
	return strconv.FormatInt(s.ExpireTime.Unix(), 10)
}

func (s *Cloudstate) create(r *http.Request, body map[string]json.RawMessage) (any, error) {
	device, err := str(body, "device_id")
	if err != nil {
		return nil, err
	}
	return s.open(r.Context(), param(r, "account_id"), device)
}

func (s *Cloudstate) open(ctx context.Context, account, device string) (any, error) {
	opened, err := s.ctrl.OpenSession(ctx, &logic.OpenSessionArgs{UserID: account, DeviceID: device})
	if err != nil {
		return nil, err
	}
	return reply(opened), nil
}

// owned returns the session if it belongs to the account of the route.
func (s *Cloudstate) owned(r *http.Request, body map[string]json.RawMessage) (string, error) {
	id, err := required(body, "session_id")
	if err != nil {
		return "", err
	}
	if problem := sessions.TextProblem("session_id", id, sessions.MaxSessionIDLength); problem != "" {
		return "", sessions.InvalidData(problem)
	}
	got, err := s.ctrl.GetSessionByID(r.Context(), &logic.SessionIDArgs{SessionID: id})
	if err != nil {
		return "", err
	}
	if got == nil || got.UserID != param(r, "account_id") {
		return "", sessions.NotFound(sessions.CodeSessionNotFound, "session %s is not found in this home", id)
	}
	return id, nil
}

func (s *Cloudstate) heartbeat(r *http.Request, body map[string]json.RawMessage) (any, error) {
	id, err := s.owned(r, body)
	if err != nil {
		return nil, err
	}
	renewed, err := s.ctrl.RenewSession(r.Context(), &logic.SessionIDArgs{SessionID: id})
	if err != nil {
		return nil, err
	}
	return reply(renewed), nil
}

func (s *Cloudstate) teardown(r *http.Request, body map[string]json.RawMessage) (any, error) {
	id, err := s.owned(r, body)
	if err != nil {
		return nil, err
	}
	if _, err := s.ctrl.CloseSession(r.Context(), &logic.SessionIDArgs{SessionID: id}); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Cloudstate) setMaxSession(r *http.Request, body map[string]json.RawMessage) (any, error) {
	raw, err := required(body, "max_nb_of_session")
	if err != nil {
		return nil, err
	}
	n, ok := sessions.Integral(raw) // a number or text: 3, "3", 3.0 or 3e0, as protobuf's JSON mapping takes them
	if !ok {
		return nil, sessions.InvalidData("max_nb_of_session must be an integer")
	}
	if _, err := s.ctrl.SetMaxSessions(r.Context(), param(r, "account_id"), n); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type homeReply struct {
	Sessions    []deviceSession `json:"sessions"`
	MaxSessions int64           `json:"maxSessions"`
}

type deviceSession struct {
	DeviceID   string `json:"deviceId"`
	SessionID  string `json:"sessionId"`
	Expiration string `json:"expiration"`
}

func (s *Cloudstate) getHome(r *http.Request, _ map[string]json.RawMessage) (any, error) {
	account := param(r, "account_id")
	home, err := s.ctrl.GetHome(r.Context(), &logic.HomeIDArgs{HomeID: account})
	if err != nil {
		return nil, err
	}
	if home == nil {
		return nil, sessions.NotFound(sessions.CodeNotFound, "home %s is not found", account)
	}
	out := homeReply{Sessions: make([]deviceSession, 0, len(home.Sessions)), MaxSessions: home.MaxSessions}
	for _, sess := range home.Sessions {
		out.Sessions = append(out.Sessions, deviceSession{DeviceID: sess.DeviceID, SessionID: sess.ID, Expiration: expiration(sess)})
	}
	return &out, nil
}

func (s *Cloudstate) createDevice(r *http.Request, body map[string]json.RawMessage) (any, error) {
	fromBody, err := str(body, "account_id")
	if err != nil {
		return nil, err
	}
	account := r.URL.Query().Get("account_id")
	switch {
	case account == "" && fromBody == "":
		return nil, sessions.InvalidData(sessions.NullProblem("account_id"))
	case account == "":
		account = fromBody
	case fromBody != "" && fromBody != account:
		// As a query parameter given twice: neither is dropped in silence.
		return nil, sessions.InvalidData("account_id must not be given in the query and the body with different values")
	}
	if _, err := s.ctrl.RegisterDevice(r.Context(), &logic.RegisterDeviceArgs{
		DeviceID: param(r, "device_id"), UserID: account}); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Cloudstate) deleteDevice(r *http.Request, _ map[string]json.RawMessage) (any, error) {
	if _, err := s.ctrl.DeleteDevice(r.Context(), &logic.DeviceIDArgs{DeviceID: param(r, "device_id")}); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Cloudstate) getDevice(r *http.Request, _ map[string]json.RawMessage) (any, error) {
	id := param(r, "device_id")
	d, err := s.ctrl.GetDevice(r.Context(), &logic.DeviceIDArgs{DeviceID: id})
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, sessions.DeviceNotRegistered(id)
	}
	return map[string]string{"accountId": d.UserID}, nil
}

func (s *Cloudstate) createForDevice(r *http.Request, _ map[string]json.RawMessage) (any, error) {
	device := param(r, "device_id")
	d, err := s.ctrl.GetDevice(r.Context(), &logic.DeviceIDArgs{DeviceID: device})
	if err != nil {
		return nil, err
	}
	if d == nil {
		return nil, sessions.DeviceNotRegistered(device)
	}
	return s.open(r.Context(), d.UserID, device)
}
