package sessions

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Payload normalises a JSON value (user, data) as it is stored: absent
// and null are both none (nil), and the value is compact.
func Payload(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return compact(raw)
}

// compact returns raw without insignificant white space, and with every
// byte that is not UTF-8 written as \ufffd, as every other string of a
// response is written: a stored payload is always valid JSON text.
func compact(raw json.RawMessage) json.RawMessage {
	if !utf8.Valid(raw) {
		raw = replaceInvalidUTF8(raw)
	}
	for _, c := range raw {
		if c == ' ' || c == '\n' || c == '\t' || c == '\r' {
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return raw
			}
			return buf.Bytes()
		}
	}
	return raw
}

// replaceInvalidUTF8 returns b with each byte that is not part of a UTF-8
// sequence replaced by the escape \ufffd. In valid JSON such bytes can only
// be inside strings, where the escape stands for U+FFFD.
func replaceInvalidUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+16)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = append(out, `\ufffd`...)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}
