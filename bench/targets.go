package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// target is a server under load: the ceiling, or a service preloaded with
// sessions.
type target struct {
	name string
	proc *child
	load load
	// ceiling is set for the bare handler, which takes only the
	// open_session load.
	ceiling bool
	fixture *fixture
	ops     []string        // the scenarios it runs
	ready   map[string]bool // the scenarios set up
	// pprofAddr is the pprof endpoint of a profiled service.
	pprofAddr string
	profiled  bool
}

// startCeiling runs this program again as the bare chi handler; with
// other set, the target loads it through the other kind of client.
func (b *bench) startCeiling(ctx context.Context) ([]*target, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	c, err := start("ceiling", b.tmp, b.tmp, b.procsEnv(), self, "-serve-ceiling", addr)
	if err != nil {
		return nil, err
	}
	c.addr = addr
	b.children = append(b.children, c)
	if _, err := c.waitHTTP(ctx, "http://"+addr+"/heartbeat", time.Minute); err != nil {
		return nil, err
	}
	other := map[string]string{"loop": "raw", "raw": "nethttp", "nethttp": "raw"}[b.client]
	dial, err := newDialer(other, b.conns)
	if err != nil {
		return nil, err
	}
	l := b.load
	l.dial, l.loop = dial, false
	return []*target{
		{name: partCeiling, proc: c, load: b.load, ceiling: true},
		{name: partCeiling + " (" + other + " client)", proc: c, load: l, ceiling: true},
	}, nil
}

// startPersistence starts the service on one persistence and preloads it.
func (b *bench) startPersistence(ctx context.Context, name string, sessions int, env ...string) (*target, error) {
	bin := b.serviceBin
	var pprofAddr string
	if name == b.profileOn && b.profiledBin != "" {
		var err error
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
		bin = b.profiledBin
		env = append(env, "PPROF_ADDR="+pprofAddr)
		b.logf("%s: the service runs with a pprof endpoint for -cpuprofile/-heapprofile", name)
	}
	b.logf("%s: starting the service", name)
	svc, err := b.startService(ctx, "service-"+name, bin, env...)
	if err != nil {
		return nil, err
	}
	t := &target{name: name, proc: svc, load: b.load, ops: b.ops, pprofAddr: pprofAddr}
	if err := b.preload(ctx, t, sessions); err != nil {
		return nil, err
	}
	if pprofAddr != "" && b.heapProfile != "" {
		if err := fetchProfile(ctx, pprofAddr, "heap?gc=1", b.heapProfile); err != nil {
			b.notef("heap profile: %v", err)
		} else {
			b.logf("%s: heap profile written to %s", name, b.heapProfile)
		}
	}
	return t, nil
}

func (b *bench) preload(ctx context.Context, t *target, n int) error {
	b.logf("%s: preloading %d sessions", t.name, n)
	t0 := time.Now()
	f, err := preload(ctx, b.dial, t.proc.addr, n)
	if err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	took := time.Since(t0)
	b.logf("%s: preloaded in %v (%.0f opens/s on 16 connections)", t.name, took.Round(time.Millisecond), float64(n)/took.Seconds())
	t.fixture, t.ready = f, map[string]bool{}
	return nil
}

// measure runs every scenario against every target in rounds, each
// scenario for duration/rounds per round; a round starts with the
// ceilings. Interleaving keeps the ratios fair when the shared machine
// drifts: each target meets the same slowdowns.
func (b *bench) measure(ctx context.Context, targets []*target, rounds int) error {
	for round := range rounds {
		if rounds > 1 {
			b.logf("round %d of %d", round+1, rounds)
		}
		for _, t := range targets {
			if !t.ceiling {
				continue
			}
			r, err := b.run(ctx, t, others(targets, t), ceilingOp, rounds, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			b.add(opOpen, t.name, r)
		}
		for _, op := range b.ops {
			for _, t := range targets {
				if t.ceiling || !slices.Contains(t.ops, op) {
					continue
				}
				if !t.ready[op] {
					if err := t.fixture.setUp(ctx, b.dial, t.proc.addr, op); err != nil {
						return fmt.Errorf("%s: set up %s: %w", t.name, op, err)
					}
					t.ready[op] = true
				}
				var onMeasure func()
				var profiling sync.WaitGroup
				if t.pprofAddr != "" && b.cpuProfile != "" && op == b.profileOp && !t.profiled {
					t.profiled = true
					secs := int(math.Max(1, math.Floor((b.duration / time.Duration(rounds)).Seconds())))
					onMeasure = func() {
						profiling.Go(func() {
							if err := fetchProfile(ctx, t.pprofAddr, fmt.Sprintf("profile?seconds=%d", secs), b.cpuProfile); err != nil {
								b.notef("cpu profile: %v", err)
							} else {
								b.logf("%s: CPU profile of %s written to %s", t.name, op, b.cpuProfile)
							}
						})
					}
				}
				r, err := b.run(ctx, t, others(targets, t), t.fixture.scenario(op), rounds, onMeasure)
				profiling.Wait()
				if err != nil {
					return fmt.Errorf("%s: %w", t.name, err)
				}
				b.add(op, t.name, r)
			}
		}
	}
	return nil
}

// others returns the processes of every target but t.
func others(targets []*target, t *target) []*child {
	var out []*child
	for _, o := range targets {
		if o != t && o.proc != t.proc {
			out = append(out, o.proc)
		}
	}
	return out
}

// run measures one op against a target for one round, and the CPU time
// the target's process used while measured. It first waits for the other
// processes to go quiet, then stops them until the round is over: work a
// service defers (Node's collector, a file store's compaction) then runs
// after the round, in the next wait for quiet, and never on another
// service's cores while that one is measured.
func (b *bench) run(ctx context.Context, t *target, others []*child, o op, rounds int, onMeasure func()) (result, error) {
	if err := b.quiet(ctx, others); err != nil {
		return result{}, err
	}
	thaw := freeze(others)
	defer thaw()
	l := t.load
	l.duration = b.duration / time.Duration(rounds)
	type cpuTimes struct {
		server, load time.Duration
		others       []time.Duration // by process of others
	}
	started := make(chan cpuTimes, 1)
	r, err := l.run(ctx, t.proc.addr, o, func() {
		var at cpuTimes
		at.server, _ = t.proc.cpuTime() // 0 when unknown: the figure is left out
		at.load, _ = ownCPU()
		at.others = cpuEach(others)
		if onMeasure != nil {
			onMeasure()
		}
		// Sent last: receiving it orders onMeasure before run returns.
		started <- at
	})
	if err != nil {
		return r, err
	}
	at := <-started
	if cpu, err := t.proc.cpuTime(); err == nil && at.server > 0 {
		r.cpu = cpu - at.server
	}
	if cpu, err := ownCPU(); err == nil && at.load > 0 {
		r.loadCPU = cpu - at.load
	}
	var busy []string
	for i, cpu := range cpuEach(others) {
		if used := cpu - at.others[i]; used > 0 {
			r.othersCPU += used
			busy = append(busy, fmt.Sprintf("%s %v", others[i].name, used))
		}
	}
	if r.othersCPU > r.elapsed/50 {
		b.notef("%s on %s: other services used CPU while it was measured for %v: %s",
			o.name, t.name, r.elapsed.Round(time.Millisecond), strings.Join(busy, ", "))
	}
	return r, nil
}

// fetchProfile saves a pprof profile of the profiled service to file.
func fetchProfile(ctx context.Context, addr, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/"+path, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, res.Status)
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, res.Body); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// mongo builds and starts the FerretDB test server, then the service over
// it.
func (b *bench) mongo(ctx context.Context) (*target, error) {
	b.logf("mongodb: building the FerretDB test server (test/ferretdb)")
	bin := filepath.Join(b.tmp, "ferretdb")
	// The test server is a module of its own: keep workspaces and the
	// caller's flags away from it, as the tests do.
	if err := goBuild(filepath.Join(b.root, "test", "ferretdb"), ".", bin,
		"GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false"); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	db, err := start("ferretdb", b.tmp, b.tmp, nil, bin, "-listen", addr, "-dir", filepath.Join(b.tmp, "ferretdb-data"))
	if err != nil {
		return nil, err
	}
	db.addr = addr
	b.children = append(b.children, db)
	if err := db.waitTCP(ctx, time.Minute); err != nil {
		return nil, err
	}
	t, err := b.startPersistence(ctx, partMongo, b.mongoSessions,
		"MONGO_ENABLED=true", "MONGO_SERVICE_URI=mongodb://"+addr+"/sessions_bench")
	if err != nil {
		return nil, err
	}
	// The test server answers the query of an account's sessions, which
	// set_home and every open in a home make, by decoding the whole
	// collection: about a second each at 10 000 sessions. Sixteen at once
	// outlast the service's operation timeout, and thousands of homes would
	// take an hour, so the quota scenarios get a few homes, set up on two
	// connections.
	t.fixture.quotaHomes = min(t.fixture.quotaHomes, mongoHomes)
	t.fixture.evictHomes = min(t.fixture.evictHomes, mongoHomes)
	t.fixture.setUpConns = 2
	return t, nil
}

// mongoHomes bounds the homes of each quota scenario on the test server.
const mongoHomes = 32

// nodeOps are the scenarios run against the Node reference.
var nodeOps = []string{opGetByID, opGetSessions, opOpen}

// node installs the Node reference service into the user cache folder
// (once), starts it on memory persistence and preloads it. It returns nil
// when node or npm is missing or the install fails.
func (b *bench) node(ctx context.Context) (*target, error) {
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		b.notef("node: not on PATH; the Node reference is not measured")
		return nil, nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		b.notef("node: npm not on PATH; the Node reference is not measured")
		return nil, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "service-sessions-bench", "node")
	pkg := filepath.Join(dir, "node_modules", "service-sessions-node")
	mainJS := filepath.Join(pkg, "bin", "main.js")
	if _, err := os.Stat(mainJS); err != nil {
		b.logf("node: npm install service-sessions-node into %s", dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "service-sessions-node@1.1")
		if out, err := cmd.CombinedOutput(); err != nil {
			if len(out) > 1000 {
				out = out[len(out)-1000:]
			}
			b.notef("node: npm install failed (%v); the Node reference is not measured:\n%s", err, out)
			return nil, nil
		}
	}
	// The package's own config, its log level lowered from trace to warn:
	// ours runs at warn too, and a line per request would measure the
	// console rather than the service.
	cfg, err := os.ReadFile(filepath.Join(pkg, "config", "config.yml"))
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(b.tmp, "node-config.yml")
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(string(cfg), `level: "trace"`, `level: "warn"`)), 0o644); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env := []string{"HTTP_ENABLED=true", "MEMORY_ENABLED=true", "HTTP_PORT=" + port(addr)}
	b.logf("node: starting the Node reference service")
	svc, err := start("service-node", pkg, b.tmp, env, nodeBin, mainJS, "-c", cfgPath)
	if err != nil {
		return nil, err
	}
	svc.addr = addr
	b.children = append(b.children, svc)
	if _, err := svc.waitHTTP(ctx, "http://"+addr+"/heartbeat", time.Minute); err != nil {
		return nil, err
	}
	t := &target{name: partNode, proc: svc, load: b.load, ops: nodeOps}
	if err := b.preload(ctx, t, b.sessions); err != nil {
		return nil, err
	}
	return t, nil
}

// cpuEach returns the CPU time each process has used, 0 for one whose
// time cannot be read.
func cpuEach(procs []*child) []time.Duration {
	out := make([]time.Duration, len(procs))
	for i, c := range procs {
		out[i], _ = c.cpuTime()
	}
	return out
}

// cpuOf returns the CPU time the processes have used together.
func cpuOf(procs []*child) time.Duration {
	var sum time.Duration
	for _, cpu := range cpuEach(procs) {
		sum += cpu
	}
	return sum
}

// Quiet is other processes using at most quietCPU of CPU time in
// quietPeriod (one clock tick in a quarter second); the benchmark waits at
// most quietWait for it.
const (
	quietCPU    = 10 * time.Millisecond
	quietPeriod = 250 * time.Millisecond
	quietWait   = 20 * time.Second
)

// quiet waits until the processes have gone quiet: a service may still be
// busy with what its own scenario left behind (a file store folding its
// journal into a snapshot, Node's collector), and that work would
// otherwise be charged to the next measurement, on the same two cores.
func (b *bench) quiet(ctx context.Context, procs []*child) error {
	deadline := time.Now().Add(quietWait)
	last := cpuOf(procs)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(quietPeriod):
		}
		now := cpuOf(procs)
		if now-last <= quietCPU {
			return nil
		}
		if time.Now().After(deadline) {
			b.notef("other services were still busy after %v: %v of CPU in the last %v", quietWait, now-last, quietPeriod)
			return nil
		}
		last = now
	}
}
