// Command genmcpb writes the manifest.json of the Claude Desktop bundle
// (MCP Bundle, .mcpb) into a staging directory, its user configuration
// generated from the configuration table. Run it through `make mcpb`.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
)

// bundled are the settings a Claude Desktop user fills in, by the key the
// manifest's user_config gives them.
var bundled = []struct{ key, env, title string }{
	{"webhook_url", "BITRIX24_WEBHOOK_URL", "Bitrix24 inbound webhook URL"},
	{"bot_id", "BITRIX24_BOT_ID", "Chat bot id (optional)"},
	{"bot_token", "BITRIX24_BOT_TOKEN", "Chat bot token (optional)"},
	{"read_only", "BITRIX24_READ_ONLY", "Read-only"},
	{"allowed_chat_ids", "BITRIX24_ALLOWED_CHAT_IDS", "Chats it may change (optional)"},
}

var semver = regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

func main() {
	dir := flag.String("dir", "", "the bundle's staging directory")
	version := flag.String("version", "", "the release version (X.Y.Z); anything else becomes 0.0.0-dev")
	goos := flag.String("os", "linux", "the binary's GOOS")
	binary := flag.String("binary", "server/bitrix24-chat-mcp", "the binary's path inside the bundle")
	flag.Parse()
	manifest, err := build(*version, *goos, *binary)
	if err == nil {
		var raw []byte
		raw, err = json.MarshalIndent(manifest, "", "  ")
		if err == nil {
			err = os.WriteFile(filepath.Join(*dir, "manifest.json"), append(raw, '\n'), 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genmcpb:", err)
		os.Exit(1)
	}
}

func build(version, goos, binary string) (map[string]any, error) {
	if !semver.MatchString(version) {
		version = "0.0.0-dev"
	}
	table := map[string]app.Setting{}
	for _, s := range app.Settings() {
		table[s.Env] = s
	}
	userConfig := map[string]any{}
	env := map[string]string{}
	for _, b := range bundled {
		s, ok := table[b.env]
		if !ok {
			return nil, fmt.Errorf("%s is not in the configuration table", b.env)
		}
		entry := map[string]any{"type": string(s.Kind), "title": b.title, "description": s.Help, "required": b.env == "BITRIX24_WEBHOOK_URL"}
		if s.Secret {
			entry["sensitive"] = true
		}
		if s.Kind == app.KindBool {
			entry["default"] = s.Default == "true"
		}
		userConfig[b.key] = entry
		env[b.env] = "${user_config." + b.key + "}"
	}
	platform := map[string]string{"darwin": "darwin", "windows": "win32", "linux": "linux"}[goos]
	if platform == "" {
		return nil, fmt.Errorf("no Claude Desktop platform for GOOS %s", goos)
	}
	return map[string]any{
		"manifest_version": "0.3",
		"name":             "bitrix24-chat-mcp",
		"display_name":     "Bitrix24 chat membership",
		"version":          version,
		"description":      "See and change who is in a Bitrix24 chat: find people and chats, list members, invite users.",
		"long_description": "An MCP server for Bitrix24 chats: find people and chats by name, list a chat's participants, invite users and be told who really joined, keep a chat in step with a department tree or a workgroup, and look at chats through a chat bot. It talks to your portal through an inbound webhook (scope im; imbot for the bot tools; department, user_brief and sonet_group for teams) and never prints a secret.",
		"author":           map[string]any{"name": "bitrix24-chat-mcp", "url": "https://github.com/bitrix24-chat-mcp/bitrix24-chat-mcp"},
		"repository":       map[string]any{"type": "git", "url": "https://github.com/bitrix24-chat-mcp/bitrix24-chat-mcp"},
		"homepage":         "https://github.com/bitrix24-chat-mcp/bitrix24-chat-mcp",
		"server": map[string]any{
			"type":        "binary",
			"entry_point": binary,
			"mcp_config":  map[string]any{"command": "${__dirname}/" + binary, "args": []string{}, "env": env},
		},
		"tools_generated":   true,
		"prompts_generated": true,
		"keywords":          []string{"bitrix24", "chat", "members", "invite"},
		"compatibility":     map[string]any{"platforms": []string{platform}},
		"user_config":       userConfig,
	}, nil
}
