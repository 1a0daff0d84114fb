package test

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// TestMongoDBCloseEndsWhileTheDatabaseHangs freezes the database's process
// under an open store, as a server that hangs without closing its
// connections, and expects Close to end within the operation timeout
// rather than wait on the server.
func TestMongoDBCloseEndsWhileTheDatabaseHangs(t *testing.T) {
	t.Parallel()
	const opTimeout = time.Second
	// A connect timeout far longer than the operation timeout, so that only
	// the latter can end the wait in time.
	server, store := storeOnOwnServer(t, 30*time.Second, opTimeout)

	server.signal(t, syscall.SIGSTOP)
	t.Cleanup(func() { server.signal(t, syscall.SIGCONT) }) // before the server's stop
	closed := make(chan error, 1)
	start := time.Now()
	go func() { closed <- store.Close(context.Background()) }()
	select {
	case <-closed: // what it returns does not matter here: that it returns does
	case <-time.After(opTimeout + 2*time.Second):
		t.Fatalf("Close still waiting after %v on a database that hangs; want it to end within the %v operation timeout", time.Since(start), opTimeout)
	}
}

// signal sends sig to the server's process.
func (s *mongoServer) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		t.Fatalf("signal %v: FerretDB is not running", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to FerretDB: %v", sig, err)
	}
}
