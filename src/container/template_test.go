package container

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		params map[string]string
		want   string
	}{
		{"plain text", "a: 1\n", nil, "a: 1\n"},
		{"value", "port: {{PORT}}", map[string]string{"PORT": "8080"}, "port: 8080"},
		{"value with spaces", "port: {{ PORT }}", map[string]string{"PORT": "8080"}, "port: 8080"},
		{"missing value is empty", "port: {{PORT}}", nil, "port: "},
		{"names are case-insensitive", "{{http_port}}/{{Http_Port}}", map[string]string{"HTTP_PORT": "80"}, "80/80"},
		{"param names are case-insensitive", "{{HTTP_PORT}}", map[string]string{"http_port": "80"}, "80"},
		{"value is escaped as handlebars does", "{{X}}", map[string]string{"X": "a&b<c>\"d'e`f=g"},
			"a&amp;b&lt;c&gt;&quot;d&#x27;e&#x60;f&#x3D;g"},
		{"triple-stash is raw", "{{{X}}}", map[string]string{"X": "mongodb://u:p@h/db?a=b&c=d"},
			"mongodb://u:p@h/db?a=b&c=d"},
		{"ampersand is raw", "{{& X}}", map[string]string{"X": "a=b"}, "a=b"},
		{"if true", "{{#if A}}yes{{/if}}", map[string]string{"A": "true"}, "yes"},
		{"if false is any non-empty", "{{#if A}}yes{{/if}}", map[string]string{"A": "false"}, "yes"},
		{"if zero is non-empty", "{{#if A}}yes{{/if}}", map[string]string{"A": "0"}, "yes"},
		{"if empty", "{{#if A}}yes{{/if}}", map[string]string{"A": ""}, ""},
		{"if missing", "{{#if A}}yes{{/if}}", nil, ""},
		{"if else", "{{#if A}}yes{{else}}no{{/if}}", nil, "no"},
		{"if caret else", "{{#if A}}yes{{^}}no{{/if}}", nil, "no"},
		{"unless", "{{#unless A}}no A{{/unless}}", nil, "no A"},
		{"unless set", "{{#unless A}}no A{{/unless}}", map[string]string{"a": "1"}, ""},
		{"unless else", "{{#unless A}}no{{else}}yes{{/unless}}", map[string]string{"A": "1"}, "yes"},
		{"else if", "{{#if A}}a{{else if B}}b{{else}}c{{/if}}", map[string]string{"B": "1"}, "b"},
		{"else if falls through", "{{#if A}}a{{else if B}}b{{else}}c{{/if}}", nil, "c"},
		{"else unless", "{{#if A}}a{{else unless B}}not b{{/if}}", nil, "not b"},
		{"nested", "{{#if A}}[{{#unless B}}{{X}}{{/unless}}]{{/if}}", map[string]string{"A": "1", "X": "x"}, "[x]"},
		{"nested unless chain, none set", "{{#unless A}}{{#unless B}}{{#unless C}}default{{/unless}}{{/unless}}{{/unless}}", nil, "default"},
		{"nested unless chain, one set", "{{#unless A}}{{#unless B}}{{#unless C}}default{{/unless}}{{/unless}}{{/unless}}",
			map[string]string{"B": "true"}, ""},
		{"default after value", `path: {{P}}{{#unless P}}"x.json"{{/unless}}`, nil, `path: "x.json"`},
		{"value before default", `path: {{P}}{{#unless P}}"x.json"{{/unless}}`, map[string]string{"P": "y.json"}, `path: y.json`},
		{"standalone block lines vanish", "a\n{{#if A}}\nb\n{{/if}}\nc\n", map[string]string{"A": "1"}, "a\nb\nc\n"},
		{"indented standalone block lines vanish", "a\n  {{#if A}}\n  b\n  {{else}}\n  d\n  {{/if}}\nc\n", nil, "a\n  d\nc\n"},
		{"standalone at start and end", "{{#if A}}\nb\n{{/if}}", map[string]string{"A": "1"}, "b\n"},
		{"several tags on a line are not standalone", "{{#if A}}{{#if B}}\nx\n{{/if}}{{/if}}\n", map[string]string{"A": "1", "B": "1"}, "\nx\n\n"},
		{"value lines stay", "{{X}}\n", nil, "\n"},
		{"comment", "a{{! note }}b{{!-- {{not a tag}} --}}c", nil, "abc"},
		{"tilde trims whitespace", "a \n {{~X~}} \n b", map[string]string{"X": "x"}, "axb"},
		{"escaped braces", `\{{X}}`, map[string]string{"X": "x"}, "{{X}}"},
		{"lone braces", "a: {b: 1}", nil, "a: {b: 1}"},
		{"crlf standalone", "a\r\n{{#if A}}\r\nb\r\n{{/if}}\r\n", map[string]string{"A": "1"}, "a\r\nb\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := render(tt.text, tt.params)
			if err != nil {
				t.Fatalf("render(%q): got error %v; want none", tt.text, err)
			}
			if got != tt.want {
				t.Errorf("render(%q): got %q; want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string // the error starts with it
	}{
		{"unclosed if", "a\n{{#if A}}\nb\n", "line 2: {{#if A}} is never closed with {{/if}}"},
		{"unclosed inner block", "{{#if A}}\n{{#unless B}}\n{{/if}}", "line 3: {{/if}} does not match {{#unless B}} opened on line 2"},
		{"mismatched close", "\n\n{{#if A}}x{{/unless}}", "line 3: {{/unless}} does not match {{#if A}} opened on line 3"},
		{"close without open", "a\nb\n{{/if}}", "line 3: {{/if}} without a matching {{#if}}"},
		{"else outside block", "a\n{{else}}", "line 2: {{else}} outside an {{#if}} or {{#unless}} block"},
		{"two elses", "{{#if A}}\na{{else}}b\n{{else}}c{{/if}}", "line 3: second {{else}} in the {{#if A}} block opened on line 1"},
		{"chained else unclosed", "{{#if A}}a\n{{else if B}}b", "line 1: {{#if A}} is never closed"},
		{"chained else mismatched close", "{{#if A}}a{{else unless B}}b\n{{/unless}}", "line 2: {{/unless}} does not match {{#if A}}"},
		{"unterminated tag", "a\nport: {{PORT\n", "line 2: {{ is not closed with }}"},
		{"unterminated triple-stash", "a\n\nuri: {{{URI}}\n", "line 3: {{{ is not closed with }}}"},
		{"if without parameter", "{{#if}}x{{/if}}", "line 1: {{#if}}: {{#if}} takes one parameter name"},
		{"if with two parameters", "{{#if A B}}x{{/if}}", "line 1: {{#if A B}}: {{#if}} takes one parameter name"},
		{"unsupported block helper", "\n{{#each A}}x{{/each}}", "line 2: {{#each A}}: only {{#if X}} and {{#unless X}} blocks are supported"},
		{"unsupported close", "{{#if A}}x{{/each}}", "line 1: {{/each}}: only {{/if}} and {{/unless}} close a block"},
		{"helper call", "{{lookup A B}}", "line 1: {{lookup A B}}: unsupported expression"},
		{"partial", "{{> other}}", "line 1: {{> other}}: unsupported expression"},
		{"empty tag", "x {{ }}", "line 1: empty tag {{ }}"},
		{"bad raw name", "{{{a b}}}", "line 1: {{{a b}}}: want a parameter name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := render(tt.text, map[string]string{"A": "1"})
			if err == nil {
				t.Fatalf("render(%q): got %q and no error; want error %q", tt.text, got, tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("render(%q): got error %q; want it to start with %q", tt.text, err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("render(%q): got a multi-line error %q; want one line", tt.text, err)
			}
		})
	}
}

// render renders text with each value put in place of its mark.
func render(text string, params map[string]string) (string, error) {
	marked, values, err := renderMarked(text, params)
	if err != nil {
		return "", err
	}
	return markRE.ReplaceAllStringFunc(marked, func(m string) string { return values[markIndex(m)] }), nil
}
