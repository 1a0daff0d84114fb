package persistence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// A payload (user or data) is any JSON value, and it must read back as the
// very text that was stored, as it does from the memory and file stores.
// It is kept under user or data as the native BSON value the Node service
// stores there too, when that value reads back as exactly the same text;
// otherwise its JSON text is kept as a string under user_json or data_json.
// Such text is a key starting with '$' or holding '.', which MongoDB would
// read as an operator or a path; an empty or repeated key; an _id key other
// than the first of its object, which FerretDB moves first at any depth
// (MongoDB at the top level); an array right inside an array, which
// FerretDB 1.x refuses; a number BSON has no exact type for (1e400,
// 12345678901234567890) or written otherwise than it would be read back
// (1.0, 1E5, -0); a string escape other than the one it would be read back
// with ("\u00e9"); nesting deeper than maxNativeDepth.
const (
	userTextField = "user_json"
	dataTextField = "data_json"

	// maxNativeDepth bounds how deeply a native payload nests, well
	// within MongoDB's 100 levels.
	maxNativeDepth = 64
	// maxPayloadBytes bounds the stored size of one payload, so that two
	// of them and the rest of a session stay within MongoDB's 16 MiB
	// document.
	maxPayloadBytes = 8<<20 - 128<<10
)

// unsetPayloads clears both payloads in either form.
var unsetPayloads = bson.D{{Key: "user", Value: ""}, {Key: "data", Value: ""},
	{Key: userTextField, Value: ""}, {Key: dataTextField, Value: ""}}

// storedPayload is one payload as stored: a native value or JSON text, or
// neither for no payload.
type storedPayload struct {
	native bson.RawValue
	text   string
}

// encodePayload returns how the payload raw, named name in errors, is
// stored: nothing for nil or JSON null, the native value when it reads back
// as raw exactly, and raw itself otherwise. A payload that is not JSON in
// UTF-8, or too large for a MongoDB document, is invalid data.
func encodePayload(name string, raw []byte) (storedPayload, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return storedPayload{}, nil
	}
	if v, ok := nativeBSON(raw); ok && len(v.Value) <= maxPayloadBytes {
		return storedPayload{native: v}, nil
	}
	if !json.Valid(raw) || !utf8.Valid(raw) {
		return storedPayload{}, sessions.InvalidData(name + " must be valid JSON in UTF-8")
	}
	if len(raw) > maxPayloadBytes {
		return storedPayload{}, sessions.InvalidData(fmt.Sprintf("%s must not be longer than %d bytes in MongoDB", name, maxPayloadBytes))
	}
	return storedPayload{text: string(raw)}, nil
}

// decodePayload returns the JSON text of a stored payload, or nil when
// there is none.
func decodePayload(native bson.RawValue, text string) ([]byte, error) {
	if text != "" {
		if !json.Valid([]byte(text)) {
			return nil, fmt.Errorf("stored text %.40q is not JSON", text)
		}
		return []byte(text), nil
	}
	return bsonToJSON(native)
}

// holderKey names the one element of the document a payload is built in,
// since BSON builds values only as elements of a document.
const holderKey = "v"

// nativeBSON returns raw as a native BSON value and whether that value
// reads back (bsonToJSON) as exactly raw.
func nativeBSON(raw []byte) (bson.RawValue, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	idx, doc := bsoncore.AppendDocumentStart(make([]byte, 0, len(raw)+16))
	doc, ok := appendNative(doc, holderKey, dec, 0, false)
	if !ok {
		return bson.RawValue{}, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return bson.RawValue{}, false
	}
	doc, err := bsoncore.AppendDocumentEnd(doc, idx)
	if err != nil {
		return bson.RawValue{}, false
	}
	v, err := bson.Raw(doc).LookupErr(holderKey)
	if err != nil {
		return bson.RawValue{}, false
	}
	back, err := bsonToJSON(v)
	if err != nil || !bytes.Equal(back, raw) {
		return bson.RawValue{}, false
	}
	return v, true
}

// appendNative appends to dst the next JSON value of dec as the BSON
// element key, at the given depth and, when inArray, as an array element.
// It reports false for a value with no native form (see encodePayload).
func appendNative(dst []byte, key string, dec *json.Decoder, depth int, inArray bool) ([]byte, bool) {
	tok, err := dec.Token()
	if err != nil {
		return dst, false
	}
	switch t := tok.(type) {
	case string:
		return bsoncore.AppendStringElement(dst, key, t), true
	case json.Number:
		return appendNumber(dst, key, string(t))
	case bool:
		return bsoncore.AppendBooleanElement(dst, key, t), true
	case nil:
		return bsoncore.AppendNullElement(dst, key), true
	case json.Delim:
		if depth == maxNativeDepth || t == '[' && inArray {
			return dst, false
		}
		var idx int32
		if t == '[' {
			idx, dst = bsoncore.AppendArrayElementStart(dst, key)
		} else {
			idx, dst = bsoncore.AppendDocumentElementStart(dst, key)
		}
		var seen map[string]bool
		for i := 0; dec.More(); i++ {
			elem := strconv.Itoa(i)
			if t == '{' {
				tok, err := dec.Token()
				k, isKey := tok.(string)
				if err != nil || !isKey || k == "" || k[0] == '$' || strings.ContainsAny(k, ".\x00") || seen[k] || (k == "_id" && i > 0) {
					return dst, false
				}
				if seen == nil {
					seen = make(map[string]bool)
				}
				seen[k], elem = true, k
			}
			var ok bool
			if dst, ok = appendNative(dst, elem, dec, depth+1, t == '['); !ok {
				return dst, false
			}
		}
		if _, err := dec.Token(); err != nil { // the closing ']' or '}'
			return dst, false
		}
		dst, err = bsoncore.AppendDocumentEnd(dst, idx)
		return dst, err == nil
	}
	return dst, false
}

// appendNumber appends the JSON number n as the BSON element key: an
// integer as an int32 or int64, anything else as a double.
func appendNumber(dst []byte, key, n string) ([]byte, bool) {
	if !strings.ContainsAny(n, ".eE") {
		if i, err := strconv.ParseInt(n, 10, 64); err == nil {
			if i == int64(int32(i)) {
				return bsoncore.AppendInt32Element(dst, key, int32(i)), true
			}
			return bsoncore.AppendInt64Element(dst, key, i), true
		}
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil { // out of range
		return dst, false
	}
	return bsoncore.AppendDoubleElement(dst, key, f), true
}

// bsonToJSON returns a stored BSON value as JSON text, or nil for a missing
// or null value. Strings, numbers, booleans, documents and arrays are
// written as JSON.stringify writes them in the Node service (the shortest
// number that reads back as the same double; only '"', '\\' and control
// characters escaped); other BSON types, which only documents written by
// other programs hold, as relaxed Extended JSON ({"$date": ...}).
func bsonToJSON(v bson.RawValue) ([]byte, error) {
	if v.IsZero() || v.Type == bson.TypeNull || v.Type == bson.TypeUndefined {
		return nil, nil
	}
	return appendJSON(nil, bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
}

var errMalformedBSON = errors.New("malformed BSON value")

// appendJSON appends v to dst as bsonToJSON writes it.
func appendJSON(dst []byte, v bsoncore.Value) ([]byte, error) {
	switch v.Type {
	case bsoncore.TypeString:
		s, ok := v.StringValueOK()
		if !ok {
			return dst, errMalformedBSON
		}
		return appendJSONString(dst, s), nil
	case bsoncore.TypeInt32:
		i, ok := v.Int32OK()
		if !ok {
			return dst, errMalformedBSON
		}
		return strconv.AppendInt(dst, int64(i), 10), nil
	case bsoncore.TypeInt64:
		i, ok := v.Int64OK()
		if !ok {
			return dst, errMalformedBSON
		}
		return strconv.AppendInt(dst, i, 10), nil
	case bsoncore.TypeDouble:
		f, ok := v.DoubleOK()
		if !ok {
			return dst, errMalformedBSON
		}
		if !math.IsInf(f, 0) && !math.IsNaN(f) {
			return appendJSONFloat(dst, f), nil
		}
	case bsoncore.TypeBoolean:
		b, ok := v.BooleanOK()
		if !ok {
			return dst, errMalformedBSON
		}
		return strconv.AppendBool(dst, b), nil
	case bsoncore.TypeNull:
		return append(dst, "null"...), nil
	case bsoncore.TypeEmbeddedDocument, bsoncore.TypeArray:
		return appendJSONContainer(dst, v)
	}
	return appendExtJSON(dst, v)
}

// appendJSONContainer appends a document as a JSON object and an array as
// a JSON array, in the stored order.
func appendJSONContainer(dst []byte, v bsoncore.Value) ([]byte, error) {
	open, closing := byte('{'), byte('}')
	if v.Type == bsoncore.TypeArray {
		open, closing = '[', ']'
	}
	if len(v.Data) < 5 || v.Data[len(v.Data)-1] != 0 {
		return dst, errMalformedBSON
	}
	dst = append(dst, open)
	for rest, first := v.Data[4:len(v.Data)-1], true; len(rest) > 0; first = false {
		e, next, ok := bsoncore.ReadElement(rest)
		if !ok {
			return dst, errMalformedBSON
		}
		rest = next
		if !first {
			dst = append(dst, ',')
		}
		if v.Type == bsoncore.TypeEmbeddedDocument {
			key, err := e.KeyErr()
			if err != nil {
				return dst, err
			}
			dst = append(appendJSONString(dst, key), ':')
		}
		ev, err := e.ValueErr()
		if err != nil {
			return dst, err
		}
		if dst, err = appendJSON(dst, ev); err != nil {
			return dst, err
		}
	}
	return append(dst, closing), nil
}

// appendJSONString appends s as a JSON string, escaping only what JSON
// requires, as JSON.stringify does; invalid UTF-8 is written as \ufffd.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(append(dst, s[start:i]...), `\ufffd`...)
				start = i + 1
			}
			i += n
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, `\b`...)
		case '\f':
			dst = append(dst, `\f`...)
		case '\n':
			dst = append(dst, `\n`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\t':
			dst = append(dst, `\t`...)
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		i++
		start = i
	}
	return append(append(dst, s[start:]...), '"')
}

// appendJSONFloat appends a finite double as JavaScript's Number#toString
// (and encoding/json) writes it: the shortest digits that read back as f,
// in exponent form below 1e-6 and from 1e21.
func appendJSONFloat(dst []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 is written 1e-7.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// appendExtJSON appends v as relaxed Extended JSON, for the BSON types
// that have no JSON counterpart.
func appendExtJSON(dst []byte, v bsoncore.Value) ([]byte, error) {
	b, err := bson.MarshalExtJSON(bson.D{{Key: holderKey, Value: bson.RawValue{Type: bson.Type(v.Type), Value: v.Data}}}, false, false)
	if err != nil {
		return dst, err
	}
	// b is {"v":<value>}: cut the holder off.
	prefix := `{"` + holderKey + `":`
	if !bytes.HasPrefix(b, []byte(prefix)) || b[len(b)-1] != '}' {
		return dst, fmt.Errorf("unexpected extended JSON %.40q", b)
	}
	return append(dst, b[len(prefix):len(b)-1]...), nil
}
