package main

import (
	"go/token"
	"strings"
	"unicode"
)

// initialisms are kept whole in Go names, as Go Code Review Comments asks:
// user_id → UserID, not UserId.
var initialisms = map[string]bool{
	"ACL": true, "API": true, "ASCII": true, "CPU": true, "CSS": true, "DNS": true,
	"EOF": true, "GUID": true, "HTML": true, "HTTP": true, "HTTPS": true, "ID": true,
	"IP": true, "JSON": true, "QPS": true, "RAM": true, "RPC": true, "SLA": true,
	"SMTP": true, "SQL": true, "SSH": true, "TCP": true, "TLS": true, "TTL": true,
	"UDP": true, "UI": true, "UID": true, "UUID": true, "URI": true, "URL": true,
	"UTF8": true, "VM": true, "XML": true, "XMPP": true, "XSRF": true, "XSS": true,
}

// exportedName turns a wire name (snake_case) into an exported Go name:
// get_session_by_id → GetSessionByID.
func exportedName(wire string) string {
	var b strings.Builder
	for _, word := range words(wire) {
		if up := strings.ToUpper(word); initialisms[up] {
			b.WriteString(up)
			continue
		}
		r := []rune(word)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}

// paramName turns a wire name into a parameter name: session_id →
// sessionID, id → id. Names that would collide with a keyword, a
// predeclared identifier or a name the generated bodies use get a suffix.
func paramName(wire string) string {
	ws := words(wire)
	var b strings.Builder
	for i, word := range ws {
		if i == 0 {
			b.WriteString(strings.ToLower(word))
			continue
		}
		b.WriteString(exportedName(word))
	}
	name := b.String()
	if token.IsKeyword(name) || reserved[name] {
		name += "Arg"
	}
	return name
}

// reserved are the identifiers a parameter must not shadow: the receiver,
// ctx, the packages the generated code refers to, and predeclared names.
var reserved = map[string]bool{
	"c": true, "ctx": true, "err": true, "args": true, "none": true, "httpCall": true, "directCall": true, "repeatable": true,
	"context": true, "sessions": true, "json": true, "time": true,
	"any": true, "bool": true, "byte": true, "error": true, "int": true, "int64": true,
	"string": true, "rune": true, "float64": true, "nil": true, "true": true, "false": true,
	"len": true, "cap": true, "new": true, "make": true, "append": true, "copy": true,
	"delete": true, "panic": true, "min": true, "max": true, "clear": true, "close": true,
	"iota": true, "print": true, "println": true, "recover": true, "complex": true,
	"real": true, "imag": true,
}

// words splits a wire name on underscores, dashes, dots and slashes,
// dropping empty parts.
func words(wire string) []string {
	return strings.FieldsFunc(wire, func(r rune) bool {
		return r == '_' || r == '-' || r == '.' || r == '/' || unicode.IsSpace(r)
	})
}

// validIdent reports whether s can be a Go identifier.
func validIdent(s string) bool {
	return s != "" && token.IsIdentifier(s)
}
