package client

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestSSEReaderParsesTheEventStreamFormat(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         string
		want       []sseMessage
		wantLastID string
		wantRetry  time.Duration
	}{
		{
			name: "the service's event stream",
			in: "retry: 2000\n\n" +
				"id: 1732223423000123\nevent: opened\ndata: {\"id\":1732223423000123}\n\n" +
				": keep-alive\n\n" +
				"event: reset\ndata: {\"last_id\":1732223423000456}\n\n",
			want: []sseMessage{
				{Event: "opened", Data: `{"id":1732223423000123}`, ID: "1732223423000123", HasID: true},
				{Event: "reset", Data: `{"last_id":1732223423000456}`, ID: "1732223423000123"},
			},
			wantLastID: "1732223423000123",
			wantRetry:  2 * time.Second,
		},
		{
			name: "data lines join with newlines",
			in:   "data: a\ndata: b\ndata:\ndata: c\n\n",
			want: []sseMessage{{Event: "message", Data: "a\nb\n\nc"}},
		},
		{
			name: "one space after the colon is dropped, no more",
			in:   "data:x\n\ndata:  y\n\n",
			want: []sseMessage{{Event: "message", Data: "x"}, {Event: "message", Data: " y"}},
		},
		{
			name: "a field without a colon has an empty value",
			in:   "event: ping\ndata\n\n",
			want: []sseMessage{{Event: "ping", Data: ""}},
		},
		{
			name: "CRLF and CR end lines too",
			in:   "event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\rdata: 3\n\r\n",
			want: []sseMessage{{Event: "a", Data: "1"}, {Event: "b", Data: "2"}, {Event: "message", Data: "3"}},
		},
		{
			name:       "a message without data is not dispatched but its id counts",
			in:         "event: nothing\n\nid: 7\n\ndata: after\n\n",
			want:       []sseMessage{{Event: "message", Data: "after", ID: "7"}},
			wantLastID: "7",
		},
		{
			name:       "a message cut off by the end of the stream is dropped with its id",
			in:         "id: 1\ndata: whole\n\nid: 2\ndata: half",
			want:       []sseMessage{{Event: "message", Data: "whole", ID: "1", HasID: true}},
			wantLastID: "1",
		},
		{
			name:       "an id with a NUL is ignored",
			in:         "id: 3\ndata: x\n\nid: 4\x00\ndata: y\n\n",
			want:       []sseMessage{{Event: "message", Data: "x", ID: "3", HasID: true}, {Event: "message", Data: "y", ID: "3"}},
			wantLastID: "3",
		},
		{
			name:      "a retry that is not a number of milliseconds is ignored",
			in:        "retry: 150\nretry: 2s\nretry: -1\n\n",
			wantRetry: 150 * time.Millisecond,
		},
		{
			name: "unknown fields and comments are ignored",
			in:   ":hello\nfoo: bar\nevent: x\n: the service is stopping\ndata: 1\n\n",
			want: []sseMessage{{Event: "x", Data: "1"}},
		},
		{
			name: "a byte order mark may open the stream",
			in:   "\uFEFFdata: 1\n\n",
			want: []sseMessage{{Event: "message", Data: "1"}},
		},
	} {
		for _, rd := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{
			{"whole", func(r io.Reader) io.Reader { return r }},
			{"byte by byte", iotest.OneByteReader},
		} {
			t.Run(tc.name+"/"+rd.name, func(t *testing.T) {
				p := newSSEReader(rd.wrap(strings.NewReader(tc.in)))
				var got []sseMessage
				for {
					m, err := p.next()
					if err != nil {
						if err != io.EOF && err != io.ErrUnexpectedEOF {
							t.Fatalf("next: got error %v; want io.EOF at the end", err)
						}
						break
					}
					got = append(got, m)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("messages:\ngot  %+v\nwant %+v", got, tc.want)
				}
				if p.lastID != tc.wantLastID {
					t.Errorf("last event id: got %q; want %q", p.lastID, tc.wantLastID)
				}
				if p.retry != tc.wantRetry {
					t.Errorf("retry: got %v; want %v", p.retry, tc.wantRetry)
				}
			})
		}
	}
}

func TestSSEReaderBoundsAStreamMessage(t *testing.T) {
	line := "data: " + strings.Repeat("x", 1<<20) + "\n"
	for _, tc := range []struct{ name, in string }{
		{"one long line", "data: " + strings.Repeat("x", maxSSEMessage+1) + "\n\n"},
		{"many lines", strings.Repeat(line, maxSSEMessage/len(line)+1) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newSSEReader(strings.NewReader(tc.in)).next()
			if !errors.Is(err, errSSETooLarge) {
				t.Errorf("got error %v; want %v", err, errSSETooLarge)
			}
		})
	}
}
