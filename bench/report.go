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

// find returns the row of a scenario on a target.
func (b *bench) find(scenario, target string) (result, bool) {
	for _, r := range b.rows {
		if r.scenario == scenario && r.target == target {
			return r.r, true
		}
	}
	return result{}, false
}

func (b *bench) figure(name string) (float64, bool) {
	for _, f := range b.figures {
		if f.name == name {
			return f.value, true
		}
	}
	return 0, false
}

// checks computes every ratio of the run and its verdict.
func (b *bench) checks() []check {
	var out []check
	atLeast := func(name string, got, min float64) {
		out = append(out, check{name: name, got: got, unit: "×", want: fmt.Sprintf("≥ %.2f", min), passed: got >= min})
	}
	atMost := func(name string, got, max float64) {
		out = append(out, check{name: name, got: got, unit: "×", want: fmt.Sprintf("≤ %.2f", max), passed: got <= max})
	}
	reported := func(name string, got float64) {
		out = append(out, check{name: name, got: got, unit: "×"})
	}

	ceiling, hasCeiling := b.find(opOpen, partCeiling)
	if len(b.ceilingRuns) > 1 {
		first, last := b.ceilingRuns[0], b.ceilingRuns[len(b.ceilingRuns)-1]
		reported("ceiling drift: last run ÷ first run req/s", last.rps()/first.rps())
	}
	if hasCeiling {
		for _, r := range b.rows {
			if other, ok := strings.CutPrefix(r.target, partCeiling+" ("); ok {
				reported("ceiling req/s, "+strings.TrimSuffix(other, ")")+" ÷ "+b.client+" client", r.r.rps()/ceiling.rps())
			}
		}
		for _, op := range []string{opOpen, opGetByID, opRenew, opGetSessions} {
			if m, ok := b.find(op, partMemory); ok {
				atLeast("memory "+op+" req/s ÷ ceiling", m.rps()/ceiling.rps(), 0.5)
				atMost("memory "+op+" p99 ÷ ceiling p99", ratio(m.percentile(0.99), ceiling.percentile(0.99)), 2)
			}
		}
		for _, op := range []string{opQuotaOpen, opEvictOpen} {
			if m, ok := b.find(op, partMemory); ok {
				reported("memory "+op+" req/s ÷ ceiling", m.rps()/ceiling.rps())
			}
		}
	}
	if open, ok := b.find(opOpen, partMemory); ok {
		if q, ok := b.find(opQuotaOpen, partMemory); ok {
			atLeast("memory quota_open_session ÷ open_session req/s", q.rps()/open.rps(), 0.5)
		}
		if q, ok := b.find(opEvictOpen, partMemory); ok {
			atLeast("memory evict_open_session ÷ open_session req/s", q.rps()/open.rps(), 0.5)
		}
	}
	for _, op := range allOps {
		m, ok := b.find(op, partMemory)
		if !ok {
			continue
		}
		if f, ok := b.find(op, partFile); ok {
			atLeast("file "+op+" req/s ÷ memory", f.rps()/m.rps(), 0.5)
		}
		if g, ok := b.find(op, partMongo); ok {
			reported("mongodb "+op+" req/s ÷ memory", g.rps()/m.rps())
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
		atLeast("memory "+op+" req/s ÷ node", m.rps()/n.rps(), want)
		if op == opOpen && hasCeiling {
			// What the stack itself reaches against Node: an open_session
			// that stores a session cannot cost less than the bare handler.
			reported("ceiling req/s ÷ node open_session", ceiling.rps()/n.rps())
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
			vsRPS = fmt.Sprintf("%.2f", r.r.rps()/ceiling.rps())
			vsP99 = fmt.Sprintf("%.2f", ratio(r.r.percentile(0.99), ceiling.percentile(0.99)))
			vsCPU = fmt.Sprintf("%.2f", ratio(r.r.cpuPerRequest(), ceiling.cpuPerRequest()))
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
		fmt.Fprintln(tw, "ratio or figure\tmeasured\ttarget\tverdict")
		for _, c := range checks {
			fmt.Fprintf(tw, "%s\t%.2f %s\t%s\t%s\n", c.name, c.got, c.unit, c.want, c.verdict())
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
