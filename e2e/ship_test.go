package e2e

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/telemetry"
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
	// Pinned: every stage names a tag, never latest; Go to its patch release.
	for _, f := range append(froms, regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(readFile(t, "Dockerfile.release"), -1)...) {
		image, tag, ok := strings.Cut(f[1], ":")
		if !ok || tag == "latest" || image == "golang" && !regexp.MustCompile(`^\d+\.\d+\.\d+-`).MatchString(tag) {
			t.Errorf("FROM %s is not pinned", f[1])
		}
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
	// The release image (GoReleaser) carries the same ownership label.
	gr, _ := os.ReadFile(".goreleaser.yaml")
	if !strings.Contains(string(gr), "io.modelcontextprotocol.server.name: "+serverJSON(t).Name) {
		t.Fatal(".goreleaser.yaml's image lacks the MCP registry label with server.json's name")
	}
	mk, _ := os.ReadFile("Makefile")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "-X main.commit=", "-X main.date="} {
		if !strings.Contains(string(mk), want) {
			t.Fatalf("make build lacks %s", want)
		}
	}
}

type registryEntry struct {
	Schema      string `json:"$schema"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Version     string `json:"version"`
	Packages    []struct {
		RegistryType string `json:"registryType"`
		Identifier   string `json:"identifier"`
		Version      string `json:"version"`
		FileSHA256   string `json:"fileSha256"`
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

// server.json follows the registry's 2025-12-11 rules: a reverse-DNS name,
// a description of at most 100 characters, only oci and mcpb packages (an
// image reference with the release's tag; a GitHub release asset with a
// SHA-256), no "latest", and environment variables from the configuration
// table with its secrecy and kinds.
func TestServerJSON(t *testing.T) {
	e := serverJSON(t)
	if !strings.HasSuffix(e.Schema, "/2025-12-11/server.schema.json") || !regexp.MustCompile(`^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$`).MatchString(e.Name) ||
		!strings.HasPrefix(e.Name, "io.github.") {
		t.Fatalf("schema %q name %q", e.Schema, e.Name)
	}
	if n := len([]rune(e.Description)); n == 0 || n > 100 {
		t.Fatalf("description is %d characters; the registry takes 1 to 100", n)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(e.Version) {
		t.Fatalf("version %q", e.Version)
	}
	table := map[string]app.Setting{}
	for _, s := range app.Settings() {
		table[s.Env] = s
	}
	kinds := map[string]int{}
	for _, p := range e.Packages {
		kinds[p.RegistryType]++
		if p.Transport.Type != "stdio" || strings.Contains(p.Identifier, "latest") || p.Version == "latest" {
			t.Fatalf("%s: %+v", p.RegistryType, p)
		}
		switch p.RegistryType {
		case "oci":
			if p.Identifier != "ghcr.io/bitrix24-chat-mcp/bitrix24-chat-mcp:"+e.Version || p.Version != "" || len(p.Env) == 0 {
				t.Fatalf("oci: the identifier carries the release tag %s: %+v", e.Version, p)
			}
		case "mcpb":
			if !strings.HasPrefix(p.Identifier, "https://github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/releases/download/v"+e.Version+"/") ||
				!strings.HasSuffix(p.Identifier, ".mcpb") || p.Version != e.Version || !regexp.MustCompile(`^[a-f0-9]{64}$`).MatchString(p.FileSHA256) {
				t.Fatalf("mcpb: %+v", p)
			}
		default:
			t.Fatalf("registry type %s: the registry takes npm, pypi, oci, nuget and mcpb; this server ships oci and mcpb", p.RegistryType)
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
	if kinds["oci"] != 1 || kinds["mcpb"] < 1 {
		t.Fatalf("packages: %v", kinds)
	}
}

// The release workflow's stamp: version, tag, bundle URLs and hashes.
func TestStampRelease(t *testing.T) {
	dir := t.TempDir()
	raw, _ := os.ReadFile("server.json")
	file := filepath.Join(dir, "server.json")
	os.WriteFile(file, raw, 0o644)
	for _, p := range serverJSON(t).Packages {
		if p.RegistryType == "mcpb" {
			os.WriteFile(filepath.Join(dir, filepath.Base(p.Identifier)), []byte("bundle "+p.Identifier), 0o644)
		}
	}
	out, err := exec.Command("go", "run", "./internal/gen/stamprelease", "-file", file, "-version", "v2.3.4", "-dist", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	stamped, _ := os.ReadFile(file)
	var e registryEntry
	json.Unmarshal(stamped, &e)
	if e.Version != "2.3.4" || e.Packages[0].Identifier != "ghcr.io/bitrix24-chat-mcp/bitrix24-chat-mcp:2.3.4" ||
		!strings.Contains(e.Packages[1].Identifier, "/releases/download/v2.3.4/") || e.Packages[1].FileSHA256 == strings.Repeat("0", 64) {
		t.Fatalf("stamped: %s", stamped)
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

// deploy/compose.yaml is what "Running for a team" says: three stateless
// replicas sharing Redis behind a TLS-ending proxy, nothing else published.
func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := string(raw)
	for _, want := range []string{"replicas: 3", "image: redis:7.4-alpine", "--requirepass", "MCP_STATELESS: \"true\"", "BITRIX24_STATE_URL: redis://:${REDIS_PASSWORD}@redis:6379/0",
		"MCP_AUTH_TOKEN: ${MCP_AUTH_TOKEN:?", "image: caddy:2.8", `ports: ["80:80", "443:443"]`,
		`test: ["CMD", "/usr/local/bin/bitrix24-chat-mcp", "health"]`, "MCP_METRICS_ADDR: 0.0.0.0:9090",
		"image: prom/prometheus:v2.53.0", `ports: ["127.0.0.1:9090:9090"]`} {
		if !strings.Contains(c, want) {
			t.Errorf("compose.yaml lacks %q", want)
		}
	}
	for _, image := range regexp.MustCompile(`(?m)^\s+image: (\S+)`).FindAllStringSubmatch(c, -1) {
		if image[1] != "bitrix24-chat-mcp" && !regexp.MustCompile(`:v?\d+\.\d+`).MatchString(image[1]) {
			t.Errorf("compose image %s is not pinned to a version", image[1])
		}
	}
	if n := regexp.MustCompile(`ports: \["\d+:\d+`).FindAllString(c, -1); len(n) != 1 {
		t.Error("only the proxy may publish ports off this host's loopback")
	}
	signin, err := os.ReadFile("deploy/compose.signin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"replicas: 3", "MCP_AUTH: bitrix24", "MCP_PUBLIC_URL: https://${MCP_HOST:?", "MCP_STATE_KEY: ${MCP_STATE_KEY:?",
		"BITRIX24_STATE_URL: redis://:${REDIS_PASSWORD}@redis:6379/0", "BITRIX24_CLIENT_SECRET: ${BITRIX24_CLIENT_SECRET:?", `ports: ["80:80", "443:443"]`} {
		if !strings.Contains(string(signin), want) {
			t.Errorf("compose.signin.yaml lacks %q", want)
		}
	}
	for _, never := range []string{"MCP_AUTH_TOKEN", "BITRIX24_WEBHOOK_URL"} {
		if strings.Contains(string(signin), never) {
			t.Errorf("compose.signin.yaml sets %s, which sign-in refuses", never)
		}
	}
	caddy, _ := os.ReadFile("deploy/Caddyfile")
	if !strings.Contains(string(caddy), "dynamic a mcp 8080") || !strings.Contains(string(caddy), "health_uri /readyz") {
		t.Errorf("Caddyfile: %s", caddy)
	}
}

// What the repository tracks stays source: no file over 1 MB, no compiled
// executable (a 13.8 MB binary was once committed at the top).
func TestTrackedFilesAreSource(t *testing.T) {
	out, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	magics := [][]byte{{0x7f, 'E', 'L', 'F'}, {'M', 'Z'}, {0xfe, 0xed, 0xfa, 0xce}, {0xfe, 0xed, 0xfa, 0xcf},
		{0xce, 0xfa, 0xed, 0xfe}, {0xcf, 0xfa, 0xed, 0xfe}, {0xca, 0xfe, 0xba, 0xbe}}
	files := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue // deleted in the work tree
		}
		fi, _ := f.Stat()
		head := make([]byte, 4)
		n, _ := io.ReadFull(f, head)
		f.Close()
		if fi.Size() > 1<<20 {
			t.Errorf("%s is %d bytes: over 1 MB", name, fi.Size())
		}
		for _, m := range magics {
			if n >= len(m) && bytes.Equal(head[:len(m)], m) {
				t.Errorf("%s is a compiled executable", name)
			}
		}
	}
	if len(files) < 50 {
		t.Fatalf("only %d tracked files: is this the repository?", len(files))
	}
}

// Every series the dashboard charts and Prometheus scrapes is one the
// server exports; the scrape config finds the replicas' metrics port.
func TestDashboardAndScrapeConfig(t *testing.T) {
	m := telemetry.ForServer("test")
	// A vector shows once it has a child: one of each.
	m.ToolCall("get_chat", "ok", "", time.Millisecond)
	m.PortalRequest("im.dialog.get", "ok", time.Millisecond)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for name, f := range families {
		exported[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			exported[name+"_bucket"], exported[name+"_sum"], exported[name+"_count"] = true, true, true
		}
	}
	// Gauges that need a live server (sessions, bucket) are added there.
	for _, n := range []string{"bitrix24_mcp_sessions", "bitrix24_mcp_sse_calls_in_flight", "bitrix24_mcp_rate_limit_bucket_level", "bitrix24_mcp_people_active"} {
		exported[n] = true
	}
	raw, err := os.ReadFile("deploy/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	charted := map[string]bool{}
	for _, panel := range dash.Panels {
		for _, target := range panel.Targets {
			for _, name := range regexp.MustCompile(`bitrix24_mcp_[a-z_]+`).FindAllString(target.Expr, -1) {
				if !exported[name] {
					t.Errorf("panel %q charts %s, which the server does not export", panel.Title, name)
				}
				charted[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] = true
			}
		}
	}
	for name := range families {
		if strings.HasPrefix(name, "bitrix24_mcp_") && !charted[name] {
			t.Errorf("the dashboard does not chart %s", name)
		}
	}
	prom, _ := os.ReadFile("deploy/prometheus.yml")
	if !strings.Contains(string(prom), "names: [mcp]") || !strings.Contains(string(prom), "port: 9090") {
		t.Errorf("prometheus.yml must find the mcp replicas on 9090:\n%s", prom)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}
