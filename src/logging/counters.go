package logging

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sessionsd/service-sessions-go/src/container"
)

// Counters is the pip-services:counters:log component: it accumulates call
// counts and timings and writes them to the log every interval and at close.
type Counters struct {
	interval time.Duration
	log      *zap.Logger

	mu    sync.RWMutex
	stats map[string]*stat
	cmds  sync.Map // commandKey → *commandStats, so a call builds no names

	stop chan struct{}
	done chan struct{}
}

type stat struct {
	count atomic.Int64
	total atomic.Int64 // nanoseconds, for timings
	max   atomic.Int64
}

// DefaultInterval is how often the counters are written to the log.
const DefaultInterval = 5 * time.Minute

// NewCounters returns log counters that dump every DefaultInterval.
func NewCounters() *Counters {
	return &Counters{interval: DefaultInterval, log: zap.NewNop(), stats: map[string]*stat{}}
}

// Configure reads interval (ms).
func (c *Counters) Configure(cfg container.Config) error {
	var err error
	c.interval, err = cfg.Millis("interval", DefaultInterval)
	return err
}

// SetReferences finds the logger.
func (c *Counters) SetReferences(refs *container.References) error {
	c.log = For(refs, "counters")
	return nil
}

// Open starts the periodic dump.
func (c *Counters) Open(context.Context) error {
	if c.interval <= 0 {
		return nil
	}
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(c.done)
		t := time.NewTicker(c.interval)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				c.Dump()
			}
		}
	}()
	return nil
}

// Close stops the dump and writes the counters one last time.
func (c *Counters) Close(context.Context) error {
	if c.stop != nil {
		close(c.stop)
		<-c.done
		c.stop = nil
	}
	c.Dump()
	return nil
}

func (c *Counters) get(name string) *stat {
	c.mu.RLock()
	s := c.stats[name]
	c.mu.RUnlock()
	if s != nil {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s = c.stats[name]; s == nil {
		s = &stat{}
		c.stats[name] = s
	}
	return s
}

// Increment adds n to a counter.
func (c *Counters) Increment(name string, n int64) { c.get(name).count.Add(n) }

func (s *stat) observe(d time.Duration) {
	s.count.Add(1)
	s.total.Add(int64(d))
	for {
		m := s.max.Load()
		if int64(d) <= m || s.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

type commandKey struct{ route, command string }

type commandStats struct {
	calls, time *stat
	errors      string // created at the first error, so no zero line is logged before
}

// RequestRefused counts one request the HTTP endpoint refused before any
// command as http.refused.<status>.
func (c *Counters) RequestRefused(status int) {
	c.Increment("http.refused."+strconv.Itoa(status), 1)
}

// CommandDone counts one call of a command as <route>.<command>.exec_count,
// its duration as .exec_time and an error answered as .exec_errors, the slashes of
// the route turned to dots: v1.sessions.open_session.exec_count.
func (c *Counters) CommandDone(route, command string, d time.Duration, status int) {
	key := commandKey{route, command}
	v, ok := c.cmds.Load(key)
	if !ok {
		name := strings.ReplaceAll(route, "/", ".") + "." + command
		v, _ = c.cmds.LoadOrStore(key, &commandStats{
			calls: c.get(name + ".exec_count"), time: c.get(name + ".exec_time"), errors: name + ".exec_errors"})
	}
	s := v.(*commandStats)
	s.calls.count.Add(1)
	s.time.observe(d)
	if status >= 400 {
		c.Increment(s.errors, 1)
	}
}

// Dump writes every counter to the log, one line each, sorted by name.
func (c *Counters) Dump() {
	c.mu.RLock()
	names := make([]string, 0, len(c.stats))
	for n := range c.stats {
		names = append(names, n)
	}
	c.mu.RUnlock()
	sort.Strings(names)
	for _, n := range names {
		s := c.get(n)
		fields := []zap.Field{zap.String("counter", n), zap.Int64("count", s.count.Load())}
		if total := s.total.Load(); total > 0 {
			fields = append(fields, zap.Duration("average", time.Duration(total/max(s.count.Load(), 1))),
				zap.Duration("max", time.Duration(s.max.Load())))
		}
		c.log.Info("counter", fields...)
	}
}
