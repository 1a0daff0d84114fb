package main

import (
	"bufio"
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
	"strconv"
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
// hand and reads responses in place; "nethttp" goes through
// an http.Client whose transport keeps exactly as many connections as there
// are workers.
func newDialer(kind string, conns int) (dialer, error) {
	switch kind {
	case "raw":
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
	return nil, fmt.Errorf("-client %q: want raw or nethttp", kind)
}

// rawConn writes each request as bytes on one TCP connection and reads
// each response in place; it costs the load generator far less CPU than
// net/http's transport.
type rawConn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
	req  []byte
	resp bytes.Buffer
}

func dialRaw(addr string) (conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{addr: addr, c: c, r: bufio.NewReaderSize(c, 64<<10)}, nil
}

func (c *rawConn) post(path string, body []byte) (int, []byte, error) {
	c.req = append(c.req[:0], "POST "...)
	c.req = append(c.req, path...)
	c.req = append(c.req, " HTTP/1.1\r\nHost: "...)
	c.req = append(c.req, c.addr...)
	c.req = append(c.req, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	c.req = strconv.AppendInt(c.req, int64(len(body)), 10)
	c.req = append(c.req, "\r\n\r\n"...)
	c.req = append(c.req, body...)
	if _, err := c.c.Write(c.req); err != nil {
		return 0, nil, err
	}
	c.resp.Reset()
	status, err := readResponse(c.r, &c.resp)
	if err != nil {
		return 0, nil, err
	}
	return status, c.resp.Bytes(), nil
}

// readResponse reads one HTTP/1.1 response from r, its body into body, and
// returns its status. It reads in place, allocating nothing, because the
// load generator shares the machine with the server it measures: what it
// spends is taken from the server. It handles what a keep-alive JSON API
// answers with: a Content-Length body or a chunked one.
func readResponse(r *bufio.Reader, body *bytes.Buffer) (int, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, fmt.Errorf("status line: %w", err)
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, chunked := -1, false
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return 0, fmt.Errorf("header: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, fmt.Errorf("bad header %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		}
	}
	switch {
	case chunked:
		return status, readChunked(r, body)
	case length >= 0:
		return status, readN(r, body, length)
	case status == http.StatusNoContent || status == http.StatusNotModified || status < 200:
		return status, nil
	}
	return 0, errors.New("response without Content-Length on a keep-alive connection")
}

// readN appends the next n bytes of r to body.
func readN(r *bufio.Reader, body *bytes.Buffer, n int) error {
	body.Grow(n)
	b := body.AvailableBuffer()[:n]
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("body: %w", err)
	}
	body.Write(b)
	return nil
}

// readChunked reads a chunked body into body.
func readChunked(r *bufio.Reader, body *bytes.Buffer) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("chunk size: %w", err)
		}
		sizeText, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		size, err := strconv.ParseInt(string(sizeText), 16, 64)
		if err != nil {
			return fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			// The last chunk; trailers end with an empty line.
			for {
				line, err := r.ReadSlice('\n')
				if err != nil {
					return fmt.Errorf("trailer: %w", err)
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return nil
				}
			}
		}
		if err := readN(r, body, int(size)); err != nil {
			return err
		}
		if _, err := r.Discard(2); err != nil { // the CRLF after the data
			return err
		}
	}
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
	warmup   time.Duration
	duration time.Duration
}

// run sends op's requests to addr for the warm-up and then the measured
// duration, and records the latency of every request started after the
// warm-up. onMeasure, when not nil, is called as measuring starts.
func (l load) run(ctx context.Context, addr string, o op, onMeasure func()) (result, error) {
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
	r.elapsed = last.Sub(from)
	return r, nil
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
