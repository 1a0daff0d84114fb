package main

import (
	"strconv"
	"testing"
	"time"
)

func TestFreezeStopsAndThawContinues(t *testing.T) {
	c, err := start("sleeper", t.TempDir(), t.TempDir(), nil, "sleep", "30")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	thaw := freeze([]*child{c})
	waitState(t, c, "T")
	thaw()
	waitState(t, c, "S")
}

// waitState waits up to a second for the process to reach state, the
// letter /proc/<pid>/stat shows (T stopped, S sleeping).
func waitState(t *testing.T, c *child, want string) {
	t.Helper()
	var got string
	for range 100 {
		f, err := procStat(strconv.Itoa(c.cmd.Process.Pid))
		if err != nil {
			t.Fatal(err)
		}
		if got = f[0]; got == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("state: got %q; want %q", got, want)
}
