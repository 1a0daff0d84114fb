package container

import (
	"context"
	"strings"
	"testing"
)

func TestDescriptorMatch(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"a:b:c:d:1.0", "a:b:c:d:1.0", true},
		{"a:b:c:d:1.0", "a:b:c:d:2.0", false},
		{"a:b:c:d:1.0", "a:b:x:d:1.0", false},
		{"a:b:*:*:1.0", "a:b:c:d:1.0", true},
		{"a:b:c:d:1.0", "a:b:*:*:1.0", true},
		{"*:*:*:*:*", "a:b:c:d:1.0", true},
		{"a:*:c:*:1.0", "a:b:x:d:1.0", false},
		{"service-sessions:persistence:*:*:1.0", "service-sessions:persistence:mongodb:default:1.0", true},
		{"service-sessions:persistence:*:*:1.0", "service-sessions:controller:default:default:1.0", false},
		{"pip-services:logger:*:*:1.0", "pip-services:logger:console:default:1.0", true},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			a, b := MustDescriptor(tt.a), MustDescriptor(tt.b)
			if got := a.Match(b); got != tt.want {
				t.Errorf("%s.Match(%s): got %v; want %v", a, b, got, tt.want)
			}
			if got := b.Match(a); got != tt.want {
				t.Errorf("%s.Match(%s): got %v; want %v", b, a, got, tt.want)
			}
		})
	}
}

func TestReferencesLookup(t *testing.T) {
	refs := NewReferences()
	refs.Put(MustDescriptor("a:store:memory:default:1.0"), "memory")
	refs.Put(MustDescriptor("a:store:file:default:1.0"), "file")
	refs.Put(MustDescriptor("a:counter:log:default:1.0"), 42)

	if got, ok := Optional[string](refs, MustDescriptor("a:store:*:*:1.0")); !ok || got != "memory" {
		t.Errorf("Optional store: got %q, %v; want %q, true", got, ok, "memory")
	}
	if got := All[string](refs, MustDescriptor("a:store:*:*:*")); len(got) != 2 || got[1] != "file" {
		t.Errorf("All stores: got %q; want [memory file]", got)
	}
	if _, ok := Optional[string](refs, MustDescriptor("a:counter:*:*:1.0")); ok {
		t.Errorf("Optional string counter: got a match; want none (wrong type)")
	}
	_, err := Required[int](refs, MustDescriptor("a:timer:*:*:1.0"))
	if want := "missing dependency: no component matches a:timer:*:*:1.0"; err == nil || err.Error() != want {
		t.Errorf("Required timer: got error %v; want %q", err, want)
	}
}

func TestGuardNamesPanicSite(t *testing.T) {
	var m map[string]int
	var f *fake
	tests := []struct {
		name string
		f    func() error
		want string
	}{
		{"panic value", func() error { panic("boom") }, "panic: boom (at container.TestGuardNamesPanicSite.func1 component_test.go:"},
		{"nil map write", func() error { m["x"] = 1; return nil }, "panic: assignment to entry in nil map (at container.TestGuardNamesPanicSite.func2 component_test.go:"},
		{"nil pointer", func() error { return f.Open(context.Background()) }, "panic: runtime error: invalid memory address or nil pointer dereference (at container.(*fake).step process_test.go:"},
		{"no panic", func() error { return nil }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := guard(tt.f)
			if tt.want == "" {
				if err != nil {
					t.Errorf("guard: got error %v; want none", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("guard: got error %v; want it to start with %q", err, tt.want)
			}
		})
	}
}
