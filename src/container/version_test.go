package container

import (
	"runtime/debug"
	"testing"
)

func TestVersionOf(t *testing.T) {
	const module = "github.com/sessionsd/service-sessions-go"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"},
			{Key: "vcs.time", Value: "2026-11-23T01:02:03Z"},
			{Key: "vcs.modified", Value: modified},
		}
	}
	tests := []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"a commit", debug.BuildInfo{Main: debug.Module{Path: module, Version: "(devel)"}, Settings: vcs("false")},
			"service-sessions-go (devel) 1a2b3c4d5e6f 2026-11-23T01:02:03Z"},
		{"a checkout with changes", debug.BuildInfo{Main: debug.Module{Path: module, Version: "(devel)"}, Settings: vcs("true")},
			"service-sessions-go (devel) 1a2b3c4d5e6f+dirty 2026-11-23T01:02:03Z"},
		{"a tagged commit", debug.BuildInfo{Main: debug.Module{Path: module, Version: "v1.2.0"}, Settings: vcs("false")},
			"service-sessions-go v1.2.0 1a2b3c4d5e6f 2026-11-23T01:02:03Z"},
		{"a pseudo-version, which names the commit and its time", debug.BuildInfo{Main: debug.Module{Path: module,
			Version: "v0.0.0-20261123010203-1a2b3c4d5e6f+dirty"}, Settings: vcs("true")},
			"service-sessions-go v0.0.0-20261123010203-1a2b3c4d5e6f+dirty"},
		{"no Git checkout, as in Docker", debug.BuildInfo{Main: debug.Module{Path: module, Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "GOOS", Value: "linux"}}},
			"service-sessions-go (devel)"},
		{"nothing recorded", debug.BuildInfo{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionOf(&tt.info); got != tt.want {
				t.Errorf("versionOf: got %q; want %q", got, tt.want)
			}
		})
	}
}
