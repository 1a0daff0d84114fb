package main

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func TestReadResponse(t *testing.T) {
	for _, tc := range []struct {
		name, in   string
		status     int
		body, rest string
	}{
		{"with a length", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}NEXT", 200, `{"a":1}`, "NEXT"},
		{"chunked", "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\n\r\nNEXT", 404, `{"a":1}`, "NEXT"},
		{"chunked with a trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: 1\r\n\r\nNEXT", 200, `{}`, "NEXT"},
		{"no content", "HTTP/1.1 204 No Content\r\nDate: x\r\n\r\nNEXT", 204, "", "NEXT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReader(strings.NewReader(tc.in))
			var body bytes.Buffer
			status, err := readResponse(r, &body)
			if err != nil {
				t.Fatal(err)
			}
			rest, _ := r.ReadString(0)
			if status != tc.status || body.String() != tc.body || rest != tc.rest {
				t.Errorf("got %d %q, then %q; want %d %q, then %q", status, body.String(), rest, tc.status, tc.body, tc.rest)
			}
		})
	}
	for _, bad := range []string{"", "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", "HTTP/1.1 200 OK\r\n\r\n{}"} {
		if _, err := readResponse(bufio.NewReader(strings.NewReader(bad)), &bytes.Buffer{}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
