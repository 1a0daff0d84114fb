package container

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder keeps the lifecycle calls of fake components, in order.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

// fake is a component whose behaviour comes from its settings: name, fail
// (configure, references, open or close), panic (the same steps), needs (a
// required locator) and timeout (milliseconds).
type fake struct {
	rec                   *recorder
	name, fail, panicStep string
	needs                 string
}

func (f *fake) step(s string) error {
	f.rec.add(s + " " + f.name)
	if f.panicStep == s {
		panic(s + " exploded")
	}
	if f.fail == s {
		return errors.New(s + " failed")
	}
	return nil
}

func (f *fake) Configure(cfg Config) error {
	f.name = cfg.String("name", "?")
	f.fail = cfg.String("fail", "")
	f.panicStep = cfg.String("panic", "")
	f.needs = cfg.String("needs", "")
	if _, err := cfg.Millis("timeout", 0); err != nil {
		return err
	}
	return f.step("configure")
}

func (f *fake) SetReferences(refs *References) error {
	if f.needs != "" {
		d, err := ParseDescriptor(f.needs)
		if err != nil {
			return fmt.Errorf("needs: %w", err)
		}
		if _, err := Required[any](refs, d); err != nil {
			return err
		}
	}
	return f.step("references")
}

func (f *fake) Open(ctx context.Context) error { return f.step("open") }

func (f *fake) Close(ctx context.Context) error { return f.step("close") }

// plain is a component with no lifecycle at all.
type plain struct{}

// endpoint is a component that serves requests, as an HTTP endpoint does.
type endpoint struct{}

func (endpoint) URL() string { return "http://127.0.0.1:1" }

func testFactories(rec *recorder) []Factory {
	return []Factory{
		{Descriptor: MustDescriptor("test:fake:*:*:1.0"), New: func() (any, error) { return &fake{rec: rec}, nil }},
		{Descriptor: MustDescriptor("test:fake:*:*:*"), New: func() (any, error) { return nil, errors.New("second factory must not be used") }},
		{Descriptor: MustDescriptor("test:plain:default:default:1.0"), New: func() (any, error) { return plain{}, nil }},
		{Descriptor: MustDescriptor("test:endpoint:default:default:1.0"), New: func() (any, error) { return endpoint{}, nil }},
		{Descriptor: MustDescriptor("test:grpc:*:*:1.0"), New: func() (any, error) {
			return nil, errors.New("gRPC is not supported; use the HTTP endpoint")
		}},
		{Descriptor: MustDescriptor("test:nil:default:default:1.0"), New: func() (any, error) { return nil, nil }},
		{Descriptor: MustDescriptor("test:panic:default:default:1.0"), New: func() (any, error) { panic("factory exploded") }},
	}
}

func mustBuild(t *testing.T, rec *recorder, text string) *Process {
	t.Helper()
	p, err := Build(testFactories(rec), text, nil)
	if err != nil {
		t.Fatalf("Build: got error %v; want none", err)
	}
	return p
}

const threeFakes = `
- descriptor: test:fake:default:a:1.0
  name: a
- descriptor: test:plain:default:default:1.0
- descriptor: test:fake:default:b:1.0
  name: b
  fail: {{FAIL_B}}
- descriptor: test:fake:default:c:1.0
  name: c
`

func TestProcessLifecycleOrder(t *testing.T) {
	rec := &recorder{}
	p := mustBuild(t, rec, threeFakes)
	want := []string{
		"configure a", "configure b", "configure c",
		"references a", "references b", "references c",
	}
	if got := rec.take(); !reflect.DeepEqual(got, want) {
		t.Errorf("build calls: got %q; want %q", got, want)
	}

	ds, _ := p.References().Components()
	gotDs := make([]string, len(ds))
	for i, d := range ds {
		gotDs[i] = d.String()
	}
	wantDs := []string{
		"pip-services:context-info:default:default:1.0",
		"test:fake:default:a:1.0", "test:plain:default:default:1.0",
		"test:fake:default:b:1.0", "test:fake:default:c:1.0",
	}
	if !reflect.DeepEqual(gotDs, wantDs) {
		t.Errorf("references: got %q; want %q", gotDs, wantDs)
	}

	ctx := context.Background()
	if err := p.Open(ctx); err != nil {
		t.Fatalf("Open: got error %v; want none", err)
	}
	if got, want := rec.take(), []string{"open a", "open b", "open c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("open calls: got %q; want %q", got, want)
	}
	if err := p.Open(ctx); err == nil {
		t.Errorf("second Open: got no error; want one")
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("Close: got error %v; want none", err)
	}
	if got, want := rec.take(), []string{"close c", "close b", "close a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("close calls: got %q; want %q", got, want)
	}
	if err := p.Close(ctx); err != nil {
		t.Fatalf("second Close: got error %v; want none", err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("second Close calls: got %q; want none", got)
	}
}

func TestProcessFailedOpenClosesOpened(t *testing.T) {
	rec := &recorder{}
	p, err := Build(testFactories(rec), threeFakes, map[string]string{"FAIL_B": "open"})
	if err != nil {
		t.Fatalf("Build: got error %v; want none", err)
	}
	rec.take()
	err = p.Open(context.Background())
	if want := "open test:fake:default:b:1.0: open failed"; err == nil || err.Error() != want {
		t.Fatalf("Open: got error %v; want %q", err, want)
	}
	if got, want := rec.take(), []string{"open a", "open b", "close a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls: got %q; want %q", got, want)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Errorf("Close after failed Open: got error %v; want none", err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("Close after failed Open calls: got %q; want none", got)
	}
}

func TestProcessOpenCanceled(t *testing.T) {
	rec := &recorder{}
	p := mustBuild(t, rec, threeFakes)
	rec.take()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := p.Open(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Open: got error %v; want context.Canceled", err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("calls: got %q; want none", got)
	}
}

func TestProcessCloseErrors(t *testing.T) {
	rec := &recorder{}
	text := strings.ReplaceAll(threeFakes, "name: c", "name: c\n  fail: close") + `
- descriptor: test:fake:default:d:1.0
  name: d
  panic: close
`
	p := mustBuild(t, rec, text)
	if err := p.Open(context.Background()); err != nil {
		t.Fatalf("Open: got error %v; want none", err)
	}
	rec.take()
	err := p.Close(context.Background())
	want := "close test:fake:default:d:1.0: panic: close exploded (at container.(*fake).step process_test.go:"
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "; close test:fake:default:c:1.0: close failed") {
		t.Errorf("Close: got error %v; want %q…; close test:fake:default:c:1.0: close failed", err, want)
	}
	if got, want := rec.take(), []string{"close d", "close c", "close b", "close a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("close calls: got %q; want %q (every component closed despite failures)", got, want)
	}
}

func TestProcessErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{"unknown descriptor",
			"- descriptor: test:fake:default:a:1.0\n  name: a\n- descriptor: test:plain:default:default:1.0\n- descriptor: test:plain:default:default:1.0\n- descriptor: foo:bar:baz:default:1.0\n",
			`config error: item 4: unknown descriptor "foo:bar:baz:default:1.0"`},
		{"unknown kind names the known ones",
			"- descriptor: test:plain:defualt:default:1.0\n",
			`config error: item 1: unknown descriptor "test:plain:defualt:default:1.0" (the kinds of test:plain: default)`},
		{"unknown kind of context info",
			"- descriptor: pip-services:context-info:defualt:x:1.0\n",
			`config error: item 1: unknown descriptor "pip-services:context-info:defualt:x:1.0" (the kinds of pip-services:context-info: default)`},
		{"bad value names the key",
			"- descriptor: test:fake:default:a:1.0\n  timeout: abc\n",
			`config error: test:fake:default:a:1.0: timeout: "abc" is not a number of milliseconds`},
		{"configure error",
			"- descriptor: test:fake:default:a:1.0\n  fail: configure\n",
			`config error: test:fake:default:a:1.0: configure failed`},
		{"missing dependency",
			"- descriptor: test:fake:default:a:1.0\n  needs: test:store:*:*:1.0\n",
			`config error: test:fake:default:a:1.0: missing dependency: no component matches test:store:*:*:1.0`},
		{"references error",
			"- descriptor: test:fake:default:a:1.0\n  fail: references\n",
			`config error: test:fake:default:a:1.0: references failed`},
		{"unsupported descriptor message passes through",
			"- descriptor: test:plain:default:default:1.0\n- descriptor: test:grpc:default:default:1.0\n",
			`config error: test:grpc:default:default:1.0: gRPC is not supported; use the HTTP endpoint`},
		{"factory creates nothing",
			"- descriptor: test:nil:default:default:1.0\n",
			`config error: test:nil:default:default:1.0: the factory created no component`},
		{"panicking factory",
			"- descriptor: test:panic:default:default:1.0\n",
			`config error: test:panic:default:default:1.0: panic: factory exploded (at container.testFactories.func`},
		{"panicking configure",
			"- descriptor: test:fake:default:a:1.0\n  panic: configure\n",
			`config error: test:fake:default:a:1.0: panic: configure exploded (at container.(*fake).step process_test.go:`},
		{"panicking references",
			"- descriptor: test:fake:default:a:1.0\n  panic: references\n",
			`config error: test:fake:default:a:1.0: panic: references exploded`},
		{"template error",
			"- descriptor: test:plain:default:default:1.0\n{{#if X}}\n",
			`config error: template line 2: {{#if X}} is never closed with {{/if}}`},
		{"empty config",
			"\n# nothing\n",
			`config error: the config is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Build(testFactories(&recorder{}), tt.text, nil)
			if err == nil {
				t.Fatalf("Build: got %v and no error; want error %q", p, tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Build: got error %q; want it to start with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Build: got a multi-line error %q; want one line", err)
			}
		})
	}
}

func TestProcessPanickingOpen(t *testing.T) {
	rec := &recorder{}
	p := mustBuild(t, rec, strings.Replace(threeFakes, "fail: {{FAIL_B}}", "panic: open", 1))
	rec.take()
	err := p.Open(context.Background())
	want := "open test:fake:default:b:1.0: panic: open exploded"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Open: got error %v; want it to start with %q", err, want)
	}
	if got, want := rec.take(), []string{"open a", "open b", "close a"}; !reflect.DeepEqual(got, want) {
		t.Errorf("calls: got %q; want %q", got, want)
	}
}

func TestProcessContextInfo(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		wantName string
		wantLen  int
	}{
		{"default when absent", "- descriptor: test:plain:default:default:1.0\n", "unknown", 2},
		{"from the config", "- descriptor: test:plain:default:default:1.0\n- descriptor: pip-services:context-info:default:default:1.0\n  name: svc\n", "svc", 2},
		{"from the config under a name of its own", "- descriptor: test:plain:default:default:1.0\n- descriptor: pip-services:context-info:default:sessions:1.0\n  name: svc\n", "svc", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustBuild(t, &recorder{}, tt.text)
			info, err := Required[*ContextInfo](p.References(), ContextInfoLocator)
			if err != nil {
				t.Fatalf("context info: got error %v; want none", err)
			}
			if got := info.Name(); got != tt.wantName {
				t.Errorf("name: got %q; want %q", got, tt.wantName)
			}
			if _, cs := p.References().Components(); len(cs) != tt.wantLen {
				t.Errorf("components: got %d; want %d", len(cs), tt.wantLen)
			}
		})
	}
}

func TestProcessFactoryOrder(t *testing.T) {
	// The second factory also matches test:fake:…:1.0 but fails; the first
	// one that matches must be used.
	p := mustBuild(t, &recorder{}, "- descriptor: test:fake:default:x:1.0\n  name: x\n")
	if _, err := Required[*fake](p.References(), MustDescriptor("test:fake:*:x:*")); err != nil {
		t.Errorf("fake x: got error %v; want none", err)
	}
}

// closeBudget records whether each close was given nearly all of
// CloseTimeout (allowing a second for a slow machine) and takes a while.
type closeBudget struct {
	name  string
	takes time.Duration
	rec   *recorder
}

func (c *closeBudget) Close(ctx context.Context) error {
	deadline, ok := ctx.Deadline()
	c.rec.add(fmt.Sprintf("%s %v %v", c.name, ok, time.Until(deadline) > CloseTimeout-time.Second))
	time.Sleep(c.takes)
	return nil
}

func TestEachComponentHasItsOwnTimeToClose(t *testing.T) {
	rec := &recorder{}
	made := []*closeBudget{{name: "first", rec: rec}, {name: "second", takes: 1500 * time.Millisecond, rec: rec}}
	p, err := BuildItems([]Factory{
		{Descriptor: MustDescriptor("test:slow:*:*:1.0"), New: func() (any, error) {
			c := made[0]
			made = made[1:]
			return c, nil
		}},
	}, []Item{
		{Descriptor: MustDescriptor("test:slow:default:first:1.0")},
		{Descriptor: MustDescriptor("test:slow:default:second:1.0")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The second closes first and takes 1.5 s; the first still has all of
	// CloseTimeout when its turn comes.
	want := []string{"second true true", "first true true"}
	if got := rec.take(); !reflect.DeepEqual(got, want) {
		t.Errorf("close budgets: got %q; want %q", got, want)
	}
}
