package persistence

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/sessionsd/service-sessions-go/src/container"
)

// Credentials from the settings keep the auth source and mechanism that
// connection.uri names, as a URI with its own credentials would; the auth
// source is the database only when the URI names none.
func TestMongoDBCredentials(t *testing.T) {
	creds := map[string]any{"username": "app-user", "password": "secret"}
	for _, tc := range []struct {
		name       string
		connection map[string]any
		credential map[string]any
		want       *options.Credential
	}{
		{"no credentials", map[string]any{"uri": "mongodb://db/app?authSource=admin"}, nil, nil},
		{"host and port", map[string]any{"host": "db", "database": "app"}, creds,
			&options.Credential{Username: "app-user", Password: "secret", PasswordSet: true, AuthSource: "app"}},
		{"uri naming no auth source", map[string]any{"uri": "mongodb://db/app"}, creds,
			&options.Credential{Username: "app-user", Password: "secret", PasswordSet: true, AuthSource: "app"}},
		{"uri naming the auth source", map[string]any{"uri": "mongodb://db/app?authSource=admin"}, creds,
			&options.Credential{Username: "app-user", Password: "secret", PasswordSet: true, AuthSource: "admin"}},
		{"uri naming the mechanism", map[string]any{"uri": "mongodb://db/app?authMechanism=SCRAM-SHA-256&authSource=users"}, creds,
			&options.Credential{Username: "app-user", Password: "secret", PasswordSet: true, AuthSource: "users", AuthMechanism: "SCRAM-SHA-256"}},
		{"uri naming mechanism properties", map[string]any{"uri": "mongodb://db/app?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME:sessions"}, creds,
			&options.Credential{Username: "app-user", Password: "secret", PasswordSet: true, AuthSource: "$external",
				AuthMechanism: "GSSAPI", AuthMechanismProperties: map[string]string{"SERVICE_NAME": "sessions"}}},
		{"uri with its own credentials", map[string]any{"uri": "mongodb://own:pw@db/app?authSource=admin"}, creds,
			&options.Credential{Username: "own", Password: "pw", PasswordSet: true, AuthSource: "admin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMongoDB()
			if err := m.Configure(container.Config{"connection": tc.connection, "credential": tc.credential}); err != nil {
				t.Fatalf("Configure: %v", err)
			}
			if got := m.clientOptions().Auth; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v; want %+v", got, tc.want)
			}
			// And the driver takes the options (it connects later); GSSAPI
			// is built in only with the gssapi build tag.
			if tc.want != nil && tc.want.AuthMechanism == "GSSAPI" {
				return
			}
			client, err := mongo.Connect(m.clientOptions())
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			_ = client.Disconnect(context.Background())
		})
	}
}

// A start interrupted while the database does not answer says so, so that
// the process exits as from any interrupted start.
func TestMongoDBOpenInterruptedIsTheInterruption(t *testing.T) {
	m := NewMongoDB()
	if err := m.Configure(container.Config{"connection": map[string]any{"uri": "mongodb://127.0.0.1:1/app"},
		"options": map[string]any{"connect_timeout": 10000}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := m.Open(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v; want the interruption", err)
	}
}

// The quota and the event log rest on majority writes and primary reads at
// the latest, set on the database the collections come from, which the
// connection string (w=0, readPreference=secondary…) does not override.
func TestMongoDBKeepsItsConcerns(t *testing.T) {
	var got options.DatabaseOptions
	for _, set := range dbOptions().Opts {
		if err := set(&got); err != nil {
			t.Fatal(err)
		}
	}
	if wc := got.WriteConcern; wc == nil || wc.W != "majority" {
		t.Errorf("write concern: got %+v; want majority", wc)
	}
	if rp := got.ReadPreference; rp == nil || rp.Mode() != readpref.PrimaryMode {
		t.Errorf("read preference: got %v; want primary", rp)
	}
	if rc := got.ReadConcern; rc == nil || rc.Level != "local" {
		t.Errorf("read concern: got %+v; want local", rc)
	}
}
