// Package container builds a process from a YAML list of components, the
// Pip.Services way: each component is named by a descriptor, created from a
// factory table, configured, given references to the others, opened in file
// order and closed in reverse.
package container

import (
	"context"
	"fmt"
	"strings"
)

// Descriptor names a component: group:type:kind:name:version. "*" in any
// part matches anything.
type Descriptor struct{ Group, Type, Kind, Name, Version string }

// ParseDescriptor parses "group:type:kind:name:version".
func ParseDescriptor(s string) (Descriptor, error) {
	p := strings.Split(strings.TrimSpace(s), ":")
	if len(p) != 5 {
		return Descriptor{}, fmt.Errorf("descriptor %q must have 5 parts group:type:kind:name:version", s)
	}
	for _, part := range p {
		if part == "" {
			return Descriptor{}, fmt.Errorf("descriptor %q has an empty part", s)
		}
	}
	return Descriptor{p[0], p[1], p[2], p[3], p[4]}, nil
}

// MustDescriptor parses a descriptor known at compile time; it panics on a
// malformed literal, which is a programming error.
func MustDescriptor(s string) Descriptor {
	d, err := ParseDescriptor(s)
	if err != nil {
		panic(err)
	}
	return d
}

// String returns the descriptor in its colon form.
func (d Descriptor) String() string {
	return d.Group + ":" + d.Type + ":" + d.Kind + ":" + d.Name + ":" + d.Version
}

// Match reports whether d and o agree on every part, "*" on either side
// matching anything.
func (d Descriptor) Match(o Descriptor) bool {
	return part(d.Group, o.Group) && part(d.Type, o.Type) && part(d.Kind, o.Kind) &&
		part(d.Name, o.Name) && part(d.Version, o.Version)
}

func part(a, b string) bool { return a == "*" || b == "*" || a == b }

// Configurable components receive their section of the config file.
type Configurable interface {
	Configure(cfg Config) error
}

// ListConfigurable is a Configurable some of whose keys take a list of
// values (a YAML list, or text of comma-separated values); anywhere else a
// list is a bad value (see Config.CheckShape).
type ListConfigurable interface {
	// ListKeys returns the dotted paths of those keys.
	ListKeys() []string
}

// Referenceable components find the components they depend on.
type Referenceable interface {
	SetReferences(refs *References) error
}

// Opener components start work: connect, listen, start timers.
type Opener interface {
	Open(ctx context.Context) error
}

// Closer components stop work and release what they hold. ctx bounds how
// long a graceful close may take.
type Closer interface {
	Close(ctx context.Context) error
}

// Factory creates the component a descriptor names. New returns an error for
// descriptors that are recognised but not supported.
type Factory struct {
	Descriptor Descriptor
	New        func() (any, error)
}

// References holds every component of the process with its descriptor, in
// file order.
type References struct {
	entries []entry
}

type entry struct {
	descriptor Descriptor
	component  any
}

// NewReferences returns an empty set of references.
func NewReferences() *References { return &References{} }

// Put adds a component.
func (r *References) Put(d Descriptor, component any) {
	r.entries = append(r.entries, entry{d, component})
}

// Components returns every component with its descriptor, in the order added.
func (r *References) Components() ([]Descriptor, []any) {
	ds := make([]Descriptor, len(r.entries))
	cs := make([]any, len(r.entries))
	for i, e := range r.entries {
		ds[i], cs[i] = e.descriptor, e.component
	}
	return ds, cs
}

// Optional returns the first component that matches locator and is a T.
func Optional[T any](r *References, locator Descriptor) (T, bool) {
	for _, e := range r.entries {
		if t, ok := e.component.(T); ok && e.descriptor.Match(locator) {
			return t, true
		}
	}
	var zero T
	return zero, false
}

// Required returns the first component that matches locator and is a T, or
// an error naming the locator.
func Required[T any](r *References, locator Descriptor) (T, error) {
	if t, ok := Optional[T](r, locator); ok {
		return t, nil
	}
	var zero T
	return zero, fmt.Errorf("missing dependency: no component matches %s", locator)
}

// All returns every component that matches locator and is a T, in order.
func All[T any](r *References, locator Descriptor) []T {
	var out []T
	for _, e := range r.entries {
		if t, ok := e.component.(T); ok && e.descriptor.Match(locator) {
			out = append(out, t)
		}
	}
	return out
}
