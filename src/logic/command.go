package logic

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/sessionsd/service-sessions-go/src/sessions"
)

// maxLengths are the bounds a max tag may name; see sessions.MaxIDLength.
var maxLengths = map[string]int{"session_id": sessions.MaxSessionIDLength, "id": sessions.MaxIDLength}

// Command is one operation of the API, defined once: its wire name, its
// arguments (the json-tagged fields of an argument struct) and its result.
// Request validation, the OpenAPI document and the Go client SDK are all
// derived from it.
type Command struct {
	// Route is the API the command belongs to, e.g. "v1/sessions"; on HTTP
	// the command is POST /<Route>/<Name>.
	Route string
	Name  string
	// Doc is one sentence saying what the command does.
	Doc string
	// Args are the arguments in declaration order.
	Args []Arg
	// Result is the type returned, nil when the command returns nothing.
	Result reflect.Type
	// OrNothing says the command may return nothing instead of its Result
	// (HTTP 204): it looks up or changes something that may not exist.
	OrNothing bool
	// Failures are the errors the command may answer besides invalid
	// arguments and an unavailable store, as its documents list them.
	Failures []Failure
	// OneOf names arguments of which the command needs at least one,
	// none of them required alone; NoneGiven is the problem validation
	// reports, in the place of the first, when none is given.
	OneOf     []string
	NoneGiven string
	// Repeatable says that sending the command again, after an attempt
	// that failed or went unanswered, leaves the store as one attempt
	// would, but for the times it records, and answers alike: it reads, or
	// it sets something to a value given. A client may retry it; it may
	// not retry the others (an open would open twice, a delete answer
	// nothing the second time).
	Repeatable bool

	exec func(ctx context.Context, c *Command, body []byte) (any, error)
	// argsType is the argument struct; fast decodes it in the common case,
	// or is nil when encoding/json always does.
	argsType reflect.Type
	fast     *argDecoder
}

// Arg is one argument of a command, read from a field of its argument struct:
//
//	UserID string `json:"user_id" required:"true" max:"id"`
type Arg struct {
	Name     string
	Type     reflect.Type
	Required bool
	// MaxLen bounds a string argument's length in characters (Unicode code
	// points), as the OpenAPI document's maxLength does.
	MaxLen int
	field  int
}

// Execute decodes and validates the JSON arguments in body (empty means
// {}), runs the command and returns its result: nil, never a typed nil,
// when there is nothing to return.
func (c *Command) Execute(ctx context.Context, body []byte) (any, error) {
	return c.exec(ctx, c, body)
}

// None is the result type of commands that return nothing.
type None struct{}

// define builds a Command from an argument struct type A and the method
// that runs it.
func define[A any, R any](route, name, doc string, run func(context.Context, *A) (R, error)) Command {
	argsType := reflect.TypeFor[A]()
	args := argsOf(argsType)
	fast := newArgDecoder(argsType, args)
	cmd := Command{Route: route, Name: name, Doc: doc, Args: args, argsType: argsType, fast: fast}
	if rt := reflect.TypeFor[R](); rt != reflect.TypeFor[None]() {
		cmd.Result = rt
	}
	cmd.exec = func(ctx context.Context, c *Command, body []byte) (any, error) {
		a := new(A)
		if err := decodeArgs(body, a, c); err != nil {
			return nil, err
		}
		r, err := run(ctx, a)
		if err != nil || c.Result == nil || isNil(r) {
			return nil, err
		}
		return r, nil
	}
	return cmd
}

// orNothing marks a command that may return nothing instead of its result.
func orNothing(c Command) Command {
	c.OrNothing = true
	return c
}

// repeatable marks a command a client may send again (see Command.Repeatable).
func repeatable(c Command) Command {
	c.Repeatable = true
	return c
}

// Failure is an error a command may answer: its code and category.
type Failure struct {
	Code, Category string
}

// needsOneOf says the command needs at least one of the arguments names;
// without any, validation names them together: "a or b must not be null".
func needsOneOf(c Command, names ...string) Command {
	mustBeArgs(c, names)
	c.OneOf = names
	c.NoneGiven = sessions.NullProblem(strings.Join(names, " or "))
	return c
}

// standsInFor says the argument alt may stand in for name, which the
// command otherwise requires: it needs one of them, and without either,
// validation names name alone missing, as it would to a client that knows
// nothing of alt.
func standsInFor(c Command, name, alt string) Command {
	mustBeArgs(c, []string{name, alt})
	c.OneOf = []string{name, alt}
	c.NoneGiven = sessions.NullProblem(name)
	return c
}

// mustBeArgs panics unless every name is an argument of c: a misspelt one
// would leave its check out in silence.
func mustBeArgs(c Command, names []string) {
	for _, name := range names {
		if !slices.ContainsFunc(c.Args, func(a Arg) bool { return a.Name == name }) {
			panic(fmt.Sprintf("command %s: %q is none of its arguments", c.Name, name))
		}
	}
}

// failsWith adds to the failures a command may answer.
func failsWith(c Command, fs ...Failure) Command {
	c.Failures = append(c.Failures, fs...)
	return c
}

// The failures commands list.
var (
	deviceNotRegistered = Failure{sessions.CodeDeviceNotRegistered, sessions.CategoryNotFound}
	maxSessionsExceeded = Failure{sessions.CodeMaxSessionsExceeded, sessions.CategoryConflict}
	deviceMoved         = Failure{sessions.CodeDeviceMoved, sessions.CategoryConflict}
	sessionNotFound     = Failure{sessions.CodeSessionNotFound, sessions.CategoryNotFound}
	sessionExpired      = Failure{sessions.CodeSessionExpired, sessions.CategoryNotFound}
	parentNotFound      = Failure{sessions.CodeParentNotFound, sessions.CategoryBadRequest}
	sessionTooLarge     = Failure{sessions.CodeSessionTooLarge, sessions.CategoryBadRequest}
)

func argsOf(t reflect.Type) []Arg {
	var args []Arg
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Map && f.Type != stringMapType && f.Type != filterParamsType {
			panic(fmt.Sprintf("command argument %s: a map argument is a map[string]string or sessions.FilterParams, not %s", name, f.Type))
		}
		a := Arg{Name: name, Type: f.Type, Required: f.Tag.Get("required") == "true", field: i, MaxLen: sessions.MaxTextLength}
		if m := f.Tag.Get("max"); m != "" {
			n, ok := maxLengths[m]
			if !ok {
				panic(fmt.Sprintf("command argument %s: max tag %q names no bound (session_id or id)", name, m))
			}
			a.MaxLen = n
		}
		args = append(args, a)
	}
	return args
}

var emptyObject = []byte("{}")

// decodeArgs fills a from the JSON body, on the fast path when it takes
// the body, and validates it against the command's arguments, reporting
// problems in Pip.Services' wording.
func decodeArgs(body []byte, a any, c *Command) error {
	body = trimJSONSpace(body)
	if len(body) == 0 || string(body) == "null" { // as the Node service reads them
		body = emptyObject
	}
	if body[0] != '{' {
		if !json.Valid(body) {
			return sessions.BadRequest(sessions.CodeBadJSON, "request body is not valid JSON")
		}
		return sessions.InvalidData("arguments must be a JSON object")
	}
	v := reflect.ValueOf(a).Elem()
	if !c.fast.decode(body, v) {
		if problem := sessions.TooDeep("request body", body); problem != "" {
			return sessions.InvalidData(problem)
		}
		failed, err := decodeFields(body, v, "")
		if err != nil {
			return decodeError(err)
		}
		if len(failed) > 0 {
			return argsProblems(v, c, failed)
		}
	}
	return argsProblems(v, c, nil)
}

// missingField is the problem of a required field of a nested object that
// is missing or null: the object decoded otherwise.
type missingField string

func (m missingField) Error() string { return string(m) }

// checked is an argument with checks of its own (a home), which the
// command runs; argsProblems runs them too when it reports the argument's
// missing fields, so that every problem is told at once.
type checked interface{ Problems() []string }

// argsProblems reports every problem of the arguments at once, in their
// order, as the Node service's validation does: what failed to decode,
// what the others fail of their checks, and, in the place of the first of
// OneOf, that none of them is given.
func argsProblems(v reflect.Value, c *Command, failed map[int]error) error {
	var problems []string
	for _, arg := range c.Args {
		if len(c.OneOf) > 0 && arg.Name == c.OneOf[0] && noneGiven(v, c, failed) {
			problems = append(problems, c.NoneGiven)
		}
		if err, ok := failed[arg.field]; ok {
			start, onlyMissing := len(problems), true
			for _, e := range leaves(err) {
				p, bad := decodeProblem(e)
				if bad != nil {
					return bad
				}
				problems = append(problems, p)
				_, missing := e.(missingField)
				onlyMissing = onlyMissing && missing
			}
			if f := v.Field(arg.field); onlyMissing && f.Kind() == reflect.Pointer && !f.IsNil() {
				if c, ok := f.Interface().(checked); ok {
					for _, p := range c.Problems() {
						if !slices.Contains(problems, p) {
							problems = append(problems, p)
						}
					}
					inFieldOrder(problems[start:], f.Type().Elem(), arg.Name)
				}
			}
			continue
		}
		if p := validate(arg, v.Field(arg.field)); p != "" {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		return sessions.InvalidData(problems...)
	}
	return nil
}

// noneGiven reports whether none of the command's OneOf arguments is given:
// each decoded, and to its zero value (an empty string is no id).
func noneGiven(v reflect.Value, c *Command, failed map[int]error) bool {
	for _, arg := range c.Args {
		if !slices.Contains(c.OneOf, arg.Name) {
			continue
		}
		if _, bad := failed[arg.field]; bad || !v.Field(arg.field).IsZero() {
			return false
		}
	}
	return true
}

// inFieldOrder orders the problems of an object of type t at path by the
// field each names, as they are found one field after another.
func inFieldOrder(problems []string, t reflect.Type, path string) {
	field := func(problem string) int {
		for i := range t.NumField() {
			if name, ok := jsonName(t.Field(i)); ok && strings.HasPrefix(problem, join(path, name)+" ") {
				return i
			}
		}
		return t.NumField()
	}
	slices.SortStableFunc(problems, func(a, b string) int { return cmp.Compare(field(a), field(b)) })
}

// leaves returns the errors err joins (errors.Join), nested joins
// flattened, or err alone.
func leaves(err error) []error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range joined.Unwrap() {
		out = append(out, leaves(e)...)
	}
	return out
}

// decodeObject fills the struct v from the JSON object in body by exact
// key, as JSON.parse and the Node service read arguments: the last of a
// repeated key counts, and a key that names no field (one that differs
// only in case included) is ignored. encoding/json would match keys
// regardless of case and merge a repeated key into its earlier value.
// Nested structs are read the same way; other values go to encoding/json.
// path names v in errors.
// It reports the fields that failed to decode joined (errors.Join).
func decodeObject(body []byte, v reflect.Value, path string) error {
	failed, err := decodeFields(body, v, path)
	if err != nil {
		return err
	}
	var errs []error
	for i := range v.NumField() {
		if e, ok := failed[i]; ok {
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}

// decodeFields is decodeObject with the error of each field that failed
// by its index; err is the object's own, when it is no JSON object.
func decodeFields(body []byte, v reflect.Value, path string) (failed map[int]error, err error) {
	var members map[string]json.RawMessage // a repeated key keeps its last value
	if err := json.Unmarshal(body, &members); err != nil {
		return nil, err
	}
	t := v.Type()
	for i := range t.NumField() {
		name, ok := jsonName(t.Field(i))
		if !ok {
			continue
		}
		raw, found := members[name]
		var err error
		switch {
		case path != "" && t.Field(i).Tag.Get("required") == "true" && (!found || string(raw) == "null"):
			// A nested field's own requirement; an argument's is validate's.
			err = missingField(sessions.NullProblem(join(path, name)))
		case found:
			err = decodeValue(raw, v.Field(i), join(path, name))
		}
		if err != nil {
			if failed == nil {
				failed = map[int]error{}
			}
			failed[i] = err
		}
	}
	return failed, nil
}

// decodeValue fills v from the JSON value raw; path names v in errors.
// An integer may be written as JSON.parse reads one (3.0, 1e3), and a map
// of strings is read entry by entry, so an error names the entry.
func decodeValue(raw []byte, v reflect.Value, path string) error {
	if t := plainStruct(v.Type()); t != nil && raw[0] == '{' {
		if v.Kind() == reflect.Pointer {
			v.Set(reflect.New(t))
			v = v.Elem()
		}
		return decodeObject(raw, v, path)
	}
	if v.Kind() == reflect.Int64 && isNumber(raw) {
		if n, ok := sessions.Integral(string(raw)); ok {
			v.SetInt(n)
			return nil
		}
	}
	if v.Type() == stringMapType && raw[0] == '{' {
		var entries map[string]json.RawMessage
		if err := json.Unmarshal(raw, &entries); err != nil {
			return err
		}
		m := make(map[string]string, len(entries))
		for _, k := range slices.Sorted(maps.Keys(entries)) { // the first bad entry, whatever the map's order
			var s string
			if err := decodeValue(entries[k], reflect.ValueOf(&s).Elem(), join(path, k)); err != nil {
				return err
			}
			m[k] = s
		}
		v.Set(reflect.ValueOf(m))
		return nil
	}
	err := json.Unmarshal(raw, v.Addr().Interface())
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		typeErr.Field = join(path, typeErr.Field)
		if typeErr.Value == "number" { // encoding/json does not say which
			typeErr.Value = "number " + string(raw)
		}
	}
	return err
}

var (
	stringMapType    = reflect.TypeFor[map[string]string]()
	filterParamsType = reflect.TypeFor[sessions.FilterParams]()
)

// isNumber reports whether raw, a JSON value, is a number.
func isNumber(raw []byte) bool { return raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' }

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// plainStruct returns the struct type t is or points to when encoding/json
// would decode it field by field, having no UnmarshalJSON; else nil.
func plainStruct(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	return t
}

// jsonName returns the key of a struct field as encoding/json names it,
// and false for a field it skips.
func jsonName(f reflect.StructField) (string, bool) {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch {
	case !f.IsExported() || name == "-":
		return "", false
	case name == "":
		return f.Name, true
	}
	return name, true
}

// join returns the dotted path of a field inside path.
func join(path, field string) string {
	if path == "" || field == "" {
		return path + field
	}
	return path + "." + field
}

// trimJSONSpace drops the white space JSON allows around a value: space,
// tab, line feed and carriage return, and nothing else.
func trimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func decodeError(err error) error {
	p, bad := decodeProblem(err)
	if bad != nil {
		return bad
	}
	return sessions.InvalidData(p)
}

// decodeProblem returns the problem a decoding error names in Pip's
// wording, or the error to answer instead when the JSON is malformed.
func decodeProblem(err error) (string, error) {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return sessions.TypeProblem(typeErr.Field, typeName(typeErr.Type), jsonKind(typeErr.Value)), nil
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return "", sessions.BadRequest(sessions.CodeBadJSON, "request body is not valid JSON: %v", err)
	}
	// The remaining decoding errors come from the lenient parameter types,
	// whose messages already name the argument.
	return err.Error(), nil
}

// validate checks one decoded argument. It reads v without boxing it
// (reflect's Interface and map iteration allocate), as it runs on every
// argument of every request.
func validate(arg Arg, v reflect.Value) string {
	if v.Type() == rawMessageType {
		raw := v.Bytes()
		if arg.Required && (len(raw) == 0 || string(raw) == "null") {
			return sessions.NullProblem(arg.Name)
		}
		return sessions.PayloadProblem(arg.Name, raw)
	}
	switch v.Kind() {
	case reflect.String:
		if arg.Required && v.Len() == 0 {
			return sessions.NullProblem(arg.Name)
		}
		return sessions.TextProblem(arg.Name, v.String(), arg.MaxLen)
	case reflect.Map:
		if arg.Required && v.IsNil() {
			return sessions.NullProblem(arg.Name)
		}
		m, _ := stringMap(v) // argsOf admits no other map
		return sessions.EntriesProblem(arg.Name, m, arg.MaxLen)
	case reflect.Pointer, reflect.Slice:
		if arg.Required && v.IsNil() {
			return sessions.NullProblem(arg.Name)
		}
	}
	return ""
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

// stringMap returns the map in v when it is a map of strings to strings,
// which every map argument is; a pointer to it boxes without allocating.
func stringMap(v reflect.Value) (map[string]string, bool) {
	if !v.CanAddr() {
		return nil, false
	}
	switch p := v.Addr().Interface().(type) {
	case *map[string]string:
		return *p, true
	case *sessions.FilterParams:
		return *p, true
	}
	return nil, false
}

// typeName names an argument type the way Pip.Services' validation does.
func typeName(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[json.RawMessage]():
		return "any"
	case reflect.TypeFor[sessions.FilterParams]():
		return "FilterParams"
	case reflect.TypeFor[*sessions.PagingParams]():
		return "PagingParams"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "long"
	case reflect.Float64:
		return "double"
	case reflect.Map:
		return "map"
	case reflect.Slice:
		return "array"
	}
	return "object"
}

// jsonKind names the JSON value a type error found, given encoding/json's
// description of it: "string", "number", or "number 1.5" when an integer
// was wanted.
func jsonKind(v string) string {
	switch v {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "array":
		return "array"
	case "object":
		return "map"
	case "number":
		return "long"
	}
	if number, ok := strings.CutPrefix(v, "number "); ok {
		return sessions.NumberKind(number)
	}
	return v
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
