package main

import (
	"runtime"
	"runtime/debug"
)

// version is set at release builds with
// -ldflags "-X main.version=v1.2.3"; otherwise it comes from the module
// version 'go install ...@v1.2.3' records, or the VCS revision.
var version = ""

// versionString is what --version prints and the gate logs at start.
func versionString() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "devel-" + rev
}

// versionLine is the whole --version answer.
func versionLine() string {
	return "keyturn " + versionString() + " (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}
