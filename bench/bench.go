package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// bench is one run: its settings, the processes it started and what it
// measured.
type bench struct {
	config
	root, tmp   string
	began       time.Time
	dial        dialer
	load        load
	serviceBin  string
	profiledBin string

	children []*child
	rows     []row
	figures  []figure
	notes    []string
}

// row is one scenario measured against one target (a persistence, the
// ceiling or the Node service).
type row struct {
	scenario, target string
	r                result   // every round merged
	rounds           []result // each round on its own, in order
}

// figure is a single measured number outside the load table.
type figure struct {
	name  string
	value float64
	unit  string
}

// logf prints a progress line.
func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(b.began).Seconds(), fmt.Sprintf(format, args...))
}

// notef records something that did not work; the report repeats it.
func (b *bench) notef(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.notes = append(b.notes, msg)
	b.logf("NOTE: %s", msg)
}

// add records one run of a scenario, merged with its earlier rounds.
func (b *bench) add(scenario, target string, r result) {
	b.logf("  %-20s %-24s %7.0f req/s  p50 %-9v p99 %-9v CPU/req %-9v load CPU/req %-9v others' CPU %-7v failures %d", scenario, target, r.rps(),
		r.percentile(0.50).Round(time.Microsecond), r.percentile(0.99).Round(time.Microsecond),
		r.cpuPerRequest().Round(100*time.Nanosecond), r.loadCPUPerRequest().Round(100*time.Nanosecond), r.othersCPU, r.failures)
	for i := range b.rows {
		if b.rows[i].scenario == scenario && b.rows[i].target == target {
			b.rows[i].r = merge([]result{b.rows[i].r, r})
			b.rows[i].rounds = append(b.rows[i].rounds, r)
			return
		}
	}
	b.rows = append(b.rows, row{scenario, target, r, []result{r}})
}

func (b *bench) stopAll() {
	for i := len(b.children) - 1; i >= 0; i-- {
		b.children[i].stop()
	}
	b.children = nil
}

// stop ends one child the benchmark started.
func (b *bench) stop(c *child) {
	if err := c.stop(); err != nil {
		b.notef("stop %s: %v", c.name, err)
	}
	b.children = slices.DeleteFunc(b.children, func(x *child) bool { return x == c })
}

// startService starts bin with the repository's config/config.yml, the
// given template parameters and its log at warn, and waits for its
// heartbeat.
func (b *bench) startService(ctx context.Context, name, bin string, env ...string) (*child, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env = append(env, "HTTP_PORT="+port(addr), "LOG_LEVEL=warn")
	env = append(env, b.procsEnv()...)
	c, err := start(name, b.tmp, b.tmp, env, bin, "-c", filepath.Join(b.root, "config", "config.yml"))
	if err != nil {
		return nil, err
	}
	c.addr = addr
	b.children = append(b.children, c)
	if _, err := c.waitHTTP(ctx, "http://"+addr+"/heartbeat", time.Minute); err != nil {
		b.stop(c)
		return nil, err
	}
	return c, nil
}

// procsEnv sets the GOMAXPROCS of a Go server the benchmark starts, when
// -procs asks for one.
func (b *bench) procsEnv() []string {
	if b.procs <= 0 {
		return nil
	}
	return []string{"GOMAXPROCS=" + strconv.Itoa(b.procs)}
}
