package main

import (
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
)

// There is no Docker engine on CI, so the Dockerfile is checked for what it
// must be, and its build command (make build) is run for real below.
func TestDockerfileStructure(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatal("Dockerfile must be multi-stage")
	}
	final := froms[len(froms)-1][1]
	if !strings.Contains(final, "distroless") && final != "scratch" {
		t.Fatalf("final stage %s is neither distroless nor scratch", final)
	}
	finalStage := df[strings.LastIndex(df, "\nFROM "):]
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(finalStage)
	if user == nil || strings.HasPrefix(user[1], "0") || strings.HasPrefix(user[1], "root") {
		t.Fatalf("final stage must run as a non-root USER, got %v", user)
	}
	entry := regexp.MustCompile(`(?m)^ENTRYPOINT\s+\["([^"]+)"\]`).FindStringSubmatch(finalStage)
	if entry == nil || !strings.Contains(finalStage, "COPY --from=build /src/bin/bitrix24-chat-mcp "+entry[1]) {
		t.Fatalf("ENTRYPOINT must be the copied binary (exec form): %v", entry)
	}
	if !regexp.MustCompile(`(?m)^RUN make build VERSION=`).MatchString(df) {
		t.Fatal("the build stage must use make build, the command CI runs outside Docker")
	}
	label := regexp.MustCompile(`io\.modelcontextprotocol\.server\.name="([^"]+)"`).FindStringSubmatch(df)
	if label == nil || label[1] != serverJSON(t).Name {
		t.Fatalf("MCP registry label %v must match server.json's name", label)
	}
	mk, _ := os.ReadFile("Makefile")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "-X main.commit=", "-X main.date="} {
		if !strings.Contains(string(mk), want) {
			t.Fatalf("make build lacks %s", want)
		}
	}
}

type registryEntry struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Packages []struct {
		RegistryType string `json:"registryType"`
		Identifier   string `json:"identifier"`
		Transport    struct {
			Type string `json:"type"`
		} `json:"transport"`
		Env []struct {
			Name     string `json:"name"`
			IsSecret bool   `json:"isSecret"`
			Format   string `json:"format"`
		} `json:"environmentVariables"`
	} `json:"packages"`
}

func serverJSON(t *testing.T) registryEntry {
	t.Helper()
	raw, err := os.ReadFile("server.json")
	if err != nil {
		t.Fatal(err)
	}
	var e registryEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestServerJSON(t *testing.T) {
	e := serverJSON(t)
	if !strings.HasPrefix(e.Name, "io.github.") || !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(e.Version) {
		t.Fatalf("name %q version %q", e.Name, e.Version)
	}
	table := map[string]app.Setting{}
	for _, s := range app.Settings() {
		table[s.Env] = s
	}
	for _, p := range e.Packages {
		if p.Transport.Type != "stdio" || len(p.Env) == 0 {
			t.Fatalf("%s: %+v", p.RegistryType, p)
		}
		if p.RegistryType == "oci" && !strings.HasSuffix(p.Identifier, ":"+e.Version) {
			t.Fatalf("image tag of %s must be the version %s", p.Identifier, e.Version)
		}
		for _, v := range p.Env {
			s, known := table[v.Name]
			if !known {
				t.Errorf("%s is not a setting of the configuration table", v.Name)
				continue
			}
			if v.IsSecret != s.Secret || v.Format != string(s.Kind) {
				t.Errorf("%s: isSecret %v, format %s; the table says %v, %s", v.Name, v.IsSecret, v.Format, s.Secret, s.Kind)
			}
		}
	}
}

// make build gives a static binary with the version stamped in.
func TestStaticVersionedBuild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "b24")
	cmd := exec.Command("make", "-s", "build", "BIN="+bin, "VERSION=9.8.7", "COMMIT=abc1234", "DATE=2026-11-21T00:00:00Z")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("the binary is dynamically linked")
		}
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || strings.TrimSpace(string(out)) != "bitrix24-chat-mcp 9.8.7 (commit abc1234, built 2026-11-21T00:00:00Z)" {
		t.Fatalf("%v %q", err, out)
	}
}
