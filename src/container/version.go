package container

import (
	"runtime/debug"
	"slices"
	"strings"
)

// Version describes this build in one line, as --version prints it and the
// "started" log line and GET /status show it: the module, its version, and
// the commit it was built from with the commit's time. See versionOf.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		// Only a binary built without module support has no build info.
		return "unknown"
	}
	return versionOf(info)
}

// versionOf formats info as Version does, leaving out what the build did
// not record: a build outside a Git checkout (in Docker, say, where .git
// is not in the context) records no commit. The commit is shortened to 12
// characters, as in Go's pseudo-versions, and marked "+dirty" when the
// checkout had uncommitted changes.
func versionOf(info *debug.BuildInfo) string {
	setting := func(key string) string {
		for _, s := range info.Settings {
			if s.Key == key {
				return s.Value
			}
		}
		return ""
	}
	revision, at := setting("vcs.revision"), setting("vcs.time")
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if revision != "" && strings.Contains(info.Main.Version, revision) {
		// A pseudo-version (v0.0.0-20261123014438-ed82c8baa61f+dirty)
		// names the commit, its time and the changes already.
		revision, at = "", ""
	}
	if revision != "" && setting("vcs.modified") == "true" {
		revision += "+dirty"
	}
	module := info.Main.Path[strings.LastIndex(info.Main.Path, "/")+1:]
	parts := []string{module, info.Main.Version, revision, at}
	return strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), " ")
}
