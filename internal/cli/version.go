package cli

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Build is what the build stamped (see Makefile); empty fields are read
// from the Go build info (go install ...@vX.Y.Z, or go build in a git
// checkout).
type Build struct{ Version, Commit, Date string }

// Line is what --version and `version` print.
func (b Build) Line() string {
	v, c, d := b.Version, b.Commit, b.Date
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch {
			case s.Key == "vcs.revision" && c == "":
				c = s.Value[:min(len(s.Value), 7)]
			case s.Key == "vcs.time" && d == "":
				d = s.Value
			case s.Key == "vcs.modified" && s.Value == "true" && c != "" && !strings.HasSuffix(c, "-dirty") && b.Commit == "":
				c += "-dirty"
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	if d == "" {
		d = "unknown"
	}
	return fmt.Sprintf("bitrix24-chat-mcp %s (commit %s, built %s)", v, c, d)
}
