package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// The bundle's user configuration comes from the configuration table: the
// secrets are sensitive, and each value reaches the server as its variable.
func TestManifest(t *testing.T) {
	m, err := build("1.2.3", "darwin", "server/bitrix24-chat-mcp")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(m)
	var got struct {
		Version    string `json:"version"`
		UserConfig map[string]struct {
			Type      string `json:"type"`
			Sensitive bool   `json:"sensitive"`
			Required  bool   `json:"required"`
			Default   any    `json:"default"`
		} `json:"user_config"`
		Server struct {
			MCPConfig struct {
				Command string            `json:"command"`
				Env     map[string]string `json:"env"`
			} `json:"mcp_config"`
		} `json:"server"`
		Compatibility struct {
			Platforms []string `json:"platforms"`
		} `json:"compatibility"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	uc := got.UserConfig
	if !uc["webhook_url"].Sensitive || !uc["webhook_url"].Required || !uc["bot_token"].Sensitive || uc["bot_id"].Sensitive ||
		uc["bot_id"].Type != "number" || uc["read_only"].Type != "boolean" || uc["read_only"].Default != false || uc["allowed_chat_ids"].Type != "string" {
		t.Fatalf("user_config: %+v", uc)
	}
	env := got.Server.MCPConfig.Env
	if env["BITRIX24_WEBHOOK_URL"] != "${user_config.webhook_url}" || env["BITRIX24_READ_ONLY"] != "${user_config.read_only}" || len(env) != 5 {
		t.Fatalf("env: %v", env)
	}
	if got.Version != "1.2.3" || got.Compatibility.Platforms[0] != "darwin" || !strings.HasPrefix(got.Server.MCPConfig.Command, "${__dirname}/") {
		t.Fatalf("%+v", got)
	}
	if m, _ := build("672074a", "windows", "x.exe"); m["version"] != "0.0.0-dev" {
		t.Fatalf("a commit is not a version: %v", m["version"])
	}
}
