package container

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Item is one component of a config file: its descriptor and its settings
// (the rest of the list item).
type Item struct {
	Descriptor Descriptor
	Config     Config
}

// Load renders a config file's text with params and parses the result into
// its items, in file order.
func Load(text string, params map[string]string) ([]Item, error) {
	rendered, err := Render(text, params)
	if err != nil {
		return nil, fmt.Errorf("template %w", err)
	}
	return ParseItems(rendered)
}

// ParseItems parses rendered config text: a YAML list of maps, each with a
// descriptor. Nested maps arrive as map[string]any.
func ParseItems(rendered string) ([]Item, error) {
	var doc any
	if err := yaml.Unmarshal([]byte(rendered), &doc); err != nil {
		return nil, fmt.Errorf("rendered config is not valid YAML: %s", oneLine(err.Error()))
	}
	if doc == nil {
		return nil, errors.New("the config is empty; want a YAML list of components, each with a descriptor")
	}
	list, ok := doc.([]any)
	if !ok {
		return nil, fmt.Errorf("the config is a YAML %s; want a list of components, each with a descriptor", yamlKind(doc))
	}
	items := make([]Item, 0, len(list))
	for i, raw := range list {
		m, ok := normalize(raw).(map[string]any)
		if !ok {
			return nil, fmt.Errorf("item %d: is a YAML %s; want a map with a descriptor", i+1, yamlKind(raw))
		}
		dv, ok := m["descriptor"]
		if !ok || dv == nil {
			return nil, fmt.Errorf("item %d: missing descriptor", i+1)
		}
		ds, ok := dv.(string)
		if !ok {
			return nil, fmt.Errorf("item %d: descriptor %v is not a string", i+1, dv)
		}
		d, err := ParseDescriptor(ds)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i+1, err)
		}
		if strings.Contains(ds, "*") {
			return nil, fmt.Errorf("item %d: descriptor %q names no single component; \"*\" is for locators", i+1, ds)
		}
		delete(m, "descriptor")
		items = append(items, Item{Descriptor: d, Config: Config(m)})
	}
	return items, nil
}

// normalize turns the map[any]any YAML gives for non-string keys into
// map[string]any, at every depth, so Config sees one map type.
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = normalize(e)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = normalize(e)
		}
		return t
	}
	return v
}

func yamlKind(v any) string {
	switch v.(type) {
	case map[string]any, map[any]any:
		return "map"
	case []any:
		return "list"
	case nil:
		return "null"
	}
	return fmt.Sprintf("scalar (%v)", v)
}

// oneLine joins a multi-line message so that every error stays on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
