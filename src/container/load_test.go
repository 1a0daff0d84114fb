package container

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// nodeConfig returns the Pip.Services Node sessions service's own config
// file, kept verbatim in testdata.
func nodeConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "pip-node-config.yml"))
	if err != nil {
		t.Fatalf("read node config: %v", err)
	}
	return string(b)
}

func descriptorStrings(items []Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Descriptor.String()
	}
	return out
}

func TestLoadNodeConfig(t *testing.T) {
	head := []string{
		"pip-services:context-info:default:default:1.0",
		"pip-services:logger:console:default:1.0",
		"pip-services:counters:log:default:1.0",
	}
	httpTail := []string{
		"service-sessions:controller:default:default:1.0",
		"pip-services:endpoint:http:default:1.0",
		"service-sessions:service:commandable-http:default:1.0",
		"pip-services:heartbeat-service:http:default:1.0",
		"pip-services:status-service:http:default:1.0",
		"pip-services:swagger-service:http:default:1.0",
	}
	with := func(persistence string, tail []string) []string {
		out := append([]string{}, head...)
		out = append(out, "service-sessions:persistence:"+persistence+":default:1.0")
		return append(out, tail...)
	}
	tests := []struct {
		name   string
		params map[string]string
		want   []string
	}{
		{"no parameters: memory, no HTTP", nil, with("memory", httpTail[:1])},
		{"memory over HTTP", map[string]string{"HTTP_ENABLED": "true"}, with("memory", httpTail)},
		{"explicit memory", map[string]string{"MEMORY_ENABLED": "true", "HTTP_ENABLED": "true"}, with("memory", httpTail)},
		{"file over HTTP", map[string]string{"FILE_ENABLED": "true", "HTTP_ENABLED": "true"}, with("file", httpTail)},
		{"mongodb over HTTP", map[string]string{"MONGO_ENABLED": "true", "HTTP_ENABLED": "true"}, with("mongodb", httpTail)},
		{"lower-case parameter names", map[string]string{"mongo_enabled": "1", "http_enabled": "1"}, with("mongodb", httpTail)},
		{"gRPC", map[string]string{"GRPC_ENABLED": "true"}, append(with("memory", httpTail[:1]),
			"pip-services:endpoint:grpc:default:1.0",
			"service-sessions:service:grpc:default:1.0",
			"service-sessions:service:commandable-grpc:default:1.0")},
	}
	text := nodeConfig(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := Load(text, tt.params)
			if err != nil {
				t.Fatalf("Load: got error %v; want none", err)
			}
			if got := descriptorStrings(items); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("descriptors:\ngot  %q;\nwant %q", got, tt.want)
			}
		})
	}
}

// find returns the config of the first item with descriptor d.
func find(t *testing.T, items []Item, d string) Config {
	t.Helper()
	for _, it := range items {
		if it.Descriptor.String() == d {
			return it.Config
		}
	}
	t.Fatalf("no item %s among %q", d, descriptorStrings(items))
	return nil
}

func TestLoadNodeConfigSettings(t *testing.T) {
	const (
		info     = "pip-services:context-info:default:default:1.0"
		logger   = "pip-services:logger:console:default:1.0"
		file     = "service-sessions:persistence:file:default:1.0"
		mongo    = "service-sessions:persistence:mongodb:default:1.0"
		endpoint = "pip-services:endpoint:http:default:1.0"
		service  = "service-sessions:service:commandable-http:default:1.0"
	)
	tests := []struct {
		name       string
		params     map[string]string
		descriptor string
		key        string
		want       string
	}{
		{"info name", nil, info, "name", "service-sessions"},
		{"info description", nil, info, "description", "Sessions microservice for pip-services"},
		{"logger level", nil, logger, "level", "trace"},
		{"default file path", map[string]string{"FILE_ENABLED": "true"}, file, "path", "../data/sessions.json"},
		{"file path", map[string]string{"FILE_ENABLED": "true", "FILE_PATH": "./data/s.json"}, file, "path", "./data/s.json"},
		{"default collection", map[string]string{"MONGO_ENABLED": "true"}, mongo, "collection", "sessions"},
		{"default mongo host", map[string]string{"MONGO_ENABLED": "true"}, mongo, "connection.host", "localhost"},
		{"default mongo port", map[string]string{"MONGO_ENABLED": "true"}, mongo, "connection.port", "27017"},
		{"default mongo database", map[string]string{"MONGO_ENABLED": "true"}, mongo, "connection.database", "app"},
		{"no mongo uri", map[string]string{"MONGO_ENABLED": "true"}, mongo, "connection.uri", ""},
		{"no mongo user", map[string]string{"MONGO_ENABLED": "true"}, mongo, "credential.username", ""},
		{"mongo uri is raw", map[string]string{"MONGO_ENABLED": "true", "MONGO_SERVICE_URI": "mongodb://db:27017/app?w=majority&retryWrites=true"},
			mongo, "connection.uri", "mongodb://db:27017/app?w=majority&retryWrites=true"},
		{"mongo settings", map[string]string{"MONGO_ENABLED": "true", "MONGO_SERVICE_HOST": "db.local", "MONGO_SERVICE_PORT": "27018",
			"MONGO_DB": "sessions_db", "MONGO_COLLECTION": "s2", "MONGO_USER": "admin", "MONGO_PASS": "secret"},
			mongo, "connection.database", "sessions_db"},
		{"mongo host", map[string]string{"MONGO_ENABLED": "true", "MONGO_SERVICE_HOST": "db.local"}, mongo, "connection.host", "db.local"},
		{"mongo port", map[string]string{"MONGO_ENABLED": "true", "MONGO_SERVICE_PORT": "27018"}, mongo, "connection.port", "27018"},
		{"mongo collection", map[string]string{"MONGO_ENABLED": "true", "MONGO_COLLECTION": "s2"}, mongo, "collection", "s2"},
		{"mongo credential", map[string]string{"MONGO_ENABLED": "true", "MONGO_USER": "admin", "MONGO_PASS": "pw"}, mongo, "credential.password", "pw"},
		{"default HTTP port", map[string]string{"HTTP_ENABLED": "true"}, endpoint, "connection.port", "8080"},
		{"HTTP port", map[string]string{"HTTP_ENABLED": "true", "HTTP_PORT": "9000"}, endpoint, "connection.port", "9000"},
		{"HTTP host", map[string]string{"HTTP_ENABLED": "true"}, endpoint, "connection.host", "0.0.0.0"},
		{"HTTP protocol", map[string]string{"HTTP_ENABLED": "true"}, endpoint, "connection.protocol", "http"},
		{"swagger enable", map[string]string{"HTTP_ENABLED": "true"}, service, "swagger.enable", "true"},
		{"swagger auto", map[string]string{"HTTP_ENABLED": "true"}, service, "swagger.auto", "true"},
	}
	text := nodeConfig(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := Load(text, tt.params)
			if err != nil {
				t.Fatalf("Load: got error %v; want none", err)
			}
			cfg := find(t, items, tt.descriptor)
			if got := cfg.String(tt.key, ""); got != tt.want {
				t.Errorf("%s %s: got %q; want %q", tt.descriptor, tt.key, got, tt.want)
			}
			if _, ok := cfg.Get("descriptor"); ok {
				t.Errorf("%s: got the descriptor among the settings; want it removed", tt.descriptor)
			}
		})
	}
}

func TestLoadNestedMaps(t *testing.T) {
	items, err := Load("- descriptor: a:b:c:d:1.0\n  connection:\n    port: 1\n  1: x\n  list:\n    - k: v\n", nil)
	if err != nil {
		t.Fatalf("Load: got error %v; want none", err)
	}
	cfg := items[0].Config
	if _, ok := cfg["connection"].(map[string]any); !ok {
		t.Errorf("connection: got %T; want map[string]any", cfg["connection"])
	}
	if got := cfg.String("1", ""); got != "x" {
		t.Errorf("numeric key: got %q; want %q", got, "x")
	}
	if l, ok := cfg["list"].([]any); !ok || len(l) != 1 {
		t.Fatalf("list: got %#v; want a list of one map", cfg["list"])
	} else if _, ok := l[0].(map[string]any); !ok {
		t.Errorf("list item: got %T; want map[string]any", l[0])
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{"empty", "", "the config is empty"},
		{"only comments", "# nothing\n{{#if X}}\n- descriptor: a:b:c:d:1.0\n{{/if}}\n", "the config is empty"},
		{"a map", "descriptor: a:b:c:d:1.0\n", "the config is a YAML map; want a list of components"},
		{"a scalar", "hello\n", "the config is a YAML scalar (hello); want a list of components"},
		{"item not a map", "- descriptor: a:b:c:d:1.0\n- just text\n", "item 2: is a YAML scalar (just text); want a map with a descriptor"},
		{"missing descriptor", "- name: x\n", "item 1: missing descriptor"},
		{"null descriptor", "- descriptor:\n", "item 1: missing descriptor"},
		{"descriptor not a string", "- descriptor: [a]\n", "item 1: descriptor [a] is not a string"},
		{"malformed descriptor", "- descriptor: a:b:c\n", `item 1: descriptor "a:b:c" must have 5 parts`},
		{"empty descriptor part", "- descriptor: a::c:d:1.0\n", `item 1: descriptor "a::c:d:1.0" has an empty part`},
		{"wildcard descriptor", "- descriptor: a:b:*:d:1.0\n", `item 1: descriptor "a:b:*:d:1.0" names no single component`},
		{"bad YAML", "- descriptor: a:b:c:d:1.0\n  x: [\n", "rendered config is not valid YAML: yaml: line"},
		{"template error", "{{#if X}}\n", "template line 1: {{#if X}} is never closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := Load(tt.text, nil)
			if err == nil {
				t.Fatalf("Load(%q): got %d items and no error; want error %q", tt.text, len(items), tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Load(%q): got error %q; want it to start with %q", tt.text, err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Load(%q): got a multi-line error %q; want one line", tt.text, err)
			}
		})
	}
}

// A template parameter reaches its component as the text it was given,
// whatever YAML would make of it as a plain scalar, as in the Node config
// and config/config.yml, where credentials are inserted unquoted.
func TestParametersReachComponentsAsTheyWereGiven(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "config.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pass := range []string{"007007", "0x1F", "1e3", "0o17", "1_000", "true", "12:30:00", "s3cr3t",
		// What YAML reads otherwise written plain: a comment, a tag, an
		// anchor, an alias, a directive, a flow list or map, a mapping, a
		// quoted string, null, a line break, an escape.
		"pa ss #x", "!secret", "&abc", "*x", "%x", "@x", "`x", "[a]", "{a: b}", "a: b", `"q"`, "'q'",
		"null", "~", "two\nlines", `back\slash`, "é ✓", "- x", "? x", "|", ">"} {
		items, err := Load(string(b), map[string]string{"MONGO_ENABLED": "true", "MONGO_PASS": pass})
		if err != nil {
			t.Fatalf("MONGO_PASS=%s: %v", pass, err)
		}
		found := false
		for _, it := range items {
			if it.Descriptor.Kind == "mongodb" {
				found = true
				if got := it.Config.String("credential.password", ""); got != pass {
					t.Errorf("MONGO_PASS=%s: the store gets password %q", pass, got)
				}
			}
		}
		if !found {
			t.Fatalf("MONGO_ENABLED=true: no mongodb component in %v", descriptorStrings(items))
		}
	}
}

// A whole value is written quoted where YAML needs it however the line
// around it is written: line ends of Windows, a comment after it, a key
// in quotes; and what a value holds is never read as the template's.
func TestAWholeValueIsQuotedWhateverTheLineAroundIt(t *testing.T) {
	const pass = "pa ss #x"
	for _, tc := range []struct{ name, text string }{
		{"CRLF line ends", "- descriptor: a:b:c:d:1.0\r\n  password: {{{P}}}\r\n"},
		{"a comment after it", "- descriptor: a:b:c:d:1.0\n  password: {{{P}}}   # the database's\n"},
		{"a key in quotes", "- descriptor: a:b:c:d:1.0\n  \"password\": {{{P}}}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, err := Load(tc.text, map[string]string{"P": pass})
			if err != nil {
				t.Fatal(err)
			}
			if got := items[0].Config.String("password", ""); got != pass {
				t.Errorf("password: got %q; want %q", got, pass)
			}
		})
	}
	t.Run("a value that is not UTF-8", func(t *testing.T) {
		// YAML holds only Unicode text: refused, not read as other text.
		if items, err := Load("- descriptor: a:b:c:d:1.0\n  password: {{{P}}}\n", map[string]string{"P": "\xff"}); err == nil {
			t.Errorf("got %v; want the config refused", items[0].Config)
		}
	})
	t.Run("a value that looks like the template's mark", func(t *testing.T) {
		text := "- descriptor: a:b:c:d:1.0\n  user: {{{U}}}\n  password: {{{P}}}\n"
		odd := markStart + "0" + markEnd
		items, err := Load(text, map[string]string{"U": "bob", "P": odd})
		if err != nil {
			t.Fatal(err)
		}
		if got := items[0].Config.String("password", ""); got != odd {
			t.Errorf("password: got %q; want %q, as given", got, odd)
		}
	})
}

// A value inside a longer YAML value is put there as written, as a
// handlebars template puts it.
func TestAParameterInsideALongerValueIsPutAsWritten(t *testing.T) {
	text := "- descriptor: a:b:c:d:1.0\n  uri: mongodb://{{{HOST}}}:27017/app\n  list:\n    - {{{ITEM}}}\n"
	items, err := Load(text, map[string]string{"HOST": "db-1", "ITEM": "#x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := items[0].Config.String("uri", ""); got != "mongodb://db-1:27017/app" {
		t.Errorf("uri: got %q", got)
	}
	if got := items[0].Config["list"]; !reflect.DeepEqual(got, []any{"#x"}) {
		t.Errorf("a list item given whole: got %#v; want [#x]", got)
	}
}
