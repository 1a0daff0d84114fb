package container

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name        string
		args, env   []string
		wantPath    string
		wantParams  map[string]string
		wantHelp    bool
		wantVersion bool
	}{
		{"defaults", nil, nil, DefaultConfigPath, map[string]string{}, false, false},
		{"-c", []string{"-c", "x.yml"}, nil, "x.yml", map[string]string{}, false, false},
		{"--config", []string{"--config", "y.yml"}, nil, "y.yml", map[string]string{}, false, false},
		{"--config=", []string{"--config=z.yml"}, nil, "z.yml", map[string]string{}, false, false},
		{"-p", []string{"-p", "HTTP_ENABLED=true;HTTP_PORT=9000"}, nil, DefaultConfigPath,
			map[string]string{"HTTP_ENABLED": "true", "HTTP_PORT": "9000"}, false, false},
		{"--param trims and skips empty parts", []string{"--param", " a = 1 ; ;b=2;"}, nil, DefaultConfigPath,
			map[string]string{"A": "1", "B": "2"}, false, false},
		{"--params value with =", []string{"--params", "URI=mongodb://h/db?w=1"}, nil, DefaultConfigPath,
			map[string]string{"URI": "mongodb://h/db?w=1"}, false, false},
		{"repeated -p, last wins", []string{"-p", "A=1;B=1", "-p", "a=2"}, nil, DefaultConfigPath,
			map[string]string{"A": "2", "B": "1"}, false, false},
		{"environment overrides -p", []string{"-p", "HTTP_PORT=9000;FILE_ENABLED=true"}, []string{"http_port=9100", "PATH=/bin"}, DefaultConfigPath,
			map[string]string{"HTTP_PORT": "9100", "FILE_ENABLED": "true", "PATH": "/bin"}, false, false},
		{"empty environment value overrides too", []string{"-p", "FILE_ENABLED=true"}, []string{"FILE_ENABLED="}, DefaultConfigPath,
			map[string]string{"FILE_ENABLED": ""}, false, false},
		{"environment value with =", nil, []string{"X=a=b", "=ignored", "noequals"}, DefaultConfigPath,
			map[string]string{"X": "a=b"}, false, false},
		{"-h", []string{"-h"}, nil, DefaultConfigPath, map[string]string{}, true, false},
		{"--help", []string{"--help"}, nil, DefaultConfigPath, map[string]string{}, true, false},
		{"--version", []string{"--version"}, nil, DefaultConfigPath, map[string]string{}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(tt.args, tt.env)
			if err != nil {
				t.Fatalf("ParseArgs(%q, %q): got error %v; want none", tt.args, tt.env, err)
			}
			if got.ConfigPath != tt.wantPath {
				t.Errorf("config path: got %q; want %q", got.ConfigPath, tt.wantPath)
			}
			if !maps.Equal(got.Params, tt.wantParams) {
				t.Errorf("params: got %v; want %v", got.Params, tt.wantParams)
			}
			if got.Help != tt.wantHelp {
				t.Errorf("help: got %v; want %v", got.Help, tt.wantHelp)
			}
			if got.Version != tt.wantVersion {
				t.Errorf("version: got %v; want %v", got.Version, tt.wantVersion)
			}
		})
	}
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"-x"}, "invalid arguments: flag provided but not defined: -x (see --help)"},
		{"missing value", []string{"-c"}, "invalid arguments: flag needs an argument: -c (see --help)"},
		{"parameter without =", []string{"-p", "A=1;HTTP_ENABLED"}, `invalid arguments: -p "A=1;HTTP_ENABLED": "HTTP_ENABLED" is not K=V`},
		{"parameter without name", []string{"-p", "=1"}, `invalid arguments: -p "=1": "=1" is not K=V`},
		{"stray argument", []string{"config.yml"}, `invalid arguments: unexpected "config.yml" (see --help)`},
		{"empty --backup", []string{"--backup", ""}, "invalid arguments: --backup needs a value (see --help)"},
		{"empty --healthcheck", []string{"--healthcheck="}, "invalid arguments: --healthcheck needs a value (see --help)"},
		{"empty --restore", []string{"--restore", ""}, "invalid arguments: --restore needs a value (see --help)"},
		{"--backup and --restore", []string{"--backup", "a", "--restore", "b"}, "invalid arguments: --backup and --restore together (see --help)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseArgs(tt.args, nil)
			if err == nil || err.Error() != tt.want {
				t.Errorf("ParseArgs(%q): got error %v; want %q", tt.args, err, tt.want)
			}
		})
	}
}

// logComp is a logger component as the console logger provides one.
type logComp struct{ log *zap.Logger }

func (l *logComp) Named(name string) *zap.Logger { return l.log.Named(name) }

// runUntilStarted runs config with args and environ until it logs that it
// started, then stops it, and returns its log.
func runUntilStarted(t *testing.T, rec *recorder, config string, args, environ []string) *observer.ObservedLogs {
	t.Helper()
	core, logs := observer.New(zapcore.InfoLevel)
	factories := append(testFactories(rec), Factory{
		Descriptor: MustDescriptor("test:logger:default:default:1.0"),
		New:        func() (any, error) { return &logComp{zap.New(core)}, nil },
	})
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, factories, append([]string{"-c", path}, args...), environ)
	}()

	deadline := time.Now().Add(5 * time.Second)
	for logs.FilterMessage("started").Len() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Run did not log started; got logs %v", logs.All())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: got error %v; want nil after a clean stop", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was canceled")
	}
	return logs
}

func TestRun(t *testing.T) {
	rec := &recorder{}
	logs := runUntilStarted(t, rec, `
- descriptor: pip-services:context-info:default:default:1.0
  name: {{NAME}}
- descriptor: test:logger:default:default:1.0
{{#if A_ENABLED}}
- descriptor: test:fake:default:a:1.0
  name: a
{{/if}}
- descriptor: test:fake:default:b:1.0
  name: b
- descriptor: test:endpoint:default:default:1.0
`, []string{"-p", "A_ENABLED=true;NAME=from-flag"}, []string{"name=from-env"})

	want := []string{
		"configure a", "configure b", "references a", "references b",
		"open a", "open b", "close b", "close a",
	}
	if got := rec.take(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls: got %q; want %q", got, want)
	}
	started := logs.FilterMessage("started").All()[0]
	if got := started.LoggerName; got != "container" {
		t.Errorf("logger name: got %q; want %q", got, "container")
	}
	if got := started.ContextMap()["name"]; got != "from-env" {
		t.Errorf("logged name: got %v; want %q (the environment overrides -p)", got, "from-env")
	}
	if got := started.ContextMap()["version"]; got != Version() {
		t.Errorf("logged version: got %v; want %q", got, Version())
	}
	// The line names every component, so a reader sees which store runs.
	if got, want := fmt.Sprint(started.ContextMap()["components"]), "[pip-services:context-info:default:default:1.0 "+
		"test:logger:default:default:1.0 test:fake:default:a:1.0 test:fake:default:b:1.0 test:endpoint:default:default:1.0]"; got != want {
		t.Errorf("logged components: got %s; want %s", got, want)
	}
	if got := logs.FilterMessage("stopped").Len(); got != 1 {
		t.Errorf("stopped lines: got %d; want 1", got)
	}
	if got := logs.FilterLevelExact(zapcore.WarnLevel).Len(); got != 0 {
		t.Errorf("warnings: got %v; want none", logs.FilterLevelExact(zapcore.WarnLevel).All())
	}
}

// The Node service's config without HTTP_ENABLED starts no endpoint: the
// start warns that nothing serves requests.
func TestRunWarnsOfAConfigThatServesNothing(t *testing.T) {
	logs := runUntilStarted(t, &recorder{}, `
- descriptor: test:logger:default:default:1.0
- descriptor: test:fake:default:a:1.0
  name: a
`, nil, nil)
	if got := logs.FilterMessageSnippet("no component serves requests").Len(); got != 1 {
		t.Errorf("warnings: got %v; want one that nothing serves requests", logs.FilterLevelExact(zapcore.WarnLevel).All())
	}
}

// MEMORY_ENABLED=false turns the memory store on, as in Pip.Services: any
// value but an empty one is true. The start warns of it.
func TestRunWarnsOfAParameterThatReadsFalseButCountsTrue(t *testing.T) {
	rec := &recorder{}
	logs := runUntilStarted(t, rec, `
- descriptor: test:logger:default:default:1.0
{{#if A_ENABLED}}
- descriptor: test:fake:default:a:1.0
  name: a
{{/if}}
{{#unless B_OFF}}
- descriptor: test:fake:default:b:1.0
  name: b
{{else if C}}{{/unless}}
- descriptor: test:endpoint:default:default:1.0
`, []string{"-p", "a_enabled=False;B_OFF=0;C=no;D=false"}, nil)
	if got := rec.take(); !slices.Contains(got, "open a") {
		t.Errorf("calls: got %q; want a opened, A_ENABLED being set", got)
	}
	var got []string
	for _, e := range logs.FilterLevelExact(zapcore.WarnLevel).All() {
		got = append(got, fmt.Sprint(e.ContextMap()["parameter"], "=", e.ContextMap()["value"]))
	}
	if want := []string{"A_ENABLED=False", "B_OFF=0", "C=no"}; !slices.Equal(got, want) {
		t.Errorf("warnings: got %q; want %q (D is tested by no block)", got, want)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.yml", "- descriptor: test:fake:default:a:1.0\n  timeout: soon\n")
	unclosed := write("unclosed.yml", "\n{{#if X}}\n")
	failing := write("failing.yml", "- descriptor: test:fake:default:a:1.0\n  name: a\n- descriptor: test:fake:default:b:1.0\n  name: b\n  fail: open\n")
	missing := filepath.Join(dir, "missing.yml")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad flag", []string{"--nope"}, "invalid arguments: flag provided but not defined: -nope"},
		{"missing file", []string{"-c", missing}, "config error: open " + missing + ": no such file or directory"},
		{"template error names the file", []string{"-c", unclosed}, "config error: " + unclosed + ": template line 2: {{#if X}} is never closed with {{/if}}"},
		{"bad value names the file and the component", []string{"-c", bad}, "config error: " + bad + `: test:fake:default:a:1.0: timeout: "soon" is not a number of milliseconds`},
		{"failed open", []string{"--config", failing}, "open test:fake:default:b:1.0: open failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			err := Run(context.Background(), testFactories(rec), tt.args, nil)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Run(%q): got error %v; want it to start with %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestRunInterruptedStartUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(path, []byte("- descriptor: test:fake:default:a:1.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Run(ctx, testFactories(&recorder{}), []string{"-c", path}, nil); err != nil {
		t.Errorf("Run with a canceled context: got error %v; want nil", err)
	}
}

// An https endpoint of this host is checked whatever its certificate
// (self-signed, or issued for a public name); whether it answers is the
// question.
func TestRunHealthcheckOverHTTPSOnThisHost(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, host := range []string{"127.0.0.1", "localhost"} {
		url := "https://" + net.JoinHostPort(host, port) + "/heartbeat"
		if err := Run(t.Context(), nil, []string{"--healthcheck", url}, nil); err != nil {
			t.Errorf("%s: got %v; want nil", url, err)
		}
	}
	for host, want := range map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true, "10.0.0.1": false, "example.com": false} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q): got %v; want %v", host, got, want)
		}
	}
}

// --healthcheck answers for an image without a shell: exit 0 (nil) when the
// URL answers 2xx, 1 otherwise; it reads no config.
func TestRunHealthcheck(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(int(status.Load())) }))
	defer srv.Close()
	check := func() error {
		return Run(t.Context(), nil, []string{"-c", "no-such-config.yml", "--healthcheck", srv.URL + "/heartbeat"}, nil)
	}
	if err := check(); err != nil {
		t.Errorf("healthy: got %v; want nil", err)
	}
	status.Store(http.StatusServiceUnavailable)
	if err := check(); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("unhealthy: got %v; want an error naming 503", err)
	}
	srv.Close()
	if err := check(); err == nil {
		t.Error("unreachable: got nil; want an error")
	}
}
