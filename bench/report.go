package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Names of the figures the targets read.
const (
	figRSSPerSession = "resident memory per stored session"
	figRestart       = "restart: start to first heartbeat"
)

// check is one ratio or figure held against its target of SPEC §9; a
// check without a target is reported only.
type check struct {
	name   string
	got    float64
	unit   string
	want   string // "≥ 0.50", "" when there is no target
	passed bool
	// lo and hi are the lowest and highest value of the ratio round by
	// round, when both sides were measured in the same rounds.
	lo, hi float64
	spread bool
}

func (c check) verdict() string {
	switch {
	case c.want == "":
		return "-"
	case c.passed:
		return "PASS"
	}
	return "MISS"
}

// rounds shows the ratio's lowest and highest round, "" when it has none.
func (c check) rounds() string {
	if !c.spread {
		return ""
	}
	return fmt.Sprintf("%.2f–%.2f", c.lo, c.hi)
}

// find returns the row of a scenario on a target.
func (b *bench) find(scenario, target string) (row, bool) {
	for _, r := range b.rows {
		if r.scenario == scenario && r.target == target {
			return r, true
		}
	}
	return row{}, false
}

func (b *bench) figure(name string) (float64, bool) {
	for _, f := range b.figures {
		if f.name == name {
			return f.value, true
		}
	}
	return 0, false
}

// A ratio compares what two rows measured.
type ratioOf func(a, b result) float64

func rpsRatio(a, b result) float64 { return a.rps() / b.rps() }
func p99Ratio(a, b result) float64 { return ratio(a.percentile(0.99), b.percentile(0.99)) }

// compare is the check of f over every round of a and b, with the range of
// its rounds when the two were measured in the same rounds.
func compare(name string, a, b row, f ratioOf) check {
	c := check{name: name, got: f(a.r, b.r), unit: "×"}
	if len(a.rounds) < 2 || len(a.rounds) != len(b.rounds) {
		return c
	}
	c.spread = true
	for i := range a.rounds {
		v := f(a.rounds[i], b.rounds[i])
		if i == 0 || v < c.lo {
			c.lo = v
		}
		if i == 0 || v > c.hi {
			c.hi = v
		}
	}
	return c
}

// checks computes every ratio of the run and its verdict.
func (b *bench) checks() []check {
	var out []check
	atLeast := func(c check, min float64) {
		c.want, c.passed = fmt.Sprintf("≥ %.2f", min), c.got >= min
		out = append(out, c)
	}
	atMost := func(c check, max float64) {
		c.want, c.passed = fmt.Sprintf("≤ %.2f", max), c.got <= max
		out = append(out, c)
	}
	reported := func(c check) { out = append(out, c) }

	ceiling, hasCeiling := b.find(opOpen, partCeiling)
	if n := len(ceiling.rounds); n > 1 {
		reported(check{name: "ceiling drift: last run ÷ first run req/s", got: rpsRatio(ceiling.rounds[n-1], ceiling.rounds[0]), unit: "×"})
	}
	if hasCeiling {
		for _, r := range b.rows {
			if other, ok := strings.CutPrefix(r.target, partCeiling+" ("); ok {
				reported(compare("ceiling req/s, "+strings.TrimSuffix(other, ")")+" ÷ "+b.client+" client", r, ceiling, rpsRatio))
			}
		}
		for _, op := range []string{opOpen, opGetByID, opRenew, opGetSessions} {
			if m, ok := b.find(op, partMemory); ok {
				atLeast(compare("memory "+op+" req/s ÷ ceiling", m, ceiling, rpsRatio), 0.5)
				atMost(compare("memory "+op+" p99 ÷ ceiling p99", m, ceiling, p99Ratio), 2)
			}
		}
		for _, op := range []string{opQuotaOpen, opEvictOpen} {
			if m, ok := b.find(op, partMemory); ok {
				reported(compare("memory "+op+" req/s ÷ ceiling", m, ceiling, rpsRatio))
			}
		}
	}
	if open, ok := b.find(opOpen, partMemory); ok {
		if q, ok := b.find(opQuotaOpen, partMemory); ok {
			atLeast(compare("memory quota_open_session ÷ open_session req/s", q, open, rpsRatio), 0.5)
		}
		if q, ok := b.find(opEvictOpen, partMemory); ok {
			atLeast(compare("memory evict_open_session ÷ open_session req/s", q, open, rpsRatio), 0.5)
		}
	}
	for _, op := range allOps {
		m, ok := b.find(op, partMemory)
		if !ok {
			continue
		}
		if f, ok := b.find(op, partFile); ok {
			atLeast(compare("file "+op+" req/s ÷ memory", f, m, rpsRatio), 0.5)
		}
		if g, ok := b.find(op, partMongo); ok {
			reported(compare("mongodb "+op+" req/s ÷ memory", g, m, rpsRatio))
		}
	}
	for _, op := range nodeOps {
		m, ok := b.find(op, partMemory)
		n, ok2 := b.find(op, partNode)
		if !ok || !ok2 {
			continue
		}
		want := 20.0
		if op == opOpen {
			want = 10
		}
		atLeast(compare("memory "+op+" req/s ÷ node", m, n, rpsRatio), want)
		if op == opOpen && hasCeiling {
			// What the stack itself reaches against Node: an open_session
			// that stores a session cannot cost less than the bare handler.
			reported(compare("ceiling req/s ÷ node open_session", ceiling, n, rpsRatio))
		}
	}
	if v, ok := b.figure(figRSSPerSession); ok {
		out = append(out, check{name: figRSSPerSession, got: v, unit: "B", want: "≤ 1024", passed: v <= 1024})
	}
	if v, ok := b.figure(figRestart); ok {
		name := fmt.Sprintf("restart with %d sessions", b.restartSessions)
		out = append(out, check{name: name, got: v, unit: "s", want: "< 5", passed: v < 5})
	}
	return out
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// report prints the table of scenarios, the other figures, the ratios with
// their verdicts and the notes.
func (b *bench) report(w io.Writer) {
	fmt.Fprintf(w, "\nsessions benchmark: %d connections, %v measured after %v warm-up, %s client; %d sessions preloaded (%d on mongodb)\n\n",
		b.conns, b.duration, b.warmup, b.client, b.sessions, b.mongoSessions)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\ttarget\treq/s\tp50\tp99\tfailures\tCPU/req\tload CPU/req\treq/s ÷ ceiling\tp99 ÷ ceiling\tCPU/req ÷ ceiling\t")
	ceiling, hasCeiling := b.find(opOpen, partCeiling)
	for _, r := range b.rows {
		vsRPS, vsP99, vsCPU := "", "", ""
		if hasCeiling {
			vsRPS = fmt.Sprintf("%.2f", rpsRatio(r.r, ceiling.r))
			vsP99 = fmt.Sprintf("%.2f", p99Ratio(r.r, ceiling.r))
			vsCPU = fmt.Sprintf("%.2f", ratio(r.r.cpuPerRequest(), ceiling.r.cpuPerRequest()))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", r.scenario, r.target, r.r.rps(),
			ms(r.r.percentile(0.50)), ms(r.r.percentile(0.99)), r.r.failures, us(r.r.cpuPerRequest()), us(r.r.loadCPUPerRequest()),
			vsRPS, vsP99, vsCPU)
	}
	tw.Flush()

	if len(b.figures) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, f := range b.figures {
			fmt.Fprintf(tw, "%s\t%.2f %s\n", f.name, f.value, f.unit)
		}
		tw.Flush()
	}

	if checks := b.checks(); len(checks) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ratio or figure\tmeasured\ttarget\tverdict\tlowest–highest round")
		for _, c := range checks {
			fmt.Fprintf(tw, "%s\t%.2f %s\t%s\t%s\t%s\n", c.name, c.got, c.unit, c.want, c.verdict(), c.rounds())
		}
		tw.Flush()
	}
	if len(b.notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range b.notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
}

// us formats a CPU time per request in microseconds.
func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond)) }

// ms formats a latency in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }
