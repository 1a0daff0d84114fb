package container

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Item is one component of a config file: its descriptor and its settings
// (the rest of the list item).
type Item struct {
	Descriptor Descriptor
	Config     Config
}

// Load renders a config file's text with params and parses the result into
// its items, in file order. A value that is a whole YAML value of the file
// (`password: {{{MONGO_PASS}}}`) reaches its component as the text given,
// whatever YAML would make of it written plain (`p#ss`, `!x`, `null`): it
// is written quoted then.
func Load(text string, params map[string]string) ([]Item, error) {
	marked, values, err := renderMarked(text, params)
	if err != nil {
		return nil, fmt.Errorf("template %w", err)
	}
	whole := map[int]bool{}
	for _, m := range wholeValueRE.FindAllStringSubmatch(marked, -1) {
		whole[markIndex(m[1])] = true
	}
	// One pass: a value put in is never read again as the text's.
	rendered := markRE.ReplaceAllStringFunc(marked, func(m string) string {
		i := markIndex(m)
		if whole[i] {
			return yamlText(values[i])
		}
		return values[i]
	})
	return ParseItems(rendered)
}

// wholeValueRE matches a line whose value, after a key (plain or quoted)
// or a list item's dash, is one mark, with at most a comment after it; the
// mark is its first group.
var wholeValueRE = regexp.MustCompile(`(?m)^[ \t]*(?:- +)*` +
	`(?:(?:"[^"\r\n]*"|'[^'\r\n]*'|[^\s#:'"\[\]{},&*!|>%@` + "`" + `-][^:#\r\n]*):[ \t]+|- +)` +
	`(` + markStart + `[0-9]+` + markEnd + `)(?:[ \t]+#[^\r\n]*)?[ \t]*\r?$`)

// yamlText returns v as YAML reads it back as the string v: plain when it
// is, else double-quoted, with Go's escapes, which YAML's double quotes
// read alike. Text that is not UTF-8, which YAML cannot hold, is left for
// the parser to refuse.
func yamlText(v string) string {
	if !utf8.ValidString(v) {
		return v
	}
	var n yaml.Node
	if yaml.Unmarshal([]byte(v), &n) == nil && len(n.Content) == 1 {
		if s := n.Content[0]; s.Kind == yaml.ScalarNode && s.Style == 0 && s.Tag != "!!null" && s.Value == v {
			return v
		}
	}
	return strconv.Quote(v)
}

// ParseItems parses rendered config text: a YAML list of maps, each with a
// descriptor. Nested maps arrive as map[string]any, and every scalar as the
// string it is written as (see fromNode).
func ParseItems(rendered string) ([]Item, error) {
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(rendered), &root); err != nil {
		return nil, fmt.Errorf("rendered config is not valid YAML: %s", oneLine(err.Error()))
	}
	doc := fromNode(&root)
	if doc == nil {
		return nil, errors.New("the config is empty; want a YAML list of components, each with a descriptor")
	}
	list, ok := doc.([]any)
	if !ok {
		return nil, fmt.Errorf("the config is a YAML %s; want a list of components, each with a descriptor", yamlKind(doc))
	}
	items := make([]Item, 0, len(list))
	for i, raw := range list {
		m, ok := raw.(map[string]any)
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

// fromNode turns a YAML node into maps of string keys, lists, and scalars
// kept as the text they are written as, as Pip reads a config: a value
// such as a password 007007 or 0x1F stays what it says, not a number
// (the getters of Config convert from the text). A null (~, null, or
// nothing) is nil.
func fromNode(n *yaml.Node) any {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return fromNode(n.Content[0])
	case yaml.AliasNode:
		return fromNode(n.Alias)
	case yaml.SequenceNode:
		list := make([]any, len(n.Content))
		for i, e := range n.Content {
			list[i] = fromNode(e)
		}
		return list
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = fromNode(n.Content[i+1])
		}
		return m
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		return n.Value
	}
	return nil
}

func yamlKind(v any) string {
	switch v.(type) {
	case map[string]any:
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
