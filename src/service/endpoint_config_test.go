package service_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessionsd/service-sessions-go/src/container"
	"github.com/sessionsd/service-sessions-go/src/service"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for name, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(name, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// openEndpoint configures and opens an endpoint, closing it at the end of
// the test.
func openEndpoint(t *testing.T, cfg container.Config) (*service.Endpoint, error) {
	t.Helper()
	e := service.NewEndpoint()
	if err := e.Configure(cfg); err != nil {
		return nil, err
	}
	e.Router().Get("/hello", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("hello")) })
	if err := e.Open(t.Context()); err != nil {
		return nil, err
	}
	t.Cleanup(func() { e.Close(t.Context()) })
	return e, nil
}

func TestHTTPSServesWithTheConfiguredCertificate(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	e, err := openEndpoint(t, container.Config{
		"connection": map[string]any{"protocol": "https", "host": "127.0.0.1", "port": 0},
		"credential": map[string]any{"ssl_crt_file": certFile, "ssl_key_file": keyFile},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(e.URL() + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || !strings.HasPrefix(e.URL(), "https://") {
		t.Errorf("got %s over TLS %v at %s; want 200 over https", resp.Status, resp.TLS != nil, e.URL())
	}
}

func TestHTTPSWithACertificateThatCannotBeLoadedFailsTheStart(t *testing.T) {
	dir := t.TempDir()
	certFile, _, _ := selfSigned(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, credential := range map[string]map[string]any{
		"a key that is no key": {"ssl_crt_file": certFile, "ssl_key_file": notPEM},
		"a missing key file":   {"ssl_crt_file": certFile, "ssl_key_file": filepath.Join(dir, "missing.pem")},
		"no key file named":    {"ssl_crt_file": certFile},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := openEndpoint(t, container.Config{
				"connection": map[string]any{"protocol": "https", "host": "127.0.0.1", "port": 0},
				"credential": credential,
			})
			if err == nil {
				t.Error("got a started endpoint; want the start to fail")
			}
		})
	}
}

func TestConnectionURIStandsForProtocolHostAndPort(t *testing.T) {
	e, err := openEndpoint(t, container.Config{"connection": map[string]any{"uri": "http://127.0.0.1:0", "port": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if host, _, _ := net.SplitHostPort(e.Addr().String()); host != "127.0.0.1" {
		t.Errorf("listening on %s; want 127.0.0.1, the uri's host", e.Addr())
	}
	// An https uri needs a certificate like the https protocol does.
	if _, err := openEndpoint(t, container.Config{"connection": map[string]any{"uri": "https://127.0.0.1:0"}}); err == nil {
		t.Error("https uri without a certificate: got a started endpoint; want an error")
	}
	if _, err := openEndpoint(t, container.Config{"connection": map[string]any{"uri": "127.0.0.1:8080"}}); err == nil {
		t.Error("uri without a scheme: got a started endpoint; want an error")
	}
}

func TestAPIKeysMayBeAListOrCommaSeparated(t *testing.T) {
	for name, keys := range map[string]any{"a list": []any{"key-one", "key-two"}, "comma-separated": "key-one, key-two"} {
		t.Run(name, func(t *testing.T) {
			e := service.NewEndpoint()
			if err := e.Configure(container.Config{"options": map[string]any{"api_keys": keys}}); err != nil {
				t.Fatal(err)
			}
			e.Router().Get("/private", func(http.ResponseWriter, *http.Request) {})
			for key, want := range map[string]int{"key-one": http.StatusOK, "key-two": http.StatusOK, "key-three": http.StatusUnauthorized} {
				r := httptest.NewRequest(http.MethodGet, "/private", nil)
				r.Header.Set("Authorization", "Bearer "+key)
				w := httptest.NewRecorder()
				e.Router().ServeHTTP(w, r)
				if w.Code != want {
					t.Errorf("%s: got %d; want %d", key, w.Code, want)
				}
			}
		})
	}
}

// Keys set to nothing (a template parameter left unset, or null) leave
// the endpoint open, and its start says so.
func TestAPIKeysSetToNothingAreWarnedOf(t *testing.T) {
	for name, keys := range map[string]any{"empty": "", "null": nil, "spaces and commas": " , "} {
		t.Run(name, func(t *testing.T) {
			core, logs := observer.New(zapcore.WarnLevel)
			refs := container.NewReferences()
			refs.Put(container.Descriptor{Group: "pip-services", Type: "logger", Kind: "console", Name: "default", Version: "1.0"}, zap.New(core))
			e := service.NewEndpoint()
			if err := e.Configure(container.Config{"connection": map[string]any{"host": "127.0.0.1", "port": 0},
				"options": map[string]any{"api_keys": keys}}); err != nil {
				t.Fatal(err)
			}
			if err := e.SetReferences(refs); err != nil {
				t.Fatal(err)
			}
			if err := e.Open(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { e.Close(context.Background()) })
			if e.Secured() {
				t.Error("the endpoint asks for a key; there is none")
			}
			if n := logs.FilterMessageSnippet("api_keys").Len(); n != 1 {
				t.Errorf("warnings: got %d; want 1", n)
			}
		})
	}
}

// A bound on connections below zero is a config error naming its key.
func TestANegativeMaxConnectionsIsAConfigError(t *testing.T) {
	e := service.NewEndpoint()
	err := e.Configure(container.Config{"options": map[string]any{"max_connections": -1}})
	if err == nil || !strings.Contains(err.Error(), "options.max_connections") {
		t.Errorf("configure: got %v; want an error naming options.max_connections", err)
	}
}
