package client

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// maxSSEMessage bounds one Server-Sent Events message (its lines together),
// so a broken or hostile server cannot make the reader grow without end.
// The service's largest message, a notification, is bounded by its request
// body limit (1 MiB by default).
const maxSSEMessage = 8 << 20

// errSSETooLarge is returned for a message longer than maxSSEMessage.
var errSSETooLarge = errors.New("event stream message is too large")

// sseMessage is one dispatched Server-Sent Events message.
type sseMessage struct {
	// Event is the event field, "message" when the server gave none.
	Event string
	// Data is the data fields joined by newlines.
	Data string
	// ID is the last event id as of this message: the id field is sticky,
	// as in the EventSource specification.
	ID string
	// HasID reports whether the message had an id field of its own.
	HasID bool
}

// sseReader reads Server-Sent Events as the WHATWG HTML specification
// ("Interpreting an event stream") describes them: lines end with CRLF, LF
// or CR; a line starting with a colon is a comment; "field: value" with one
// optional space after the colon; a blank line dispatches the message; a
// message without data is not dispatched (but its id still counts); a
// message cut short by the end of the stream is discarded.
type sseReader struct {
	r *bufio.Reader
	// retry is the reconnection time of the last valid retry field, 0 when
	// the server sent none.
	retry time.Duration
	// lastID is the id of the last dispatched message that had one; it
	// survives messages (and the caller carries it across connections).
	lastID string

	line    []byte
	started bool // the first line, which may open with a byte order mark, was read
	skipLF  bool // the last line ended with CR: a following LF belongs to it
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 16<<10)}
}

// next returns the next dispatched message. Comments and messages without
// data are consumed silently. At the end of the stream it returns io.EOF
// (or the read error), discarding an unfinished message.
func (p *sseReader) next() (sseMessage, error) {
	var (
		event, id      string
		data           strings.Builder
		size           int
		hasData, hasID bool
	)
	for {
		line, err := p.readLine()
		if err != nil {
			return sseMessage{}, err
		}
		if !p.started { // a byte order mark may open the stream
			p.started = true
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		}
		if len(line) == 0 { // dispatch
			// The id counts on dispatch only: a message cut short by a
			// dropped connection must be asked for again.
			if hasID {
				p.lastID = id
			}
			if !hasData {
				event, id, hasID, size = "", "", false, 0
				continue
			}
			if event == "" {
				event = "message"
			}
			text := strings.TrimSuffix(data.String(), "\n")
			return sseMessage{Event: event, Data: text, ID: p.lastID, HasID: hasID}, nil
		}
		if size += len(line); size > maxSSEMessage {
			return sseMessage{}, errSSETooLarge
		}
		if line[0] == ':' { // a comment: keep-alive, or the service saying goodbye
			continue
		}
		field, value, found := bytes.Cut(line, []byte{':'})
		if found {
			value = bytes.TrimPrefix(value, []byte{' '})
		}
		switch string(field) {
		case "event":
			event = string(value)
		case "data":
			data.Write(value)
			data.WriteByte('\n')
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				id, hasID = string(value), true
			}
		case "retry":
			if ms, err := strconv.ParseUint(string(value), 10, 32); err == nil {
				p.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// readLine returns the next line without its end; the slice is valid until
// the next call. A line the stream ends in the middle of is an error: io.EOF
// (or io.ErrUnexpectedEOF when part of it was read, which callers treat the
// same way).
func (p *sseReader) readLine() ([]byte, error) {
	p.line = p.line[:0]
	for {
		if p.skipLF {
			b, err := p.r.ReadByte()
			if err != nil {
				return nil, err
			}
			if b != '\n' {
				p.r.UnreadByte() //nolint:errcheck // the byte was just read
			}
			p.skipLF = false
		}
		if p.r.Buffered() == 0 {
			if _, err := p.r.Peek(1); err != nil {
				if err == io.EOF && len(p.line) > 0 {
					err = io.ErrUnexpectedEOF
				}
				return nil, err
			}
		}
		buf, _ := p.r.Peek(p.r.Buffered())
		if i := bytes.IndexAny(buf, "\r\n"); i >= 0 {
			p.line = append(p.line, buf[:i]...)
			p.skipLF = buf[i] == '\r'
			p.r.Discard(i + 1) //nolint:errcheck // the bytes are buffered
			return p.line, nil
		}
		if len(p.line)+len(buf) > maxSSEMessage {
			return nil, errSSETooLarge
		}
		p.line = append(p.line, buf...)
		p.r.Discard(len(buf)) //nolint:errcheck // the bytes are buffered
	}
}
