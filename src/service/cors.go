package service

import (
	"net/http"
)

// corsPolicy lets pages of other origins call the service from a browser,
// as the Node service's endpoint does: every origin unless cors_origins
// names some, and the headers a client of the API sends, plus those
// cors_headers names.
type corsPolicy struct {
	anyOrigin    bool
	origins      map[string]bool
	allowHeaders string
}

// corsHeaders are the request headers a browser may send to the API: its
// own, and those the Node service's endpoint allows, so that a page
// written for it passes the preflight here too.
const corsHeaders = "Accept, Authorization, Content-Type, Last-Event-ID, correlation_id, X-Requested-With, " +
	"Accept-Version, Request-Id, X-Api-Version, X-Request-Id"

// varyOrigin is the Vary header of answers that depend on the Origin. It
// is shared: never modify it (Header.Add appends to a copy, its length
// being its capacity).
var varyOrigin = []string{"Origin"}

// corsMaxAge is how long, in seconds, a browser may keep a preflight's answer.
const corsMaxAge = "600"

// newCORSPolicy takes the origins and the extra headers allowed; no origin,
// or "*" among them, allows every origin.
func newCORSPolicy(origins, headers []string) corsPolicy {
	p := corsPolicy{origins: map[string]bool{}, allowHeaders: corsHeaders}
	for _, o := range origins {
		p.origins[o] = true
	}
	p.anyOrigin = len(p.origins) == 0 || p.origins["*"]
	for _, h := range headers {
		p.allowHeaders += ", " + h
	}
	return p
}

// cors answers a browser's preflight (an OPTIONS with an Origin and an
// Access-Control-Request-Method) itself, before any API key is asked for,
// and marks the answers to allowed origins as readable by their pages.
// Requests without an Origin, which is every request but a browser's,
// pass untouched.
func (e *Endpoint) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header["Origin"]
		if r.Method == http.MethodGet || r.Method == http.MethodHead || len(origin) > 0 && !e.corsPolicy.anyOrigin {
			// The answer depends on the origin (no CORS headers without
			// one): a cache must not give one origin's answer to another.
			w.Header()["Vary"] = varyOrigin
		}
		if len(origin) == 0 || !e.corsPolicy.anyOrigin && !e.corsPolicy.origins[origin[0]] {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		if e.corsPolicy.anyOrigin {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin[0])
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", e.corsPolicy.allowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
