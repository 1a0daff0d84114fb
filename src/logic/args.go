package logic

import (
	"bytes"
	"reflect"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// argDecoder fills a command's argument struct straight from the members of
// its JSON object: arguments arrive with every request, and encoding/json's
// reflection and separate validating scan cost more than the rest of a
// cheap command. It takes only the common case and leaves any other body to
// decodeObject, which then decodes it, odd cases and error messages
// included.
type argDecoder struct {
	args []fastArg
}

// fastArg is one argument as the decoder sets it.
type fastArg struct {
	name  string
	field int
	set   setter
}

// A setter decodes the raw JSON value of an argument into its field, or
// reports false when only encoding/json can tell what the value means.
type setter func(field reflect.Value, value []byte) bool

// setters are the argument types the decoder knows; a command with an
// argument of another type, and no plain struct (see setStruct), has no decoder.
var setters = map[reflect.Type]setter{
	reflect.TypeFor[string]():                 setString,
	rawMessageType:                            setRaw,
	reflect.TypeFor[map[string]string]():      setStringMap,
	reflect.TypeFor[sessions.FilterParams]():  setFilter,
	reflect.TypeFor[*sessions.PagingParams](): setPaging,
}

// newArgDecoder returns the decoder of the argument struct t, whose
// arguments are args, or nil when encoding/json is to decode it all.
func newArgDecoder(t reflect.Type, args []Arg) *argDecoder {
	// encoding/json also decodes untagged fields, and skips unexported
	// ones.
	if t.NumField() != len(args) {
		return nil
	}
	d := &argDecoder{}
	for _, a := range args {
		set, ok := setters[a.Type]
		if !ok && plainStruct(a.Type) != nil {
			set, ok = setStruct(a.Name), true
		}
		if !ok || !t.Field(a.field).IsExported() {
			return nil
		}
		d.args = append(d.args, fastArg{name: a.Name, field: a.field, set: set})
	}
	return d
}

// decode fills v, a zero argument struct, from the JSON object in body and
// reports whether it did; when it did not, it leaves v zero for
// decodeObject. A nil decoder decodes nothing.
func (d *argDecoder) decode(body []byte, v reflect.Value) bool {
	if d == nil {
		return false
	}
	taken := true
	wellFormed := sessions.WalkObject(body, func(key, value []byte) {
		if !taken {
			return
		}
		i, sure := d.lookup(key)
		switch {
		case !sure:
			taken = false
		case i < 0: // not an argument: ignored, as the Node service ignores it
		default:
			// A repeated argument counts with its last value, as JSON.parse
			// reads it (encoding/json would merge a repeated object into
			// the first and let a null keep the earlier value).
			f := v.Field(d.args[i].field)
			f.SetZero()
			taken = d.args[i].set(f, value)
		}
	})
	if !wellFormed || !taken {
		v.SetZero()
		return false
	}
	return true
}

// lookup returns the index of the argument the quoted key names exactly,
// or -1 for none. sure is false for a key with escapes, which only
// decoding tells.
func (d *argDecoder) lookup(key []byte) (i int, sure bool) {
	name := key[1 : len(key)-1]
	for i, a := range d.args {
		if string(name) == a.name {
			return i, true
		}
	}
	return -1, bytes.IndexByte(name, '\\') < 0
}

// setStruct returns the setter of a struct argument (a home), which
// decodes it as decodeObject would; when that fails, decodeObject decodes
// the body again and names the problems.
func setStruct(name string) setter {
	return func(field reflect.Value, value []byte) bool {
		return decodeValue(value, field, name) == nil
	}
}

// setString takes a string; null leaves the argument empty, as
// encoding/json does.
func setString(field reflect.Value, value []byte) bool {
	switch value[0] {
	case '"':
		field.SetString(sessions.Unquote(value))
	case 'n':
	default:
		return false
	}
	return true
}

// setRaw keeps a copy of any value, null included, as json.RawMessage does.
func setRaw(field reflect.Value, value []byte) bool {
	field.SetBytes(bytes.Clone(value))
	return true
}

// setStringMap takes an object of strings; null leaves the map nil, as
// encoding/json does.
func setStringMap(field reflect.Value, value []byte) bool {
	if value[0] == 'n' {
		return true
	}
	m := map[string]string{}
	allStrings := true
	isObject := sessions.WalkObject(value, func(key, value []byte) {
		if value[0] != '"' {
			allStrings = false
			return
		}
		m[sessions.Unquote(key)] = sessions.Unquote(value)
	})
	if !isObject || !allStrings {
		return false
	}
	field.Set(reflect.ValueOf(m))
	return true
}

// setFilter leaves the filter, null included, to its own decoding, as
// encoding/json does.
func setFilter(field reflect.Value, value []byte) bool {
	return field.Addr().Interface().(*sessions.FilterParams).UnmarshalJSON(value) == nil
}

// setPaging leaves paging to its own decoding; null leaves it nil, as
// encoding/json does.
func setPaging(field reflect.Value, value []byte) bool {
	if value[0] == 'n' {
		return true
	}
	p := new(sessions.PagingParams)
	if p.UnmarshalJSON(value) != nil {
		return false
	}
	field.Set(reflect.ValueOf(p))
	return true
}
