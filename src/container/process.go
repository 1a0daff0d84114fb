package container

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
)

// CloseTimeout bounds how long each component may take to close, counted
// from its turn, after a failed open and at shutdown. A component with a
// drain time of its own (the HTTP endpoint's shutdown_timeout) uses that.
const CloseTimeout = 30 * time.Second

// Process is a built set of components: created by their factories,
// configured and referenced, ready to open in file order and close in
// reverse.
type Process struct {
	refs        *References
	descriptors []Descriptor
	components  []any

	mu     sync.Mutex
	opened int // components [0, opened) went through Open
}

// Build renders text with params and builds the process it describes with
// factories. Tests in other packages use it to boot a config in-process.
func Build(factories []Factory, text string, params map[string]string) (*Process, error) {
	p, err := build(factories, text, params)
	if err != nil {
		return nil, fmt.Errorf("config error: %w", err)
	}
	return p, nil
}

func build(factories []Factory, text string, params map[string]string) (*Process, error) {
	items, err := Load(text, params)
	if err != nil {
		return nil, err
	}
	return BuildItems(factories, items)
}

// BuildItems builds a process from parsed items: for each item in order the
// first factory whose descriptor matches creates the component, which is then
// configured with the item's settings; once all exist, each one gets the
// references to all. A process with no context info gets a default one,
// first. Errors name the item or the component's descriptor.
func BuildItems(factories []Factory, items []Item) (*Process, error) {
	factories = append(factories[:len(factories):len(factories)],
		Factory{Descriptor: contextInfoKinds, New: func() (any, error) { return NewContextInfo(), nil }})

	p := &Process{refs: NewReferences()}
	hasInfo := false
	for _, it := range items {
		if it.Descriptor.Match(ContextInfoLocator) {
			hasInfo = true
		}
	}
	if !hasInfo {
		p.add(ContextInfoDescriptor, NewContextInfo())
	}

	for i, it := range items {
		f, ok := findFactory(factories, it.Descriptor)
		if !ok {
			return nil, fmt.Errorf("item %d: unknown descriptor %q%s", i+1, it.Descriptor.String(), knownKinds(factories, it.Descriptor))
		}
		var c any
		err := guard(func() (err error) {
			c, err = f.New()
			return err
		})
		if err == nil && c == nil {
			err = errors.New("the factory created no component")
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", it.Descriptor, err)
		}
		if cc, ok := c.(Configurable); ok {
			cfg := it.Config
			if cfg == nil {
				cfg = Config{}
			}
			var lists []string
			if lc, ok := c.(ListConfigurable); ok {
				lists = lc.ListKeys()
			}
			if err := cfg.CheckShape(lists...); err != nil {
				return nil, fmt.Errorf("%s: %w", it.Descriptor, err)
			}
			if err := guard(func() error { return cc.Configure(cfg) }); err != nil {
				return nil, fmt.Errorf("%s: %w", it.Descriptor, err)
			}
		}
		p.add(it.Descriptor, c)
	}

	for i, c := range p.components {
		if r, ok := c.(Referenceable); ok {
			if err := guard(func() error { return r.SetReferences(p.refs) }); err != nil {
				return nil, fmt.Errorf("%s: %w", p.descriptors[i], err)
			}
		}
	}
	return p, nil
}

func (p *Process) add(d Descriptor, c any) {
	p.refs.Put(d, c)
	p.descriptors = append(p.descriptors, d)
	p.components = append(p.components, c)
}

// knownKinds names the kinds the factories make of d's group and type, as
// a hint for a misspelled kind; "" when they make none of them.
func knownKinds(factories []Factory, d Descriptor) string {
	var kinds []string
	for _, f := range factories {
		if f.Descriptor.Group == d.Group && f.Descriptor.Type == d.Type && f.Descriptor.Kind != "*" && !slices.Contains(kinds, f.Descriptor.Kind) {
			kinds = append(kinds, f.Descriptor.Kind)
		}
	}
	if len(kinds) == 0 {
		return ""
	}
	return fmt.Sprintf(" (the kinds of %s:%s: %s)", d.Group, d.Type, strings.Join(kinds, ", "))
}

func findFactory(factories []Factory, d Descriptor) (Factory, bool) {
	for _, f := range factories {
		if f.Descriptor.Match(d) {
			return f, true
		}
	}
	return Factory{}, false
}

// References returns every component of the process with its descriptor, in
// file order (a default context info first when the file has none).
func (p *Process) References() *References { return p.refs }

// Open opens every component in file order. When one fails, those already
// opened are closed in reverse and the open error is returned. Calling Open
// on an open process is an error.
func (p *Process) Open(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.opened > 0 {
		return errors.New("the process is already open")
	}
	for i, c := range p.components {
		if o, ok := c.(Opener); ok {
			err := ctx.Err()
			if err == nil {
				err = guard(func() error { return o.Open(ctx) })
			}
			if err != nil {
				openErr := fmt.Errorf("open %s: %w", p.descriptors[i], err)
				if cerr := p.closeLocked(context.WithoutCancel(ctx)); cerr != nil {
					return joinErrors(openErr, cerr)
				}
				return openErr
			}
		}
		p.opened = i + 1
	}
	return nil
}

// Close closes, in reverse order, every component that Open reached, and
// goes on past failures; it returns them all. Each close is bounded by
// CloseTimeout from its turn, or by ctx if it ends first. Closing a process
// that is not open does nothing.
func (p *Process) Close(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closeLocked(ctx)
}

func (p *Process) closeLocked(ctx context.Context) error {
	var errs []error
	for i := p.opened - 1; i >= 0; i-- {
		if c, ok := p.components[i].(Closer); ok {
			cctx, cancel := context.WithTimeout(ctx, CloseTimeout)
			if err := guard(func() error { return c.Close(cctx) }); err != nil {
				errs = append(errs, fmt.Errorf("close %s: %w", p.descriptors[i], err))
			}
			cancel()
		}
	}
	p.opened = 0
	return joinErrors(errs...)
}

// guard runs f and turns a panic into an error, so a faulty component stops
// the process with a message instead of a crash.
func guard(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v (at %s)", r, panicSite(debug.Stack()))
		}
	}()
	return f()
}

// panicSite names the function and file:line that panicked, from a stack
// printed by runtime/debug, or returns "unknown".
func panicSite(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "panic(") {
			start = i + 2 // skip the frame of panic itself and its file line
			break
		}
	}
	if start < 0 {
		return "unknown"
	}
	// Frames are pairs of lines: the function, then its tab-indented file.
	for i := start; i+1 < len(lines); i += 2 {
		fn, file := lines[i], strings.TrimSpace(lines[i+1])
		if strings.HasPrefix(fn, "runtime.") {
			continue
		}
		if j := strings.LastIndex(fn, "("); j > 0 {
			fn = fn[:j]
		}
		if j := strings.LastIndex(fn, "/"); j >= 0 {
			fn = fn[j+1:]
		}
		if j := strings.LastIndex(file, " +0x"); j > 0 {
			file = file[:j]
		}
		if j := strings.LastIndex(file, "/"); j >= 0 {
			file = file[j+1:]
		}
		return fn + " " + file
	}
	return "unknown"
}

// multiError reports several errors on one line and unwraps to each.
type multiError []error

func (m multiError) Error() string {
	s := make([]string, len(m))
	for i, e := range m {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (m multiError) Unwrap() []error { return m }

func joinErrors(errs ...error) error {
	var out multiError
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}
