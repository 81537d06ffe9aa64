package main

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
)

// demoFixture seeds --demo's in-process portal.
//
//go:embed testdata/portal.json
var demoFixture []byte

// demoChats names the demo's chats with the member counts the tools report.
func demoChats(a *app.App) string {
	var parts []string
	for _, id := range a.Demo.ChatIDs() {
		parts = append(parts, fmt.Sprintf("chat%d (%d)", id, a.Demo.ActiveMemberCount(id)))
	}
	return strings.Join(parts, ", ")
}
