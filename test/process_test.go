package test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildService compiles the service binary once per test.
func buildService(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "service-sessions")
	cmd := exec.Command("go", "build", "-o", bin, "./bin")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr.Port
}

// runService starts the binary with the shipped config and waits until it
// answers the heartbeat.
func runService(t *testing.T, bin string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(bin, "-c", repoFile("config", "config.yml"), "-p", fmt.Sprintf("HTTP_PORT=%d", port))
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/heartbeat")
		if err == nil {
			resp.Body.Close()
			return cmd, base
		}
		if time.Now().After(deadline) {
			t.Fatalf("service did not answer on %s: %v", base, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestASignalDrainsFlushesAndExitsZeroAndSessionsSurviveARestart(t *testing.T) {
	bin := buildService(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} { // a terminal's, and a container's stop
		t.Run(sig.String(), func(t *testing.T) {
			env := []string{"FILE_PATH=" + filepath.Join(t.TempDir(), "sessions.json"), "LOG_LEVEL=warn"}

			cmd, base := runService(t, bin, env...)
			s := openSession(t, base, map[string]any{"user_id": "u1", "data": map[string]any{"k": 1}})

			// A slow request in flight when the signal arrives still completes.
			conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			// The service asks for the body once its handler reads it: from then
			// on the request is in flight.
			body := `{"user_id":"u2"}`
			fmt.Fprintf(conn, "POST /v1/sessions/open_session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
			answer := bufio.NewReader(conn)
			if status, err := answer.ReadString('\n'); err != nil || !strings.Contains(status, "100") {
				t.Fatalf("request sent: got %q, %v; want 100 Continue", status, err)
			}
			if _, err := answer.ReadString('\n'); err != nil { // the blank line after it
				t.Fatal(err)
			}
			fmt.Fprint(conn, body[:5])
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			fmt.Fprint(conn, body[5:])
			status, err := answer.ReadString('\n')
			if err != nil || !strings.Contains(status, "200") {
				t.Errorf("in-flight request: got %q, %v; want 200", status, err)
			}
			conn.Close()

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("exit after %v: got %v; want status 0", sig, err)
				}
			case <-ctx.Done():
				t.Fatalf("service did not stop within 20 s of %v", sig)
			}

			_, base = runService(t, bin, env...)
			r := command(t, base, "get_session_by_id", map[string]any{"session_id": s["id"]})
			wantStatus(t, r, http.StatusOK)
			if got := r.JSON(t); got["user_id"] != "u1" || got["data"].(map[string]any)["k"] != 1.0 {
				t.Errorf("after restart: got %s; want the session opened before", r.Body)
			}
		})
	}
}

// A second signal ends a shutdown that waits for a request in flight.
func TestASecondSIGINTEndsAShutdownThatWaits(t *testing.T) {
	bin := buildService(t)
	cmd, base := runService(t, bin, "FILE_PATH="+filepath.Join(t.TempDir(), "sessions.json"), "LOG_LEVEL=warn")
	addr := strings.TrimPrefix(base, "http://")
	// A request that never completes holds the drain for its 30 s. The
	// service asks for the body once its handler reads it: from then on
	// the request is in flight.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /v1/sessions/open_session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
	if status, err := bufio.NewReader(conn).ReadString('\n'); err != nil || !strings.Contains(status, "100") {
		t.Fatalf("request sent: got %q, %v; want 100 Continue", status, err)
	}
	fmt.Fprint(conn, "{")

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// The shutdown has begun once the service takes no new connection.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the service still takes connections 10 s after SIGINT")
		}
	}
	// The signal that turns the next one into a kill may be handled a
	// moment after the listener closes: signal until the process ends.
	deadline := time.After(10 * time.Second)
	for {
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			if !strings.Contains(fmt.Sprint(err), "interrupt") {
				t.Errorf("the service ended with %v; want it killed by the second SIGINT, not its drain ended", err)
			}
			return
		case <-deadline:
			t.Fatal("the service still runs 10 s after a second SIGINT; want it ended at once")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// The README's backup and restore: --backup copies the store of a running
// service to one file; --restore puts it in place of the store, stopped,
// whose sessions and homes are then the backup's.
func TestABackupOfARunningServiceRestoresItsSessionsAndHomes(t *testing.T) {
	bin := buildService(t)
	env := []string{"FILE_PATH=" + filepath.Join(t.TempDir(), "sessions.json"), "LOG_LEVEL=warn"}
	cmd, base := runService(t, bin, env...)
	wantStatus(t, call(t, http.MethodPost, base+"/v1/homes/set_home", map[string]any{"home": map[string]any{"id": "u1", "max_sessions": 2}}), http.StatusOK)
	s := openSession(t, base, map[string]any{"user_id": "u1", "data": map[string]any{"k": 1}})

	dst := filepath.Join(t.TempDir(), "backup.dat")
	tool(t, bin, env, "--backup", dst)
	later := openSession(t, base, map[string]any{"user_id": "u2"})
	if out, err := toolCmd(bin, env, "--restore", dst).CombinedOutput(); err == nil || !strings.Contains(string(out), "stop the service first") {
		t.Errorf("--restore while the service runs: got %v, %s; want it refused", err, out)
	}
	cmd.Process.Kill()
	cmd.Wait()
	tool(t, bin, env, "--restore", dst)

	_, base = runService(t, bin, env...)
	r := command(t, base, "get_session_by_id", map[string]any{"session_id": s["id"]})
	wantStatus(t, r, http.StatusOK)
	if got := r.JSON(t); got["user_id"] != "u1" || got["data"].(map[string]any)["k"] != 1.0 {
		t.Errorf("restored session: got %s; want the one opened before the backup", r.Body)
	}
	wantStatus(t, command(t, base, "get_session_by_id", map[string]any{"session_id": later["id"]}), http.StatusNoContent)
	r = call(t, http.MethodPost, base+"/v1/homes/get_home", map[string]any{"home_id": "u1"})
	wantStatus(t, r, http.StatusOK)
	if got := r.JSON(t); got["max_sessions"] != 2.0 || got["active_count"] != 1.0 {
		t.Errorf("restored home: got %s; want max_sessions 2 with its one session", r.Body)
	}
}

func TestVersionPrintsOneLineAndExitsZero(t *testing.T) {
	out, err := exec.Command(buildService(t), "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "service-sessions-go ") || strings.Count(string(out), "\n") != 1 {
		t.Errorf("--version: got %v, %q; want exit 0 and one line naming the module", err, out)
	}
}

// toolCmd is the service binary run as a tool on the shipped config.
func toolCmd(bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append([]string{"-c", repoFile("config", "config.yml")}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// tool runs the service binary as a tool and fails the test unless it exits 0.
func tool(t *testing.T, bin string, env []string, args ...string) {
	t.Helper()
	if out, err := toolCmd(bin, env, args...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

func TestABackupOfAStoreThatIsNoFileFailsWithOneLine(t *testing.T) {
	bin := buildService(t)
	out, err := toolCmd(bin, []string{"MEMORY_ENABLED=true", "LOG_LEVEL=warn"}, "--backup", filepath.Join(t.TempDir(), "b.dat")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--backup: the config has 0 file persistences") {
		t.Errorf("--backup on memory: got %v, %q; want exit 1 naming the cause", err, out)
	}
}
