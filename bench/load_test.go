package main

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseResponse(t *testing.T) {
	for _, tc := range []struct {
		name, in, rest string
		status         int
		body           string
	}{
		{"with a length", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}", "NEXT", 200, `{"a":1}`},
		{"chunked", "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\n", "NEXT", 404, `{"a":1}`},
		{"chunked with a trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: 1\r\n\r\n", "NEXT", 200, `{}`},
		{"no content", "HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n", "NEXT", 204, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, n, err := parseResponse([]byte(tc.in + tc.rest))
			if err != nil {
				t.Fatal(err)
			}
			if status != tc.status || string(body) != tc.body || n != len(tc.in) {
				t.Errorf("got %d %q, %d bytes; want %d %q, %d bytes", status, body, n, tc.status, tc.body, len(tc.in))
			}
			for i := range len(tc.in) {
				if _, _, n, err := parseResponse([]byte(tc.in[:i])); n != 0 || err != nil {
					t.Fatalf("the first %d bytes: got %d bytes, %v; want to wait for more", i, n, err)
				}
			}
		})
	}
	for _, bad := range []string{"HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n{}", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}}\r\n"} {
		if _, _, _, err := parseResponse([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// An inbox gives each response once it is whole, however the bytes of
// several arrive.
func TestInbox(t *testing.T) {
	one := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
	stream := strings.Repeat(one, 3)
	for step := 1; step <= len(stream); step++ {
		var in inbox
		in.buf = make([]byte, 0, 8) // small, so it grows
		at, got := 0, 0
		read := func(b []byte) (int, error) {
			n := copy(b, stream[at:min(at+step, len(stream))])
			at += n
			return n, nil
		}
		for got < 3 {
			status, body, ok, err := in.next()
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				if status != 200 || string(body) != "{}" {
					t.Fatalf("step %d: got %d %q", step, status, body)
				}
				got++
				continue
			}
			if err := in.fill(read); err != nil {
				t.Fatalf("step %d, response %d: %v", step, got, err)
			}
		}
	}
}

// Each client drives a server in a closed loop, counts what it measured
// and tells failures from successes, with bodies of a known length or
// chunked.
func TestLoadRun(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/chunked" {
			w.Write(body[:1])
			w.(http.Flusher).Flush() // no Content-Length now
			w.Write(body[1:])
			return
		}
		if string(body) == `"fail"` {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write(body)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	constant := func(path, body string) op {
		return op{name: "test", path: path, body: func(_ *rand.Rand, b []byte) []byte { return append(b, body...) }}
	}
	for _, kind := range []string{defaultClient, "raw", "nethttp"} {
		dial, err := newDialer(kind, 3)
		if err != nil {
			t.Fatal(err)
		}
		l := load{conns: 3, dial: dial, loop: kind == "loop", warmup: 20 * time.Millisecond, duration: 500 * time.Millisecond}
		for _, tc := range []struct {
			o        op
			failures bool
		}{
			{constant("/", `{"a":1}`), false},
			{constant("/chunked", `{"a":1}`), false},
			{constant("/", `"fail"`), true},
		} {
			r, err := l.run(context.Background(), addr, tc.o, nil)
			if err != nil {
				t.Fatalf("%s client, %s: %v", kind, tc.o.path, err)
			}
			want := 0
			if tc.failures {
				want = r.requests
			}
			if r.requests == 0 || len(r.latencies) != r.requests || r.failures != want || r.elapsed <= 0 {
				t.Errorf("%s client, %s %s: %d requests, %d latencies, %d failures in %v", kind, tc.o.path, tc.o.body(nil, nil),
					r.requests, len(r.latencies), r.failures, r.elapsed)
			}
		}
	}
}

// scriptedConn answers each post with the next status of its script.
type scriptedConn struct {
	statuses []int
	posts    int
}

func (c *scriptedConn) post(string, []byte) (int, []byte, error) {
	c.posts++
	return c.statuses[min(c.posts, len(c.statuses))-1], []byte(`{}`), nil
}

func (c *scriptedConn) close() {}

// A set-up request answered 503 is sent again, up to setUpTries times;
// any other failure ends it at once.
func TestPostSetUpRetriesOnlyUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name      string
		statuses  []int
		wantPosts int
		wantErr   bool
	}{
		{"ok at once", []int{200}, 1, false},
		{"ok after two 503s", []int{503, 503, 200}, 3, false},
		{"503 every time", []int{503}, setUpTries, true},
		{"a bad request is not retried", []int{400, 200}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &scriptedConn{statuses: tc.statuses}
			_, err := postSetUp(context.Background(), c, "/v1/homes/set_home", nil)
			if (err != nil) != tc.wantErr || c.posts != tc.wantPosts {
				t.Errorf("got %d posts, error %v; want %d posts, error %v", c.posts, err, tc.wantPosts, tc.wantErr)
			}
		})
	}
}
