package container

import (
	"errors"
	"maps"
	"os"
	"regexp"
	"testing"
	"time"
)

func TestContextInfo(t *testing.T) {
	before := time.Now().UTC()
	c := NewContextInfo()
	if got := c.Name(); got != "unknown" {
		t.Errorf("default name: got %q; want %q", got, "unknown")
	}
	if host, err := os.Hostname(); err == nil && c.ContextID() != host {
		t.Errorf("context id: got %q; want the host's name %q, as Pip.Services has it", c.ContextID(), host)
	}
	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, host := range []struct {
		name string
		err  error
	}{{"", nil}, {"", errors.New("no name")}} {
		if got := contextID(host.name, host.err); !hexID.MatchString(got) {
			t.Errorf("context id of a host without a name (%v): got %q; want 32 lowercase hex chars", host.err, got)
		}
	}
	if got := c.StartTime(); got.Before(before.Add(-time.Second)) || got.After(time.Now().Add(time.Second)) || got.Location() != time.UTC {
		t.Errorf("start time: got %v; want about %v in UTC", got, before)
	}

	tests := []struct {
		name            string
		cfg             Config
		wantName, wantD string
		wantProps       map[string]string
	}{
		{"settings", Config{"name": "svc", "description": "d", "properties": map[string]any{"region": "eu", "n": 3, "deep": map[string]any{"k": "v"}}},
			"svc", "d", map[string]string{"region": "eu", "n": "3", "deep.k": "v"}},
		{"info section", Config{"info": map[string]any{"name": "svc2", "description": "d2"}}, "svc2", "d2", map[string]string{}},
		{"nothing", Config{}, "unknown", "", map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewContextInfo()
			if err := c.Configure(tt.cfg); err != nil {
				t.Fatalf("Configure: got error %v; want none", err)
			}
			if got := c.Name(); got != tt.wantName {
				t.Errorf("name: got %q; want %q", got, tt.wantName)
			}
			if got := c.Description(); got != tt.wantD {
				t.Errorf("description: got %q; want %q", got, tt.wantD)
			}
			got := c.Properties()
			if !maps.Equal(got, tt.wantProps) {
				t.Errorf("properties: got %v; want %v", got, tt.wantProps)
			}
			got["x"] = "changed"
			if _, ok := c.Properties()["x"]; ok {
				t.Errorf("properties: got the caller's change; want a copy")
			}
		})
	}
}
