package container

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is one component's settings: the YAML map of its list item. Keys
// are reached by dotted paths ("connection.port"). Values written by the
// template arrive as strings, so every getter converts.
type Config map[string]any

// CheckShape reports a value of a shape no component reads: a section that
// groups keys (connection, credential, options) written as one value, or a
// list anywhere but at the dotted paths in lists. Read as text, either
// would be taken for a value ("[a]" a file's path) or for no section at
// all (every default), where start-up must fail instead.
func (c Config) CheckShape(lists ...string) error {
	for _, section := range []string{"connection", "credential", "options"} {
		v, ok := c.Get(section)
		if _, isMap := v.(map[string]any); ok && !isMap {
			if _, isConfig := v.(Config); !isConfig {
				return fmt.Errorf("%s: %v is one value; it must be a section of keys (%s.…)", section, v, section)
			}
		}
	}
	return checkLists(map[string]any(c), "", lists)
}

func checkLists(m map[string]any, prefix string, lists []string) error {
	for k, v := range m {
		path := prefix + k
		switch v := v.(type) {
		case map[string]any:
			if err := checkLists(v, path+".", lists); err != nil {
				return err
			}
		case Config:
			if err := checkLists(v, path+".", lists); err != nil {
				return err
			}
		case []any:
			if !slices.ContainsFunc(lists, func(l string) bool { return strings.EqualFold(l, path) }) {
				return fmt.Errorf("%s: a list, where one value belongs", path)
			}
		}
	}
	return nil
}

// Get returns the value at a dotted path; ok is false when it is absent or null.
func (c Config) Get(path string) (v any, ok bool) {
	v, ok = c.find(path)
	return v, ok && v != nil
}

// Has reports whether the key at a dotted path is written, even with
// nothing (null) after it.
func (c Config) Has(path string) bool {
	_, ok := c.find(path)
	return ok
}

// find returns the value at a dotted path, and whether its key is there.
func (c Config) find(path string) (v any, ok bool) {
	var cur any = map[string]any(c)
	for _, key := range strings.Split(path, ".") {
		m, isMap := cur.(map[string]any)
		if !isMap {
			if cm, isConfig := cur.(Config); isConfig {
				m, isMap = map[string]any(cm), true
			}
		}
		if !isMap {
			return nil, false
		}
		if cur, ok = lookup(m, key); !ok {
			return nil, false
		}
	}
	return cur, true
}

// lookup finds key in m, falling back to a case-insensitive match as Pip's
// configuration does.
func lookup(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// Section returns the map at path as a Config, empty when absent.
func (c Config) Section(path string) Config {
	v, ok := c.Get(path)
	if !ok {
		return Config{}
	}
	switch m := v.(type) {
	case map[string]any:
		return Config(m)
	case Config:
		return m
	}
	return Config{}
}

// String returns the value at path as a string, or def when absent or empty.
func (c Config) String(path, def string) string {
	v, ok := c.Get(path)
	if !ok {
		return def
	}
	s := strings.TrimSpace(fmt.Sprint(v))
	if s == "" {
		return def
	}
	return s
}

// Int returns the value at path as an integer, or def when absent or empty.
func (c Config) Int(path string, def int64) (int64, error) {
	s := c.String(path, "")
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && f == float64(int64(f)) {
			return int64(f), nil
		}
		return 0, fmt.Errorf("%s: %q is not an integer", path, s)
	}
	return n, nil
}

// Bool returns the value at path as a boolean, or def when absent or empty.
func (c Config) Bool(path string, def bool) (bool, error) {
	s := c.String(path, "")
	if s == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(strings.ToLower(s))
	if err != nil {
		return false, fmt.Errorf("%s: %q is not a boolean", path, s)
	}
	return b, nil
}

// Millis returns the value at path, a number of milliseconds as every Pip
// duration is, or def when absent. Negative values are rejected.
func (c Config) Millis(path string, def time.Duration) (time.Duration, error) {
	n, err := c.Int(path, -1)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number of milliseconds", path, c.String(path, ""))
	}
	if n == -1 && c.String(path, "") == "" {
		return def, nil
	}
	if n < 0 {
		return 0, fmt.Errorf("%s: %d must not be negative", path, n)
	}
	if n > int64(maxDuration/time.Millisecond) {
		return 0, fmt.Errorf("%s: %d ms is longer than %v", path, n, maxDuration)
	}
	return time.Duration(n) * time.Millisecond, nil
}

// maxDuration is the longest time.Duration.
const maxDuration = time.Duration(1<<63 - 1)

// List returns the values at path: a YAML list, or a comma-separated
// string; empty entries (null ones included) are dropped.
func (c Config) List(path string) []string {
	v, ok := c.Get(path)
	if !ok {
		return nil
	}
	items, isList := v.([]any)
	if !isList {
		items = []any{v}
	}
	var out []string
	for _, item := range items {
		if item == nil {
			continue
		}
		for _, s := range strings.Split(fmt.Sprint(item), ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
