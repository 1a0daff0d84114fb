// Command bench measures the sessions service the way SPEC §9 states its
// targets: on this machine, load generator and service side by side, as
// ratios of figures taken in one run. It is not a test; nothing in CI runs it.
//
//	go run ./bench                     # everything, about 5 minutes
//	go run ./bench -run ceiling,memory -ops open_session,get_session_by_id -duration 3s
//
// It builds the service (go build ./bin) and runs it as a child process on
// a free loopback port, once per persistence: memory, file (in a temporary
// folder) and MongoDB (the FerretDB test server of test/ferretdb, built and
// started on SQLite in a temporary folder). Each service is first loaded
// through its API with -sessions sessions (100 000, 4 per user; MongoDB
// gets -mongo-sessions, 1 000, as the test server is slow); then each
// scenario runs for a warm-up and a measured -duration:
//
//	get_session_by_id    a random preloaded id
//	renew_session        a random preloaded id
//	get_sessions         filter user_id of a random preloaded user (4 sessions)
//	open_session         a random user of its own (open-0 …), small user and
//	                     data payloads; the preloaded users keep 4 sessions
//	quota_open_session   opens for as many other users, each given a home of
//	                     1000 places (evict_oldest): every open is counted
//	evict_open_session   opens for 1000 homes of 4 places, all full: every
//	                     open evicts the least recently renewed session
//
// The load comes from -conns (8) keep-alive connections, each sending its
// next request when the last is answered. By default (-client loop, on
// Linux) one thread drives them all through its own epoll set, writes the
// requests by hand and parses the answers in place, allocating nothing;
// -client raw does the same with one goroutine per connection, and
// -client nethttp goes through net/http's client. The less CPU the load
// generator takes, the more of the shared cores the server gets; the
// ceiling is measured with two clients so the difference shows. Every
// latency of the measured period is kept; the table gives requests/s, p50,
// p99 and the CPU time per request of the server and of the load
// generator, read from /proc, which drifts far less than requests/s on a
// shared machine.
//
// The ceiling of the stack is this program run again as a bare chi handler
// that decodes an open_session body and encodes a session with
// encoding/json, storing nothing, under the open_session load. The ceiling,
// memory and file services and the Node reference run side by side and are
// measured in -rounds interleaved rounds (each scenario for duration/rounds
// per round), so a slowdown of the shared machine hits all of them alike;
// MongoDB is measured afterwards. Beside the scenarios it measures:
//
//   - resident memory per session: VmRSS of a fresh memory service after a
//     warm-up and again after 100 000 more opens, each read after the
//     service has been idle for -settle;
//   - restart time: a file store of 1 000 000 sessions is written in process
//     through the file persistence and closed (as a clean stop leaves it),
//     then the time from starting the service to its first answered
//     GET /heartbeat;
//   - the Node reference service (npm service-sessions-node, memory
//     persistence) under the same loads, when node and npm are on PATH; it is
//     installed once into the user cache folder and started with its own
//     config.yml, its log level lowered from trace to warn as ours runs.
//
// -cpuprofile writes a CPU profile of the service on the -profile-on
// persistence (memory) during the scenario named by -profile; -heapprofile
// writes its heap profile after the preload. For them that service is built
// from bench/profiled: the same service with net/http/pprof on another
// port.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The parts of a run, in order.
const (
	partCeiling = "ceiling"
	partMemory  = "memory"
	partFile    = "file"
	partMongo   = "mongodb"
	partRSS     = "rss"
	partRestart = "restart"
	partNode    = "node"
)

var allParts = []string{partCeiling, partMemory, partFile, partMongo, partRSS, partRestart, partNode}

// config is the command line.
type config struct {
	duration, warmup, settle time.Duration
	conns, rounds, procs     int
	sessions, mongoSessions  int
	restartSessions          int
	client                   string
	parts, ops               []string
	cpuProfile, profileOp    string
	profileOn                string
	heapProfile              string
	keep                     bool
}

func main() {
	var (
		c            config
		parts, ops   string
		serveCeiling string
	)
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "measured `time` of each scenario")
	flag.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured `time` before each scenario")
	flag.DurationVar(&c.settle, "settle", 5*time.Second, "idle `time` before each resident memory reading")
	flag.IntVar(&c.conns, "conns", 8, "concurrent keep-alive connections")
	flag.IntVar(&c.procs, "procs", 1, "GOMAXPROCS of the ceiling and the Go services; 0 leaves Go's default, one per core")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds the ceiling, memory and file scenarios are interleaved in")
	flag.IntVar(&c.sessions, "sessions", 100_000, "sessions stored before the scenarios")
	flag.IntVar(&c.mongoSessions, "mongo-sessions", 1_000, "sessions stored before the scenarios on MongoDB (the test server is slow)")
	flag.IntVar(&c.restartSessions, "restart-sessions", 1_000_000, "sessions in the file store of the restart test")
	flag.StringVar(&c.client, "client", defaultClient, "load generator client: loop, raw or nethttp")
	flag.StringVar(&parts, "run", strings.Join(allParts, ","), "`parts` to run, comma-separated")
	flag.StringVar(&ops, "ops", strings.Join(allOps, ","), "`scenarios` to run, comma-separated")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the -profile-on service during -profile to `file`")
	flag.StringVar(&c.profileOp, "profile", opOpen, "`scenario` that -cpuprofile profiles")
	flag.StringVar(&c.profileOn, "profile-on", partMemory, "`persistence` whose service -cpuprofile and -heapprofile profile")
	flag.StringVar(&c.heapProfile, "heapprofile", "", "write a heap profile of the -profile-on service after the preload to `file`")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary folder (binaries, logs, stores)")
	flag.StringVar(&serveCeiling, "serve-ceiling", "", "internal: serve the ceiling handler on `addr`")
	flag.Parse()

	if serveCeiling != "" {
		if err := runCeiling(serveCeiling); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			os.Exit(1)
		}
		return
	}
	var err error
	if c.parts, err = list(parts, allParts); err == nil {
		c.ops, err = list(ops, allOps)
	}
	if err == nil && (c.rounds < 1 || c.conns < 1) {
		err = fmt.Errorf("-rounds and -conns must be at least 1")
	}
	if err == nil && !slices.Contains([]string{partMemory, partFile, partMongo}, c.profileOn) {
		err = fmt.Errorf("-profile-on %q: want memory, file or mongodb", c.profileOn)
	}
	if err == nil && !slices.Contains(allOps, c.profileOp) {
		err = fmt.Errorf("-profile %q: want one of %s", c.profileOp, strings.Join(allOps, ", "))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, c)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runCeiling serves the ceiling until the benchmark stops it.
func runCeiling(addr string) error {
	errs := make(chan error, 1)
	go func() { errs <- serveCeiling(addr) }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
		return nil
	}
}

// list parses a comma-separated subset of all.
func list(s string, all []string) ([]string, error) {
	var out []string
	for _, v := range strings.Split(s, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if !slices.Contains(all, v) {
			return nil, fmt.Errorf("unknown %q: want some of %s", v, strings.Join(all, ","))
		}
		out = append(out, v)
	}
	return out, nil
}

func run(ctx context.Context, c config) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "sessions-bench-")
	if err != nil {
		return err
	}
	b := &bench{config: c, root: root, tmp: tmp, began: time.Now()}
	defer func() {
		b.stopAll()
		if c.keep {
			b.logf("kept %s", tmp)
		} else {
			os.RemoveAll(tmp)
		}
	}()
	if b.dial, err = newDialer(c.client, c.conns); err != nil {
		return err
	}
	b.load = load{conns: c.conns, dial: b.dial, loop: c.client == "loop", warmup: c.warmup, duration: c.duration}

	b.logf("building the service")
	b.serviceBin = filepath.Join(tmp, "service")
	if err := goBuild(root, "./bin", b.serviceBin); err != nil {
		return err
	}
	if c.cpuProfile != "" || c.heapProfile != "" {
		b.profiledBin = filepath.Join(tmp, "service-profiled")
		if err := goBuild(root, "./bench/profiled", b.profiledBin); err != nil {
			return err
		}
	}
	// The ceiling, memory, file and Node are measured together, in rounds.
	var together []*target
	for _, part := range c.parts {
		var err error
		switch part {
		case partCeiling:
			var ts []*target
			ts, err = b.startCeiling(ctx)
			together = append(together, ts...)
		case partMemory, partFile:
			env := []string{"MEMORY_ENABLED=true"}
			if part == partFile {
				env = []string{"FILE_ENABLED=true", "FILE_PATH=" + filepath.Join(tmp, "file", "sessions.json")}
			}
			var t *target
			if t, err = b.startPersistence(ctx, part, c.sessions, env...); err == nil {
				together = append(together, t)
			}
		case partNode:
			var t *target
			if t, err = b.node(ctx); t != nil {
				together = append(together, t)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			b.notef("%s: %v", part, err)
		}
	}
	if len(together) > 0 {
		if err := b.measure(ctx, together, c.rounds); err != nil {
			if ctx.Err() != nil {
				return err
			}
			b.notef("%v", err)
		}
		b.stopAll()
	}
	for _, part := range c.parts {
		if err := b.runPart(ctx, part); err != nil {
			if ctx.Err() != nil {
				return err
			}
			b.notef("%v", err)
		}
		b.stopAll()
	}
	b.report(os.Stdout)
	return nil
}

// runPart runs one of the parts measured alone: MongoDB, resident memory
// and restart.
func (b *bench) runPart(ctx context.Context, part string) error {
	var t *target
	var err error
	switch part {
	case partMongo:
		t, err = b.mongo(ctx)
	case partRSS:
		err = b.memoryPerSession(ctx)
	case partRestart:
		err = b.restart(ctx)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", part, err)
	}
	if t == nil {
		return nil
	}
	return b.measure(ctx, []*target{t}, 1)
}
