package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// ceilingArgs is the body of open_session as the ceiling decodes it.
type ceilingArgs struct {
	UserID   string          `json:"user_id"`
	UserName string          `json:"user_name"`
	Address  string          `json:"address"`
	Client   string          `json:"client"`
	User     json.RawMessage `json:"user"`
	Data     json.RawMessage `json:"data"`
}

// ceilingSession is a session as the ceiling encodes it.
type ceilingSession struct {
	ID          string          `json:"id"`
	UserID      string          `json:"user_id"`
	UserName    string          `json:"user_name"`
	Active      bool            `json:"active"`
	OpenTime    string          `json:"open_time"`
	RequestTime string          `json:"request_time"`
	Address     string          `json:"address"`
	Client      string          `json:"client"`
	User        json.RawMessage `json:"user"`
	Data        json.RawMessage `json:"data"`
}

// serveCeiling runs the ceiling of the stack on addr.
func serveCeiling(addr string) error { return http.ListenAndServe(addr, ceilingHandler()) }

// ceilingHandler is the ceiling of the stack: a bare chi handler that
// decodes an open_session body and encodes a new session with
// encoding/json, storing nothing. Every request the benchmark sends it is
// an open_session.
func ceilingHandler() http.Handler {
	r := chi.NewRouter()
	r.Get("/heartbeat", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(time.Now().UTC())
	})
	r.Post("/"+sessions.SessionsRoute+"/{command}", func(w http.ResponseWriter, r *http.Request) {
		var a ceilingArgs
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var id [16]byte
		rand.Read(id[:])
		now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(ceilingSession{
			ID: hex.EncodeToString(id[:]), UserID: a.UserID, UserName: a.UserName, Active: true,
			OpenTime: now, RequestTime: now, Address: a.Address, Client: a.Client, User: a.User, Data: a.Data,
		})
	})
	return r
}

// ceilingOp is the load on the ceiling: the open_session body.
var ceilingOp = openOp(opOpen, "user-", 25_000)
