package container

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// renderMarked renders a template: it expands the handlebars constructs a
// Pip.Services config file uses: {{X}} (HTML-escaped as handlebars
// escapes), {{{X}}} and {{&X}} (raw), {{#if X}}…{{/if}} and
// {{#unless X}}…{{/unless}} with an optional {{else}} (or {{else if Y}} /
// {{else unless Y}}), nested to any depth, and {{! comments }}. A parameter
// is true when it is not empty; a missing one is empty. Parameter names are
// case-insensitive. As in handlebars, a block tag alone on its line takes
// the whole line with it, and ~ inside a tag trims the whitespace on that
// side. Malformed or unbalanced tags are reported with their line number.
//
// It puts a mark in place of each value it substitutes, and returns the
// values apart, in the order of their marks, so that a caller that knows
// the text's syntax can write each one as that syntax needs (see Load).
func renderMarked(text string, params map[string]string) (string, []string, error) {
	if strings.ContainsAny(text, markStart+markEnd) {
		return "", nil, fmt.Errorf("holds U+E000 or U+E001, which the template marks values with")
	}
	toks, err := tokenize(text)
	if err != nil {
		return "", nil, err
	}
	trimWhitespace(toks)
	nodes, err := parse(toks)
	if err != nil {
		return "", nil, err
	}
	values := make(map[string]string, len(params))
	for k, v := range params {
		values[strings.ToLower(k)] = v
	}
	r := renderer{values: values}
	r.b.Grow(len(text))
	r.render(nodes)
	return r.b.String(), r.out, nil
}

// templateParam is a template parameter and its value.
type templateParam struct{ Name, Value string }

// falseLooking returns, in the order of text, the parameters a block of
// text tests ({{#if X}}, {{#unless X}}, {{else if X}}) that are set to
// text reading as false: "false", "0", "no" or "off", in any case. Being
// set, they count as true, as any parameter that is not empty does in
// Pip.Services: MEMORY_ENABLED=false turns the memory store on.
func falseLooking(text string, params map[string]string) []templateParam {
	toks, err := tokenize(text)
	if err != nil {
		return nil
	}
	values := make(map[string]string, len(params))
	for k, v := range params {
		values[strings.ToLower(k)] = v
	}
	var out []templateParam
	for _, t := range toks {
		v := values[strings.ToLower(t.name)]
		if (t.kind == tokOpen || t.kind == tokElse) && t.name != "" && looksFalse(v) &&
			!slices.ContainsFunc(out, func(p templateParam) bool { return strings.EqualFold(p.Name, t.name) }) {
			out = append(out, templateParam{t.name, v})
		}
	}
	return out
}

func looksFalse(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "false", "0", "no", "off":
		return true
	}
	return false
}

// A value's mark is its index between two private-use characters, which a
// config's text never holds.
const (
	markStart = "\ue000"
	markEnd   = "\ue001"
)

var markRE = regexp.MustCompile(markStart + `[0-9]+` + markEnd)

// markIndex returns the index a mark holds.
func markIndex(mark string) int {
	n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(mark, markStart), markEnd))
	return n
}

type tokKind int

const (
	tokText tokKind = iota
	tokValue
	tokOpen
	tokElse
	tokClose
	tokComment
)

// token is a piece of template text or one {{…}} tag.
type token struct {
	kind   tokKind
	text   string // tokText: the text as rendered (whitespace control may trim it)
	orig   string // tokText: the text as written, for standalone detection
	helper string // tokOpen, tokClose, tokElse (chained): "if" or "unless"
	name   string // the parameter
	raw    bool   // tokValue: no HTML escaping
	line   int
	// trimLeft and trimRight record a ~ on either side of the tag.
	trimLeft, trimRight bool
}

// tokenize splits text into text tokens and tags, keeping the line of each tag.
func tokenize(text string) ([]token, error) {
	var toks []token
	var pending strings.Builder
	line := 1
	flush := func() {
		if pending.Len() > 0 {
			s := pending.String()
			toks = append(toks, token{kind: tokText, text: s, orig: s})
			pending.Reset()
		}
	}
	for len(text) > 0 {
		i := strings.Index(text, "{{")
		if i < 0 {
			pending.WriteString(text)
			break
		}
		if i > 0 && text[i-1] == '\\' {
			// \{{ is a literal {{, as in handlebars.
			pending.WriteString(text[:i-1])
			pending.WriteString("{{")
			line += strings.Count(text[:i], "\n")
			text = text[i+2:]
			continue
		}
		pending.WriteString(text[:i])
		line += strings.Count(text[:i], "\n")
		text = text[i:]

		tok, n, err := readTag(text, line)
		if err != nil {
			return nil, err
		}
		flush()
		toks = append(toks, tok)
		line += strings.Count(text[:n], "\n")
		text = text[n:]
	}
	flush()
	return toks, nil
}

// readTag reads the tag at the start of text, which begins with "{{", and
// returns it with the number of bytes it spans.
func readTag(text string, line int) (token, int, error) {
	tok := token{line: line}
	open, closing := "{{", "}}"
	switch {
	case strings.HasPrefix(text, "{{{") || strings.HasPrefix(text, "{{~{"):
		open, closing, tok.raw = "{{{", "}}}", true
	case strings.HasPrefix(text, "{{!--") || strings.HasPrefix(text, "{{~!--"):
		closing = "--}}"
	}
	start := 2
	if strings.HasPrefix(text[2:], "~") {
		tok.trimLeft = true
		start = 3
	}
	if tok.raw {
		start++
	}
	end := strings.Index(text[start:], closing)
	if end < 0 {
		return token{}, 0, fmt.Errorf("line %d: %s is not closed with %s", line, open, closing)
	}
	end += start
	n := end + len(closing)
	body := text[start:end]
	if closing == "--}}" || (!tok.raw && strings.HasPrefix(body, "!")) {
		tok.trimRight = strings.HasSuffix(body, "~")
		tok.kind = tokComment
		return tok, n, nil
	}
	if strings.HasSuffix(body, "~") {
		tok.trimRight = true
		body = body[:len(body)-1]
	}
	body = strings.TrimSpace(body)
	tag := text[:n]

	if tok.raw {
		if !validName(body) {
			return token{}, 0, fmt.Errorf("line %d: %s: want a parameter name", line, tag)
		}
		tok.kind, tok.name = tokValue, body
		return tok, n, nil
	}
	switch {
	case body == "":
		return token{}, 0, fmt.Errorf("line %d: empty tag %s", line, tag)
	case body[0] == '#':
		f := strings.Fields(body[1:])
		if len(f) == 0 || (f[0] != "if" && f[0] != "unless") {
			return token{}, 0, fmt.Errorf("line %d: %s: only {{#if X}} and {{#unless X}} blocks are supported", line, tag)
		}
		if len(f) != 2 || !validName(f[1]) {
			return token{}, 0, fmt.Errorf("line %d: %s: {{#%s}} takes one parameter name", line, tag, f[0])
		}
		tok.kind, tok.helper, tok.name = tokOpen, f[0], f[1]
	case body[0] == '/':
		name := strings.TrimSpace(body[1:])
		if name != "if" && name != "unless" {
			return token{}, 0, fmt.Errorf("line %d: %s: only {{/if}} and {{/unless}} close a block", line, tag)
		}
		tok.kind, tok.helper = tokClose, name
	case body == "else" || body == "^":
		tok.kind = tokElse
	case strings.HasPrefix(body, "else ") || strings.HasPrefix(body, "else\t"):
		f := strings.Fields(body)
		if len(f) != 3 || (f[1] != "if" && f[1] != "unless") || !validName(f[2]) {
			return token{}, 0, fmt.Errorf("line %d: %s: want {{else}}, {{else if X}} or {{else unless X}}", line, tag)
		}
		tok.kind, tok.helper, tok.name = tokElse, f[1], f[2]
	case body[0] == '&':
		name := strings.TrimSpace(body[1:])
		if !validName(name) {
			return token{}, 0, fmt.Errorf("line %d: %s: want a parameter name", line, tag)
		}
		tok.kind, tok.name, tok.raw = tokValue, name, true
	case validName(body):
		tok.kind, tok.name = tokValue, body
	default:
		return token{}, 0, fmt.Errorf("line %d: %s: unsupported expression; want {{NAME}}, {{{NAME}}}, {{#if NAME}}, {{#unless NAME}}, {{else}} or a closing tag", line, tag)
	}
	return tok, n, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_$:.-]+$`)

func validName(s string) bool { return nameRE.MatchString(s) && s != "else" }

var (
	lineEndRE   = regexp.MustCompile(`\n[ \t\r\f\v]*$`)
	lineStartRE = regexp.MustCompile(`^[ \t\r\f\v]*\n`)
	blankRE     = regexp.MustCompile(`^[ \t\r\f\v]*$`)
	leadLineRE  = regexp.MustCompile(`^[ \t]*\r?\n?`)
	trailBlank  = regexp.MustCompile(`[ \t]+$`)
)

// trimWhitespace applies handlebars whitespace control: ~ trims every
// whitespace on its side, and a block or comment tag standing alone on its
// line removes that line (its indentation and its line break).
func trimWhitespace(toks []token) {
	for i := range toks {
		t := &toks[i]
		if t.kind == tokText {
			continue
		}
		if t.trimLeft && i > 0 && toks[i-1].kind == tokText {
			toks[i-1].text = strings.TrimRight(toks[i-1].text, " \t\r\n\f\v")
		}
		if t.trimRight && i+1 < len(toks) && toks[i+1].kind == tokText {
			toks[i+1].text = strings.TrimLeft(toks[i+1].text, " \t\r\n\f\v")
		}
	}
	for i := range toks {
		if k := toks[i].kind; k == tokText || k == tokValue {
			continue
		}
		// Decide on the text as written, as handlebars does, then trim.
		prevOK := i == 0 ||
			(toks[i-1].kind == tokText && (lineEndRE.MatchString(toks[i-1].orig) ||
				(i == 1 && blankRE.MatchString(toks[i-1].orig))))
		nextOK := i == len(toks)-1 ||
			(toks[i+1].kind == tokText && (lineStartRE.MatchString(toks[i+1].orig) ||
				(i+2 == len(toks) && blankRE.MatchString(toks[i+1].orig))))
		if !prevOK || !nextOK {
			continue
		}
		if i > 0 {
			toks[i-1].text = trailBlank.ReplaceAllString(toks[i-1].text, "")
		}
		if i+1 < len(toks) {
			toks[i+1].text = leadLineRE.ReplaceAllString(toks[i+1].text, "")
		}
	}
}

type nodeKind int

const (
	nodeText nodeKind = iota
	nodeValue
	nodeBlock
)

// node is one element of the parsed template.
type node struct {
	kind   nodeKind
	text   string
	name   string
	raw    bool
	unless bool
	then   []node
	els    []node
}

// parser turns the token list into a tree of blocks.
type parser struct {
	toks []token
	pos  int
}

func parse(toks []token) ([]node, error) {
	p := &parser{toks: toks}
	nodes, end, err := p.body()
	if err != nil {
		return nil, err
	}
	if end != nil {
		switch end.kind {
		case tokElse:
			return nil, fmt.Errorf("line %d: {{else}} outside an {{#if}} or {{#unless}} block", end.line)
		default:
			return nil, fmt.Errorf("line %d: {{/%s}} without a matching {{#%s}}", end.line, end.helper, end.helper)
		}
	}
	return nodes, nil
}

// body reads nodes up to an {{else}}, a closing tag (returned as end) or the
// end of the template (end is nil).
func (p *parser) body() (nodes []node, end *token, err error) {
	for p.pos < len(p.toks) {
		t := &p.toks[p.pos]
		p.pos++
		switch t.kind {
		case tokText:
			if t.text != "" {
				nodes = append(nodes, node{kind: nodeText, text: t.text})
			}
		case tokValue:
			nodes = append(nodes, node{kind: nodeValue, name: strings.ToLower(t.name), raw: t.raw})
		case tokComment:
		case tokOpen:
			n, err := p.block(t, t)
			if err != nil {
				return nil, nil, err
			}
			nodes = append(nodes, n)
		case tokElse, tokClose:
			return nodes, t, nil
		}
	}
	return nodes, nil, nil
}

// block reads the rest of the block that open starts. first is the
// {{#helper}} tag the chain began with, which names the closing tag.
func (p *parser) block(open, first *token) (node, error) {
	n := node{kind: nodeBlock, name: strings.ToLower(open.name), unless: open.helper == "unless"}
	then, end, err := p.body()
	if err != nil {
		return node{}, err
	}
	n.then = then
	if end != nil && end.kind == tokElse {
		if end.helper != "" {
			chained, err := p.block(end, first)
			if err != nil {
				return node{}, err
			}
			n.els = []node{chained}
			return n, nil
		}
		els, end2, err := p.body()
		if err != nil {
			return node{}, err
		}
		if end2 != nil && end2.kind == tokElse {
			return node{}, fmt.Errorf("line %d: second {{else}} in the {{#%s %s}} block opened on line %d", end2.line, first.helper, first.name, first.line)
		}
		n.els, end = els, end2
	}
	if end == nil {
		return node{}, fmt.Errorf("line %d: {{#%s %s}} is never closed with {{/%s}}", first.line, first.helper, first.name, first.helper)
	}
	if end.helper != first.helper {
		return node{}, fmt.Errorf("line %d: {{/%s}} does not match {{#%s %s}} opened on line %d", end.line, end.helper, first.helper, first.name, first.line)
	}
	return n, nil
}

// renderer writes a template's text with a mark for each value, which it
// keeps in out.
type renderer struct {
	values map[string]string
	b      strings.Builder
	out    []string
}

func (r *renderer) render(nodes []node) {
	for _, n := range nodes {
		switch n.kind {
		case nodeText:
			r.b.WriteString(n.text)
		case nodeValue:
			v := r.values[n.name]
			if !n.raw {
				v = escapeHTML(v)
			}
			if v == "" {
				continue
			}
			r.b.WriteString(markStart + strconv.Itoa(len(r.out)) + markEnd)
			r.out = append(r.out, v)
		case nodeBlock:
			if (r.values[n.name] != "") != n.unless {
				r.render(n.then)
			} else {
				r.render(n.els)
			}
		}
	}
}

var htmlEscaper = strings.NewReplacer(
	"&", "&amp;",
	"<", "&lt;",
	">", "&gt;",
	`"`, "&quot;",
	"'", "&#x27;",
	"`", "&#x60;",
	"=", "&#x3D;",
)

// escapeHTML escapes exactly the characters handlebars escapes.
func escapeHTML(s string) string { return htmlEscaper.Replace(s) }
