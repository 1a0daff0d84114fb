package logging

import (
	"testing"
	"time"
)

func TestCommandDoneCountsCallsTimeAndErrorsUnderPipNames(t *testing.T) {
	c := NewCounters()
	c.CommandDone("v1/sessions", "open_session", 2*time.Millisecond, 200)
	c.CommandDone("v1/sessions", "open_session", 4*time.Millisecond, 500)

	calls, timing := c.get("v1.sessions.open_session.exec_count"), c.get("v1.sessions.open_session.exec_time")
	if calls.count.Load() != 2 || timing.count.Load() != 2 ||
		time.Duration(timing.total.Load()) != 6*time.Millisecond || time.Duration(timing.max.Load()) != 4*time.Millisecond {
		t.Errorf("got %d calls, %d timings totalling %v, max %v; want 2, 2, 6ms, 4ms",
			calls.count.Load(), timing.count.Load(), time.Duration(timing.total.Load()), time.Duration(timing.max.Load()))
	}
	if n := c.get("v1.sessions.open_session.exec_errors").count.Load(); n != 1 {
		t.Errorf("errors: got %d; want 1", n)
	}
	c.mu.RLock()
	_, early := c.stats["v1.homes.set_home.exec_errors"]
	c.mu.RUnlock()
	c.CommandDone("v1/homes", "set_home", time.Millisecond, 200)
	c.mu.RLock()
	_, after := c.stats["v1.homes.set_home.exec_errors"]
	c.mu.RUnlock()
	if early || after {
		t.Error("an error counter exists before the first error; want none until then")
	}
}

func TestRequestRefusedCountsByStatus(t *testing.T) {
	c := NewCounters()
	c.RequestRefused(401)
	c.RequestRefused(401)
	c.RequestRefused(415)
	if a, b := c.get("http.refused.401").count.Load(), c.get("http.refused.415").count.Load(); a != 2 || b != 1 {
		t.Errorf("http.refused.401, .415: got %d, %d; want 2, 1", a, b)
	}
}
