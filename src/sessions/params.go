package sessions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// FilterParams is a filter as it travels on the wire: a map of keys to
// values. Values may arrive as JSON strings, numbers or booleans (the Node
// client sends everything as strings); they are kept as strings.
type FilterParams map[string]string

// UnmarshalJSON accepts an object of scalar values; null values are dropped.
func (f *FilterParams) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*f = nil
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("filter must be an object")
	}
	out := make(FilterParams, len(raw))
	for k, v := range raw {
		s, ok, err := scalarString(v)
		if err != nil {
			return fmt.Errorf("filter.%s must be a string, number or boolean", k)
		}
		if ok {
			out[k] = s
		}
	}
	*f = out
	return nil
}

// PagingParams is a page request as it travels on the wire. Absent or null
// values take the defaults; numbers may arrive as strings.
type PagingParams struct {
	Skip  *int64 `json:"skip"`
	Take  *int64 `json:"take"`
	Total bool   `json:"total"`
}

// UnmarshalJSON accepts numbers or numeric strings, booleans or "true"/"false".
func (p *PagingParams) UnmarshalJSON(b []byte) error {
	*p = PagingParams{}
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("paging must be an object")
	}
	for key, dst := range map[string]**int64{"skip": &p.Skip, "take": &p.Take} {
		s, ok, err := scalarString(raw[key])
		if err != nil || !ok || s == "" {
			if err != nil {
				return fmt.Errorf("paging.%s must be an integer", key)
			}
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("paging.%s must be an integer", key)
		}
		*dst = &n
	}
	if s, ok, err := scalarString(raw["total"]); err != nil {
		return fmt.Errorf("paging.total must be a boolean")
	} else if ok && s != "" {
		t, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("paging.total must be a boolean")
		}
		p.Total = t
	}
	return nil
}

// scalarString returns a JSON scalar as a string; ok is false for absent or null.
func scalarString(v json.RawMessage) (s string, ok bool, err error) {
	if len(v) == 0 || bytes.Equal(v, []byte("null")) {
		return "", false, nil
	}
	switch v[0] {
	case '"':
		err = json.Unmarshal(v, &s)
		return s, err == nil, err
	case '{', '[':
		return "", false, fmt.Errorf("not a scalar")
	}
	return string(v), true, nil
}
