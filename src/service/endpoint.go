// Package service exposes the controller over HTTP: the shared endpoint, the
// commandable services, heartbeat, status, swagger and metrics.
package service

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.uber.org/zap"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/logging"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// EndpointLocator finds the shared HTTP endpoint among the references.
var EndpointLocator = container.Descriptor{Group: "pip-services", Type: "endpoint", Kind: "http", Name: "*", Version: "1.0"}

// Defaults of the endpoint's connection and options.
const (
	DefaultHost = "0.0.0.0"
	DefaultPort = 8080
	// DefaultShutdownTimeout bounds how long a stop waits for the requests
	// in flight.
	DefaultShutdownTimeout = 30 * time.Second
)

// Fixed bounds of the HTTP server.
const (
	// maxHeaderBytes bounds a request's line and headers together; net/http
	// answers 431 past it.
	maxHeaderBytes = 64 << 10
	// readHeaderTimeout bounds the wait for a request's headers, from the
	// connection's first byte or the previous request's end.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout bounds how long a kept-alive connection may wait for its
	// next request.
	idleTimeout = 2 * time.Minute
)

// DefaultReadTimeout bounds how long a client may take to send a whole
// request, body included, so that a slow sender cannot hold a connection.
const DefaultReadTimeout = 30 * time.Second

// DefaultWriteTimeout bounds how long a request may take, once read, until
// its answer is sent, so that a client that stops reading cannot hold a
// connection. Long responses (event streams) extend it at each write.
const DefaultWriteTimeout = 2 * time.Minute

// Endpoint is the pip-services:endpoint:http component: one HTTP server that
// every service of the process registers its routes on.
type Endpoint struct {
	protocol, host    string
	port              int64
	certFile, keyFile string
	maxBodySize       int64
	debug             bool
	apiKeys           [][sha256.Size]byte
	keysAsked         bool // options.api_keys is set, maybe to nothing
	readTimeout       time.Duration
	writeTimeout      time.Duration
	shutdownTimeout   time.Duration
	maxConnections    int64 // 0: no bound
	corsPolicy        corsPolicy

	router   *chi.Mux
	server   *http.Server
	stopping chan struct{} // closed when Close begins
	stopOnce sync.Once
	listener net.Listener
	serveErr chan error
	log      *zap.Logger
	refusals []Refusals
}

// Refusals records the requests the endpoint refuses before they reach a
// service's handler; the log and Prometheus counters components implement
// it.
type Refusals interface {
	// RequestRefused records one refused request by the status answered:
	// 400 (a body that could not be read or inflated), 401 (no valid API
	// key), 404 (no such route), 405, 413 (a declared body too large) or
	// 415 (a body that is not JSON, or in an encoding other than gzip).
	RequestRefused(status int)
}

// RefusalStatuses returns every status RequestRefused may be given.
func RefusalStatuses() []int {
	return []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusMethodNotAllowed,
		http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType}
}

// NewEndpoint returns an endpoint on 0.0.0.0:8080 with the default limits.
func NewEndpoint() *Endpoint {
	e := &Endpoint{protocol: "http", host: DefaultHost, port: DefaultPort, maxBodySize: sessions.DefaultMaxBodySize,
		readTimeout: DefaultReadTimeout, writeTimeout: DefaultWriteTimeout, shutdownTimeout: DefaultShutdownTimeout, corsPolicy: newCORSPolicy(nil, nil),
		log: zap.NewNop(), stopping: make(chan struct{})}
	e.router = chi.NewRouter()
	// The path is normalized before it is routed, and a HEAD goes to the
	// GET route of its path (RFC 9110: a server that serves GET serves
	// HEAD). The correlation id comes next, so that the error body of a
	// panic and its log line carry it too. A browser's preflight carries
	// no API key.
	e.router.Use(normalizePath, middleware.GetHead, e.correlation, e.recoverer, e.cors, e.authenticate, e.limitBody)
	e.router.NotFound(func(w http.ResponseWriter, r *http.Request) {
		e.refuse(w, r, sessions.NotFound(sessions.CodeNotFound, "%s %s is not found", r.Method, r.URL.EscapedPath()))
	})
	e.router.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", e.allowed(r))
		e.refuse(w, r, &sessions.Error{Category: sessions.CategoryBadRequest, Code: sessions.CodeMethodNotAllowed,
			Message: fmt.Sprintf("%s is not allowed on %s", r.Method, r.URL.Path)})
	})
	return e
}

// allowed lists the methods the router serves on r's path, for the Allow
// header a 405 must carry.
func (e *Endpoint) allowed(r *http.Request) string {
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	var methods []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		// A GET route answers HEAD too (see NewEndpoint).
		if e.router.Match(chi.NewRouteContext(), m, path) || m == http.MethodHead && slices.Contains(methods, http.MethodGet) {
			methods = append(methods, m)
		}
	}
	return strings.Join(methods, ", ")
}

// Configure reads connection.protocol/host/port (or connection.uri, which
// stands for the three), credential.ssl_crt_file and
// credential.ssl_key_file (for https), options.max_body_size (bytes; or
// options.request_max_size, Pip.Services' name, when it is not given),
// options.api_keys (bearer tokens, comma-separated or a list), options.debug (stack
// traces in error bodies), options.read_timeout (ms to read a whole request;
// 0 for no limit), options.write_timeout (ms to run a request and send its
// answer; 0 for no limit), options.shutdown_timeout (ms),
// options.max_connections (connections served at once; 0 for no bound), and
// cors_origins and cors_headers (comma-separated, as the Node service reads
// them, or lists).
func (e *Endpoint) Configure(cfg container.Config) error {
	e.protocol = strings.ToLower(cfg.String("connection.protocol", "http"))
	e.host = cfg.String("connection.host", DefaultHost)
	var err error
	if e.port, err = cfg.Int("connection.port", DefaultPort); err != nil {
		return err
	}
	if uri := cfg.String("connection.uri", ""); uri != "" {
		if err := e.useURI(uri); err != nil {
			return err
		}
	}
	if e.protocol != "http" && e.protocol != "https" {
		return fmt.Errorf("connection.protocol: %q must be http or https", e.protocol)
	}
	if e.port < 0 || e.port > 65535 {
		return fmt.Errorf("connection.port: %d is not a port number", e.port)
	}
	e.certFile = cfg.String("credential.ssl_crt_file", "")
	e.keyFile = cfg.String("credential.ssl_key_file", "")
	if e.protocol == "https" && (e.certFile == "" || e.keyFile == "") {
		return fmt.Errorf("credential.ssl_crt_file and credential.ssl_key_file are required for https")
	}
	// options.request_max_size is the Pip.Services endpoint's name for it.
	sizeKey := "options.max_body_size"
	if cfg.String(sizeKey, "") == "" && cfg.String("options.request_max_size", "") != "" { // a template may leave either empty
		sizeKey = "options.request_max_size"
	}
	if e.maxBodySize, err = cfg.Int(sizeKey, sessions.DefaultMaxBodySize); err != nil {
		return err
	}
	if e.maxBodySize < 1 {
		return fmt.Errorf("%s: %d must be positive", sizeKey, e.maxBodySize)
	}
	for _, k := range cfg.List("options.api_keys") {
		e.apiKeys = append(e.apiKeys, sha256.Sum256([]byte(k)))
	}
	e.keysAsked = cfg.Has("options.api_keys")
	if e.debug, err = cfg.Bool("options.debug", false); err != nil {
		return err
	}
	if e.readTimeout, err = cfg.Millis("options.read_timeout", DefaultReadTimeout); err != nil {
		return err
	}
	if e.writeTimeout, err = cfg.Millis("options.write_timeout", DefaultWriteTimeout); err != nil {
		return err
	}
	if e.shutdownTimeout, err = cfg.Millis("options.shutdown_timeout", DefaultShutdownTimeout); err != nil {
		return err
	}
	if e.maxConnections, err = cfg.Int("options.max_connections", 0); err != nil {
		return err
	}
	if e.maxConnections < 0 {
		return fmt.Errorf("options.max_connections: %d must not be negative", e.maxConnections)
	}
	e.corsPolicy = newCORSPolicy(cfg.List("cors_origins"), cfg.List("cors_headers"))
	return nil
}

// ListKeys returns the keys Configure reads as lists.
func (e *Endpoint) ListKeys() []string {
	return []string{"options.api_keys", "cors_origins", "cors_headers"}
}

// useURI takes the protocol, host and port from connection.uri, which, as
// in Pip.Services, stands for all three; a port left out is the scheme's.
func (e *Endpoint) useURI(uri string) error {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" || u.Hostname() == "" {
		return fmt.Errorf("connection.uri: %q must be like http://host:port", uri)
	}
	e.protocol, e.host = strings.ToLower(u.Scheme), u.Hostname()
	switch port := u.Port(); {
	case port != "":
		if e.port, err = strconv.ParseInt(port, 10, 64); err != nil {
			return fmt.Errorf("connection.uri: %q has no port number", uri)
		}
	case e.protocol == "https":
		e.port = 443
	default:
		e.port = 80
	}
	return nil
}

// SetReferences finds the logger, and refuses a second endpoint: every
// service registers on the first, so another would listen and serve
// nothing.
func (e *Endpoint) SetReferences(refs *container.References) error {
	e.log = logging.For(refs, "endpoint.http")
	e.refusals = container.All[Refusals](refs, AnyCountersLocator)
	if n := len(container.All[*Endpoint](refs, EndpointLocator)); n > 1 {
		return fmt.Errorf("%d HTTP endpoints are configured; the services use only the first, so keep one", n)
	}
	return nil
}

// Secured reports whether the endpoint asks for an API key.
func (e *Endpoint) Secured() bool { return len(e.apiKeys) > 0 }

// Router returns the router services register their routes on. Routes must
// be registered before Open.
func (e *Endpoint) Router() chi.Router { return e.router }

// Open starts listening and serving. With https, a certificate or key
// that cannot be loaded fails the start.
func (e *Endpoint) Open(context.Context) error {
	var tlsConfig *tls.Config
	if e.protocol == "https" {
		cert, err := tls.LoadX509KeyPair(e.certFile, e.keyFile)
		if err != nil {
			return fmt.Errorf("load the https certificate and key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	addr := net.JoinHostPort(e.host, strconv.FormatInt(e.port, 10))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	if e.maxConnections > 0 {
		l = limitConnections(l, e.maxConnections)
	}
	e.listener = l
	e.server = &http.Server{
		TLSConfig:         tlsConfig,
		Handler:           e.router,
		ReadHeaderTimeout: readHeaderTimeout,
		// Bounds the whole request, body included. net/http lifts the
		// deadline once the body is read, so it never cuts a long response
		// such as an event stream.
		ReadTimeout: e.readTimeout,
		// Starts once the request is read; an event stream moves it on
		// before each write (see sseWriter.flush).
		WriteTimeout: e.writeTimeout,
		IdleTimeout:  idleTimeout,
		// An event stream keeps its request, headers and all, for as long
		// as it runs: net/http's 1 MiB would let each hold that much.
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       log.New(serverLog{e.log}, "", 0),
	}
	e.serveErr = make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			e.serveErr <- e.server.ServeTLS(l, "", "")
		} else {
			e.serveErr <- e.server.Serve(l)
		}
	}()
	// The host as configured ("0.0.0.0", which Go listens on as [::] where
	// the host has IPv6 too) and the port taken (a free one for port 0).
	_, port, _ := net.SplitHostPort(l.Addr().String())
	e.log.Info("listening", zap.String("address", net.JoinHostPort(e.host, port)), zap.String("protocol", e.protocol))
	if e.keysAsked && !e.Secured() {
		// Say so: a template parameter left unset renders the keys empty.
		e.log.Warn("options.api_keys is set but holds no key: every request is served without one")
	}
	return nil
}

// Addr returns the address the endpoint listens on, once open.
func (e *Endpoint) Addr() net.Addr { return e.listener.Addr() }

// URL returns the base URL of the open endpoint, for clients in the same process.
func (e *Endpoint) URL() string {
	_, port, _ := net.SplitHostPort(e.listener.Addr().String())
	return e.protocol + "://127.0.0.1:" + port
}

// Stopping is closed when the endpoint begins to shut down: long-lived
// responses (event streams) end then, so that shutdown need not wait.
func (e *Endpoint) Stopping() <-chan struct{} { return e.stopping }

// Close stops accepting connections, ends the streams (see Stopping) and
// waits for in-flight requests to finish, up to the shutdown timeout.
func (e *Endpoint) Close(ctx context.Context) error {
	e.stopOnce.Do(func() { close(e.stopping) })
	if e.server == nil {
		return nil
	}
	// The drain takes shutdown_timeout, whatever time the caller gives.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.shutdownTimeout)
	defer cancel()
	err := e.server.Shutdown(ctx)
	if err != nil {
		// Time is up: cut the connections still busy, so that their
		// requests end before the components under them close.
		e.server.Close()
	}
	if serveErr := <-e.serveErr; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	e.server = nil
	if err != nil {
		return fmt.Errorf("stop http endpoint: %w", err)
	}
	return nil
}

// WriteError writes err as the Pip.Services error body and logs it.
func (e *Endpoint) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, e.log, e.debug, err)
}

// refuse answers a request the endpoint refuses before any handler, and
// counts it.
func (e *Endpoint) refuse(w http.ResponseWriter, r *http.Request, err *sessions.Error) {
	e.WriteError(w, r, err)
	for _, c := range e.refusals {
		c.RequestRefused(statusOfError(err))
	}
}

// normalizePath decodes the percent-encoded unreserved characters (letters,
// digits, "-", ".", "_", "~") of a path that has any, as RFC 3986 makes
// them the same path: /v1/sessions/%6Fpen_session is open_session, as in
// the Node service. The router matches the escaped path, so a %2F in a
// path id stays in the id.
func normalizePath(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if raw := r.URL.RawPath; raw != "" {
			r.URL.RawPath = decodeUnreserved(raw)
		}
		next.ServeHTTP(w, r)
	})
}

// decodeUnreserved returns p with each percent-encoded unreserved
// character decoded; every other escape is kept as it is.
func decodeUnreserved(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
			if c, err := strconv.ParseUint(p[i+1:i+3], 16, 8); err == nil && unreserved(byte(c)) {
				b.WriteByte(byte(c))
				i += 2
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0
}

// correlation puts the request's correlation id, from the query string or
// else the correlation_id header, into its context.
func (e *Endpoint) correlation(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := ""
		if r.URL.RawQuery != "" {
			id = queryValue(r.URL, "correlation_id")
		}
		if id == "" {
			if v := r.Header[correlationHeader]; len(v) > 0 {
				id = v[0]
			}
		}
		if id != "" {
			r = r.WithContext(sessions.WithCorrelationID(r.Context(), id))
		}
		next.ServeHTTP(w, r)
	})
}

// correlationHeader is the correlation_id header as net/http keys it.
var correlationHeader = textproto.CanonicalMIMEHeaderKey("correlation_id")

// maxScannedParams bounds the queries queryValue reads itself; longer ones
// go through url.Values and whatever limit on parameters it applies.
const maxScannedParams = 64

// queryValue returns u.Query().Get(key) without building the map of every
// parameter: the first value of key, skipping the pairs url.ParseQuery
// drops (with a semicolon or a bad escape).
func queryValue(u *url.URL, key string) string {
	query := u.RawQuery
	if strings.Count(query, "&") >= maxScannedParams {
		return u.Query().Get(key)
	}
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(k); err != nil || k != key {
			continue
		}
		if v, err := url.QueryUnescape(v); err == nil {
			return v
		}
	}
	return ""
}

// authenticate requires a configured API key as a bearer token on every
// route but the heartbeat. Keys are compared by their digests in constant time.
func (e *Endpoint) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(e.apiKeys) == 0 || r.URL.Path == "/heartbeat" {
			next.ServeHTTP(w, r)
			return
		}
		token, ok := bearerToken(r.Header.Get("Authorization"))
		sum := sha256.Sum256([]byte(token))
		match := 0
		for i := range e.apiKeys {
			match |= subtle.ConstantTimeCompare(sum[:], e.apiKeys[i][:])
		}
		if !ok || match != 1 {
			w.Header().Set("WWW-Authenticate", "Bearer") // the scheme to answer with (RFC 6750)
			e.refuse(w, r, &sessions.Error{Category: sessions.CategoryUnauthorized,
				Code: sessions.CodeUnauthorized, Message: "a valid API key is required"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken returns the token of an Authorization header of the Bearer
// scheme, whose name is case-insensitive (RFC 7235).
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	return strings.TrimLeft(token, " "), ok && strings.EqualFold(scheme, "Bearer")
}

func (e *Endpoint) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			// Only a POST's body is read; any other's is left alone.
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > e.maxBodySize {
			e.refuse(w, r, sessions.BodyTooLarge(e.maxBodySize))
			return
		}
		if r.ContentLength < 0 {
			// A body of unknown length (chunked) is cut at the limit as it is
			// read; one of a declared length is that long, as checked above.
			r.Body = http.MaxBytesReader(w, r.Body, e.maxBodySize)
		}
		if r.ContentLength != 0 && !isJSON(r.Header["Content-Type"]) {
			// A page of another origin may send a form or text without
			// asking first (no CORS preflight); only JSON makes a browser
			// ask, so a command runs on JSON only. A chunked body that
			// turns out empty is no body.
			if empty, err := emptyBody(r); err != nil {
				e.refuse(w, r, sessions.AsError(readError(err)))
				return
			} else if !empty {
				e.refuse(w, r, &sessions.Error{Category: sessions.CategoryBadRequest, Code: sessions.CodeNotJSON,
					Message: fmt.Sprintf("request body must be application/json, not %q", r.Header.Get("Content-Type"))})
				return
			}
		}
		if err := e.decodeBody(w, r); err != nil {
			e.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// emptyBody reports whether a body of unknown length has nothing in it,
// reading at most one byte; an empty one is replaced by http.NoBody.
func emptyBody(r *http.Request) (bool, error) {
	var one [1]byte
	n, err := r.Body.Read(one[:])
	for n == 0 && err == nil {
		n, err = r.Body.Read(one[:])
	}
	if n == 0 && errors.Is(err, io.EOF) {
		r.Body, r.ContentLength = http.NoBody, 0
		return true, nil
	}
	if n == 0 {
		return false, err
	}
	return false, nil // refused: the byte read is not needed again
}

// decodeBody undoes the Content-Encoding of a request body: gzip is inflated,
// as the Node service inflates it, and bounded as it is inflated by the
// endpoint's body limit; identity (or none) is the body itself; any other,
// or several, is refused, never read as if it were none. Every
// Content-Encoding line counts, as one comma-separated list.
func (e *Endpoint) decodeBody(w http.ResponseWriter, r *http.Request) *sessions.Error {
	var codings []string
	for _, line := range r.Header.Values("Content-Encoding") {
		for c := range strings.SplitSeq(line, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				codings = append(codings, c)
			}
		}
	}
	encoding := strings.Join(codings, ", ")
	switch {
	case len(codings) == 0:
		return nil
	case len(codings) == 1 && (strings.EqualFold(encoding, "gzip") || strings.EqualFold(encoding, "x-gzip")):
		if r.ContentLength == 0 {
			return nil
		}
		zr, err := gzip.NewReader(r.Body)
		if errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return sessions.BadRequest(sessions.CodeBadJSON, "request body is not gzip, as its Content-Encoding says")
		}
		if err != nil {
			return sessions.AsError(readError(err))
		}
		r.Body = http.MaxBytesReader(w, struct {
			io.Reader
			io.Closer
		}{zr, r.Body}, e.maxBodySize)
		r.ContentLength = -1
		r.Header.Del("Content-Encoding")
		return nil
	}
	return &sessions.Error{Category: sessions.CategoryBadRequest, Code: sessions.CodeNotJSON,
		Message: fmt.Sprintf("request body's Content-Encoding %q is not supported: send gzip, or none", encoding)}
}

// recoverer turns a panic in a handler into a 500 error body.
func (e *Endpoint) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				e.WriteError(w, r, panicError(v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// isJSON reports whether a Content-Type header names JSON:
// application/json or a type ending in +json, with any parameters but a
// charset other than UTF-8, the one JSON is read in.
func isJSON(contentType []string) bool {
	if len(contentType) == 0 {
		return false
	}
	if contentType[0] == "application/json" {
		return true
	}
	mt, params, err := mime.ParseMediaType(contentType[0])
	if charset, ok := params["charset"]; ok && !strings.EqualFold(charset, "utf-8") && !strings.EqualFold(charset, "utf8") {
		return false
	}
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// readError is the error of a request body that could not be read: too
// large (413), or cut short or late (400). Why it could not be read (with
// the addresses of the connection) goes to the log only.
func readError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return sessions.BodyTooLarge(tooLarge.Limit)
	}
	msg := "cannot read the request body"
	if errors.Is(err, os.ErrDeadlineExceeded) {
		msg = "the request body did not arrive within the endpoint's read timeout"
	}
	e := sessions.BadRequest(sessions.CodeBadJSON, "%s", msg)
	e.Cause = err
	return e
}

// jsonContentType is the Content-Type header value of every JSON response.
// It is shared: never modify it.
var jsonContentType = []string{"application/json"}

// noStore is the Cache-Control header value of every command's answer.
// It is shared: never modify it.
var noStore = []string{"no-store"}

// appender is implemented by results that encode themselves without reflection.
type appender interface{ AppendJSON([]byte) []byte }

// bufferedBody is how much of a response net/http buffers before it must
// choose between a Content-Length and chunks. For a body it buffered whole
// it sets Content-Length itself, without an allocation; a longer one gets
// its length from writeJSON, so that no JSON response is chunked.
const bufferedBody = 2048

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	if a, ok := v.(appender); ok {
		b = a.AppendJSON(b)
	} else {
		enc, err := json.Marshal(v)
		if err != nil {
			status = http.StatusInternalServerError
			enc = []byte(`{"type":"InternalException","category":"Internal","status":500,"code":"INTERNAL","message":"cannot encode the result"}`)
		}
		b = append(b, enc...)
	}
	// Direct assignments: the keys are canonical already, and every JSON
	// response shares one Content-Type value.
	h := w.Header()
	h["Content-Type"] = jsonContentType
	if len(b) > bufferedBody {
		h["Content-Length"] = []string{strconv.Itoa(len(b))}
	}
	w.WriteHeader(status)
	// A failed write means the client went away; there is no one left to tell.
	w.Write(b) //nolint:errcheck
	if cap(b) <= 64<<10 {
		*bp = b
		bufPool.Put(bp)
	}
}

// serverLog takes what net/http reports outside any handler. A client's
// failed TLS handshake is that client's doing, logged at debug as other
// refused input is, so that bad clients cannot flood the log; anything
// else (an accept that failed, say) is the operator's to see.
type serverLog struct{ log *zap.Logger }

// Write logs one line of net/http's.
func (s serverLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		s.log.Debug(msg)
	} else {
		s.log.Warn(msg)
	}
	return len(p), nil
}
