package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The MongoDB suites run against the server named by MONGO_URI when it is
// set, and otherwise against FerretDB (the MongoDB-wire server in
// ./ferretdb, on SQLite), which the suites build and start themselves. When
// neither can be had the suites skip, except in CI (CI=true), where they fail.

// sharedMongo is the one server the suites share; TestMain stops it.
var sharedMongo = &mongoHarness{}

// mongoHarness builds the FerretDB binary and starts the shared server,
// each at most once per test binary.
type mongoHarness struct {
	buildOnce sync.Once
	bin       string
	buildDir  string
	buildErr  error

	serverOnce sync.Once
	server     *mongoServer
	uri        string
	serverErr  error
}

// mongoURI returns the URI of the shared MongoDB-wire server, starting it
// on first use. Tests share the server, so each must use its own database
// (see mongoDatabase).
func mongoURI(t *testing.T) string {
	t.Helper()
	h := sharedMongo
	h.serverOnce.Do(func() {
		if uri := os.Getenv("MONGO_URI"); uri != "" {
			h.uri = uri
			return
		}
		bin, err := h.binary()
		if err != nil {
			h.serverErr = err
			return
		}
		dir, err := os.MkdirTemp("", "sessions-ferretdb-")
		if err != nil {
			h.serverErr = fmt.Errorf("data dir: %w", err)
			return
		}
		s := &mongoServer{bin: bin, dir: dir}
		if h.serverErr = s.start(); h.serverErr != nil {
			_ = os.RemoveAll(dir) // best effort: the start error is what matters
			return
		}
		h.server, h.uri = s, s.URI()
	})
	if h.serverErr != nil {
		mongoMissing(t, h.serverErr)
	}
	return h.uri
}

// binary builds the FerretDB test server into a temporary folder; the Go
// build cache makes every build after the first fast.
func (h *mongoHarness) binary() (string, error) {
	h.buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			h.buildErr = fmt.Errorf("no go command to build the FerretDB test server: %w", err)
			return
		}
		src, err := filepath.Abs("ferretdb")
		if err != nil {
			h.buildErr = err
			return
		}
		if h.buildDir, err = os.MkdirTemp("", "sessions-ferretdb-bin-"); err != nil {
			h.buildErr = err
			return
		}
		bin := filepath.Join(h.buildDir, "ferretdb")
		cmd := exec.Command(goTool, "build", "-o", bin, ".")
		cmd.Dir = src
		// The test server is its own module: do not let a workspace or
		// the flags of the test run reach it.
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
		if out, err := cmd.CombinedOutput(); err != nil {
			h.buildErr = fmt.Errorf("build FerretDB test server: %w\n%s", err, tail(out, 2000))
			return
		}
		h.bin = bin
	})
	return h.bin, h.buildErr
}

// shutdown stops the shared server and removes what the harness made.
func (h *mongoHarness) shutdown() {
	if h.server != nil {
		if err := h.server.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop FerretDB test server:", err)
		}
		_ = os.RemoveAll(h.server.dir) // best effort: a temp folder
	}
	if h.buildDir != "" {
		_ = os.RemoveAll(h.buildDir) // best effort: a temp folder
	}
}

// mongoMissing fails the test in CI (CI set to anything but "", "0" or
// "false", as CI systems set it) and skips it elsewhere.
func mongoMissing(t *testing.T, err error) {
	t.Helper()
	if ci := os.Getenv("CI"); ci != "" && ci != "0" && !strings.EqualFold(ci, "false") {
		t.Fatalf("MongoDB test server unavailable (set MONGO_URI to use a real MongoDB): %v", err)
	}
	t.Skipf("MongoDB test server unavailable (set MONGO_URI to use a real MongoDB): %v", err)
}

// mongoDatabase returns a fresh database name for one test and drops the
// database when the test ends, so tests sharing a server never meet.
func mongoDatabase(t *testing.T, uri string) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random database name: %v", err)
	}
	name := "sessions_test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		client, err := mongo.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
			return
		}
		defer client.Disconnect(ctx)
		if err := client.Database(name).Drop(ctx); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	return name
}

// mongoServer is a FerretDB process on a fixed loopback port that a test
// can stop and start again, to see clients ride through an outage.
type mongoServer struct {
	bin  string
	dir  string
	addr string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	stderr *syncBuffer
}

// startMongoServer starts a private FerretDB server for one test, with its
// own port and data folder, and stops it when the test ends. Use it for
// tests that stop the server; the others share mongoURI.
func startMongoServer(t *testing.T) *mongoServer {
	t.Helper()
	bin, err := sharedMongo.binary()
	if err != nil {
		mongoMissing(t, err)
	}
	s := &mongoServer{bin: bin, dir: t.TempDir()}
	if err := s.start(); err != nil {
		mongoMissing(t, err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stop FerretDB: %v", err)
		}
	})
	return s
}

// URI returns the server's connection string.
func (s *mongoServer) URI() string { return "mongodb://" + s.addr + "/" }

// Stop kills the server abruptly, as a crash or a network cut would, and
// waits until it is gone.
func (s *mongoServer) Stop(t *testing.T) {
	t.Helper()
	if err := s.kill(); err != nil {
		t.Fatalf("stop FerretDB: %v", err)
	}
}

// Start starts the server again on the same port and data.
func (s *mongoServer) Start(t *testing.T) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("restart FerretDB: %v", err)
	}
}

// start runs the server, on a free port the first time and on the same
// port afterwards, and waits until it accepts connections.
func (s *mongoServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	if s.addr == "" {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		s.addr = addr.String()
	}
	s.stderr = &syncBuffer{}
	cmd := exec.Command(s.bin, "-listen", s.addr, "-dir", s.dir)
	cmd.Stderr = s.stderr
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start FerretDB: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // the exit is observed through exited
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			_ = c.Close() // a probe connection
			return nil
		}
		select {
		case <-exited:
			s.cmd = nil
			return fmt.Errorf("FerretDB exited at start on %s: %s", s.addr, s.stderr.tail(2000))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill() // gave up on it
			<-exited
			s.cmd = nil
			return fmt.Errorf("FerretDB did not listen on %s within 30s: %s", s.addr, s.stderr.tail(2000))
		}
	}
}

// stop asks the server to shut down and kills it if it lingers.
func (s *mongoServer) stop() error { return s.halt(syscall.SIGTERM, 5*time.Second) }

// kill stops the server at once.
func (s *mongoServer) kill() error { return s.halt(syscall.SIGKILL, 5*time.Second) }

func (s *mongoServer) halt(sig os.Signal, grace time.Duration) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal FerretDB: %w", err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(grace):
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill FerretDB: %w", err)
	}
	<-exited
	return nil
}

// syncBuffer collects a child's output while the test may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return tail(b.b.Bytes(), n)
}

// tail returns the last n bytes of b as a string.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
