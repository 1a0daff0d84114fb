package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
)

// maxHead bounds a response's status line and headers.
const maxHead = 16 << 10

var crlf = []byte("\r\n")

// appendRequest appends a POST of a JSON body to dst.
func appendRequest(dst []byte, host, path string, body []byte) []byte {
	dst = append(dst, "POST "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nContent-Type: application/json\r\nContent-Length: "...)
	dst = appendInt(dst, len(body))
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}

func appendInt(dst []byte, n int) []byte {
	var digits [20]byte
	i := len(digits)
	for {
		i--
		digits[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return append(dst, digits[i:]...)
		}
	}
}

// parseResponse parses the HTTP/1.1 response at the start of b and
// returns its status, its body and its length n. While b holds only part
// of the response, n is 0 and err nil. It handles what a keep-alive JSON
// API answers with: a Content-Length body or a chunked one, whose chunks
// it joins in place in b. It allocates nothing, because the load
// generator shares the machine with the server it measures: what it
// spends is taken from the server.
func parseResponse(b []byte) (status int, body []byte, n int, err error) {
	head := bytes.Index(b, []byte("\r\n\r\n"))
	if head < 0 {
		if len(b) > maxHead {
			return 0, nil, 0, errors.New("response head too long")
		}
		return 0, nil, 0, nil
	}
	line, lines, _ := bytes.Cut(b[:head+2], crlf)
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, nil, 0, fmt.Errorf("bad status line %q", line)
	}
	status, ok := digits(line[9:12])
	if !ok {
		return 0, nil, 0, fmt.Errorf("bad status line %q", line)
	}
	length, chunked := -1, false
	for len(lines) > 0 {
		line, lines, _ = bytes.Cut(lines, crlf)
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, nil, 0, fmt.Errorf("bad header %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, ok = digits(value); !ok {
				return 0, nil, 0, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		}
	}
	n = head + 4
	switch {
	case chunked:
		size, used, err := chunks(b[n:], false)
		if used == 0 || err != nil {
			return 0, nil, 0, err
		}
		chunks(b[n:], true)
		return status, b[n : n+size], n + used, nil
	case length >= 0:
		if len(b)-n < length {
			return 0, nil, 0, nil
		}
		return status, b[n : n+length], n + length, nil
	case status == http.StatusNoContent || status == http.StatusNotModified || status < 200:
		return status, nil, n, nil
	}
	return 0, nil, 0, errors.New("response without Content-Length on a keep-alive connection")
}

// chunks walks a chunked body at the start of b and returns the size of
// its data and the bytes it takes, trailers included; used is 0 while b
// holds only part of it. With join, it also moves the data of every chunk
// to the start of b.
func chunks(b []byte, join bool) (size, used int, err error) {
	for i := 0; ; {
		line, _, ok := bytes.Cut(b[i:], crlf)
		if !ok {
			return 0, 0, nil
		}
		sizeText, _, _ := bytes.Cut(line, []byte(";"))
		n, ok := hexDigits(sizeText)
		if !ok {
			return 0, 0, fmt.Errorf("bad chunk size %q", line)
		}
		i += len(line) + 2
		if n == 0 {
			// The last chunk; trailers end with an empty line.
			for {
				line, _, ok := bytes.Cut(b[i:], crlf)
				if !ok {
					return 0, 0, nil
				}
				i += len(line) + 2
				if len(line) == 0 {
					return size, i, nil
				}
			}
		}
		if len(b)-i < n+2 {
			return 0, 0, nil
		}
		if !bytes.Equal(b[i+n:i+n+2], crlf) {
			return 0, 0, errors.New("chunk not followed by CRLF")
		}
		if join {
			copy(b[size:], b[i:i+n])
		}
		size += n
		i += n + 2
	}
}

// digits parses a decimal number of at most 9 digits.
func digits(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// hexDigits parses a hexadecimal number of at most 7 digits.
func hexDigits(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 7 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
