// Command stamprelease writes a release's version into server.json: the
// version, the image tag, and each bundle's download URL and SHA-256 (from
// the bundles `make mcpb` built under dist/). The release workflow runs it;
// the committed server.json carries the last release's values, with zero
// hashes standing in until a release computes them.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

func main() {
	file := flag.String("file", "server.json", "the registry entry")
	version := flag.String("version", "", "the release version, X.Y.Z (a v prefix is dropped)")
	dist := flag.String("dist", "dist", "where the .mcpb bundles are")
	flag.Parse()
	if err := stamp(*file, strings.TrimPrefix(*version, "v"), *dist); err != nil {
		fmt.Fprintln(os.Stderr, "stamprelease:", err)
		os.Exit(1)
	}
}

var semver = regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`)

func stamp(file, version, dist string) error {
	if !semver.MatchString(version) {
		return fmt.Errorf("%q is not a release version (X.Y.Z)", version)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var entry map[string]any
	if err := json.Unmarshal(raw, &entry); err != nil {
		return err
	}
	entry["version"] = version
	packages, _ := entry["packages"].([]any)
	for _, p := range packages {
		pkg := p.(map[string]any)
		id, _ := pkg["identifier"].(string)
		switch pkg["registryType"] {
		case "oci":
			image, _, _ := strings.Cut(id, ":")
			pkg["identifier"] = image + ":" + version
		case "mcpb":
			name := path.Base(id)
			sum, err := fileSHA256(filepath.Join(dist, name))
			if err != nil {
				return fmt.Errorf("bundle %s: %w", name, err)
			}
			base := id[:strings.Index(id, "/releases/download/")]
			pkg["identifier"] = base + "/releases/download/v" + version + "/" + name
			pkg["version"] = version
			pkg["fileSha256"] = sum
		}
	}
	out, err := json.MarshalIndent(entry, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(out, '\n'), 0o644)
}

func fileSHA256(name string) (string, error) {
	raw, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}
