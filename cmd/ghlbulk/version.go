package main

import "runtime/debug"

// version is set by the Makefile and the release build through -ldflags;
// when it is not, buildVersion reads it from the binary's build info.
var version = "dev"

// currentVersion is the version every command reports.
func currentVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return buildVersion(version, bi)
}

// buildVersion picks the version to report, so that a plain `go build` or
// `go install` does not say "dev": -ldflags first (make build, releases);
// then the module's version, which `go install ...@v1.2.3` stamps (and Go
// 1.24+ stamps as a pseudo-version, with +dirty, in a checkout); then the
// checkout's commit from the vcs.* settings, "-dirty" when it had changes.
func buildVersion(ldflags string, bi *debug.BuildInfo) string {
	if ldflags != "" && ldflags != "dev" {
		return ldflags
	}
	if bi == nil {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var modified bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	v := "devel-" + rev[:min(12, len(rev))]
	if modified {
		v += "-dirty"
	}
	return v
}
