package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// conn is one keep-alive HTTP/1.1 connection of the load generator.
type conn interface {
	// post sends a POST with a JSON body and returns the status and the
	// response body, which is valid until the next call.
	post(path string, body []byte) (status int, resp []byte, err error)
	close()
}

// dialer opens the connections of one run: raw or through net/http.
type dialer func(addr string) (conn, error)

// newDialer returns the dialer of a client kind: "raw" writes requests by
// hand and reads responses in place, and so does "loop", whose measured
// runs go through runLoop instead; "nethttp" goes through
// an http.Client whose transport keeps exactly as many connections as there
// are workers.
func newDialer(kind string, conns int) (dialer, error) {
	switch kind {
	case "raw", "loop":
		return dialRaw, nil
	case "nethttp":
		client := &http.Client{Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			DisableCompression:  true,
			IdleConnTimeout:     time.Minute,
		}}
		return func(addr string) (conn, error) {
			return &netHTTPConn{client: client, base: "http://" + addr}, nil
		}, nil
	}
	return nil, fmt.Errorf("-client %q: want loop, raw or nethttp", kind)
}

// rawConn writes each request as bytes on one TCP connection and reads
// each response in place; it costs the load generator far less CPU than
// net/http's transport.
type rawConn struct {
	addr string
	c    net.Conn
	req  []byte
	in   inbox
}

func dialRaw(addr string) (conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{addr: addr, c: c}, nil
}

func (c *rawConn) post(path string, body []byte) (int, []byte, error) {
	c.req = appendRequest(c.req[:0], c.addr, path, body)
	if _, err := c.c.Write(c.req); err != nil {
		return 0, nil, err
	}
	for {
		status, resp, ok, err := c.in.next()
		if ok || err != nil {
			return status, resp, err
		}
		if err := c.in.fill(c.c.Read); err != nil {
			return 0, nil, err
		}
	}
}

// inbox holds the bytes read from one connection that are not yet parsed.
type inbox struct {
	buf  []byte
	done int // bytes of buf parsed by the last call to next
}

// next parses the response at the start of the inbox, once it is whole.
// The body is valid until the next call.
func (in *inbox) next() (status int, body []byte, ok bool, err error) {
	in.buf = in.buf[:copy(in.buf, in.buf[in.done:])]
	in.done = 0
	status, body, n, err := parseResponse(in.buf)
	if n == 0 || err != nil {
		return 0, nil, false, err
	}
	in.done = n
	return status, body, true, nil
}

// fill appends what one call to read gives.
func (in *inbox) fill(read func([]byte) (int, error)) error {
	if len(in.buf) == cap(in.buf) {
		in.buf = slices.Grow(in.buf, max(64<<10, cap(in.buf)))
	}
	n, err := read(in.buf[len(in.buf):cap(in.buf)])
	if n > 0 {
		in.buf = in.buf[:len(in.buf)+n]
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (c *rawConn) close() { c.c.Close() }

// netHTTPConn sends requests through a shared http.Client.
type netHTTPConn struct {
	client *http.Client
	base   string
	resp   bytes.Buffer
}

func (c *netHTTPConn) post(path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	c.resp.Reset()
	_, err = c.resp.ReadFrom(res.Body)
	res.Body.Close()
	if err != nil {
		return 0, nil, err
	}
	return res.StatusCode, c.resp.Bytes(), nil
}

func (c *netHTTPConn) close() {}

// op is one kind of request of a scenario.
type op struct {
	name string
	path string
	// body appends the JSON body of one request to b.
	body func(rng *rand.Rand, b []byte) []byte
}

// result is what one run of an op measured.
type result struct {
	requests int
	failures int // responses whose status was not 2xx
	elapsed  time.Duration
	// cpu is the CPU time the server used while measured, when known.
	cpu time.Duration
	// loadCPU is the CPU time the load generator used meanwhile: what
	// it took from the server on the shared cores.
	loadCPU time.Duration
	// othersCPU is the CPU time the other services the benchmark runs
	// used meanwhile: work left over from their own scenarios, such as a
	// file store folding its journal, which competes with the measured
	// one. The benchmark waits for them to go quiet before measuring.
	othersCPU time.Duration
	// latencies holds every measured latency, sorted.
	latencies []time.Duration
}

func (r result) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// cpuPerRequest is the server's CPU time per request.
func (r result) cpuPerRequest() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.requests)
}

// loadCPUPerRequest is the load generator's CPU time per request.
func (r result) loadCPUPerRequest() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.loadCPU / time.Duration(r.requests)
}

// percentile returns the latency below which a fraction p of requests fell.
func (r result) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(r.latencies)))) - 1
	return r.latencies[max(i, 0)]
}

// merge combines runs of one op into one result: their requests over their
// summed durations, and every latency.
func merge(runs []result) result {
	var m result
	for _, r := range runs {
		m.requests += r.requests
		m.failures += r.failures
		m.elapsed += r.elapsed
		m.cpu += r.cpu
		m.loadCPU += r.loadCPU
		m.othersCPU += r.othersCPU
		m.latencies = append(m.latencies, r.latencies...)
	}
	slices.Sort(m.latencies)
	return m
}

// load drives a server with a fixed number of keep-alive connections, one
// goroutine each, every goroutine sending its next request as soon as the
// last one is answered (a closed loop).
type load struct {
	conns    int
	dial     dialer
	loop     bool // drive every connection from one event loop
	warmup   time.Duration
	duration time.Duration
}

// run sends op's requests to addr for the warm-up and then the measured
// duration, and records the latency of every request started after the
// warm-up. onMeasure, when not nil, is called as measuring starts.
func (l load) run(ctx context.Context, addr string, o op, onMeasure func()) (result, error) {
	if l.loop {
		return l.runLoop(ctx, addr, o, onMeasure)
	}
	conns := make([]conn, l.conns)
	for i := range conns {
		c, err := l.dial(addr)
		if err != nil {
			return result{}, fmt.Errorf("dial %s: %w", addr, err)
		}
		defer c.close()
		conns[i] = c
	}
	start := time.Now()
	from, end := start.Add(l.warmup), start.Add(l.warmup+l.duration)
	if onMeasure != nil {
		timer := time.AfterFunc(l.warmup, onMeasure)
		defer timer.Stop()
	}

	type outcome struct {
		latencies []time.Duration
		failures  int
		last      time.Time
		err       error
	}
	outcomes := make([]outcome, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			out := &outcomes[i]
			out.latencies = make([]time.Duration, 0, 1<<16)
			rng := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			var body []byte
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					break
				}
				body = o.body(rng, body[:0])
				status, _, err := c.post(o.path, body)
				t1 := time.Now()
				if err != nil {
					out.err = fmt.Errorf("%s: %w", o.name, err)
					return
				}
				if t0.Before(from) {
					continue
				}
				out.latencies = append(out.latencies, t1.Sub(t0))
				out.last = t1
				if status/100 != 2 {
					out.failures++
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	var r result
	var last time.Time
	for _, out := range outcomes {
		if out.err != nil {
			return result{}, out.err
		}
		r.latencies = append(r.latencies, out.latencies...)
		r.failures += out.failures
		if out.last.After(last) {
			last = out.last
		}
	}
	slices.Sort(r.latencies)
	r.requests = len(r.latencies)
	r.elapsed = span(from, last)
	return r, nil
}

// span is how long a measurement lasted: from its start to its last
// answer, or to now when no answer came.
func span(from, last time.Time) time.Duration {
	if last.IsZero() {
		return time.Since(from)
	}
	return last.Sub(from)
}

// each runs fn for i in [0, n) on conns connections in parallel, giving
// every call the connection of its goroutine; it stops at the first error.
func each(ctx context.Context, dial dialer, addr string, conns, n int, fn func(c conn, i int) error) error {
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if first != nil || next >= n || ctx.Err() != nil {
			return 0, false
		}
		next++
		return next - 1, true
	}
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
	}
	for range min(conns, n) {
		wg.Go(func() {
			c, err := dial(addr)
			if err != nil {
				fail(err)
				return
			}
			defer c.close()
			for i, ok := take(); ok; i, ok = take() {
				if err := fn(c, i); err != nil {
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
