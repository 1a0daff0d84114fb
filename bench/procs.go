package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// child is a process the benchmark started; stop ends it.
type child struct {
	name string
	cmd  *exec.Cmd
	addr string // host:port it serves on
	log  string // file holding its output
	done chan struct{}
	err  error // the result of Wait, once done is closed
}

// start runs a program in dir with extra environment variables, its output
// going to a log file in logDir.
func start(name, dir, logDir string, env []string, prog string, args ...string) (*child, error) {
	logPath := filepath.Join(logDir, name+".log")
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		out.Close()
		close(c.done)
	}()
	return c, nil
}

// stop asks the process to end with SIGTERM and kills it if it has not
// ended within 30 s.
func (c *child) stop() error {
	if c == nil {
		return nil
	}
	select {
	case <-c.done:
		return c.err
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-c.done:
		return nil
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s did not stop within 30 s; killed", c.name)
	}
}

// failed describes how the process ended, with the tail of its log.
func (c *child) failed() error {
	out, _ := os.ReadFile(c.log) // best effort: only for the message
	if len(out) > 2000 {
		out = out[len(out)-2000:]
	}
	return fmt.Errorf("%s exited (%v); log %s:\n%s", c.name, c.err, c.log, out)
}

// waitHTTP polls GET url until it answers 200, the process exits or the
// timeout passes, and returns when the first 200 arrived.
func (c *child) waitHTTP(ctx context.Context, url string, timeout time.Duration) (time.Time, error) {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		res, err := client.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Now(), nil
			}
		}
		select {
		case <-c.done:
			return time.Time{}, c.failed()
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s: no answer from %s within %v", c.name, url, timeout)
		}
	}
}

// waitTCP waits until addr accepts connections.
func (c *child) waitTCP(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", c.addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-c.done:
			return c.failed()
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not listening within %v", c.name, c.addr, timeout)
		}
	}
}

// rss returns the resident memory of the process in bytes, from
// /proc/<pid>/status.
func (c *child) rss() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmRSS %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// cpuTime returns the CPU time the process has used, user and system, from
// /proc/<pid>/stat (in clock ticks of 10 ms, Linux's USER_HZ).
func (c *child) cpuTime() (time.Duration, error) {
	return procCPU(strconv.Itoa(c.cmd.Process.Pid))
}

// ownCPU returns the CPU time the benchmark itself has used: the load
// generator's, while it measures.
func ownCPU() (time.Duration, error) { return procCPU("self") }

// procCPU reads a process's user and system CPU time from /proc/<pid>/stat
// (in clock ticks of 10 ms, Linux's USER_HZ).
func procCPU(pid string) (time.Duration, error) {
	f, err := procStat(pid)
	if err != nil {
		return 0, err
	}
	var ticks int64
	for _, v := range f[11:13] { // utime and stime, the 14th and 15th fields
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%s/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// procStat returns the fields of /proc/<pid>/stat that follow the command
// name, which is in parentheses and may hold spaces: the process state
// first, the 3rd field of the file.
func procStat(pid string) ([]string, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%s/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return nil, fmt.Errorf("/proc/%s/stat: unexpected format", pid)
	}
	return f, nil
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// goBuild builds the package pkg of the module in dir into out.
func goBuild(dir, pkg, out string, env ...string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s in %s: %w\n%s", pkg, dir, err, buf.Bytes())
	}
	return nil
}

// moduleRoot returns the folder of the service's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the benchmark inside the service's module: go run ./bench")
	}
	return filepath.Dir(mod), nil
}
