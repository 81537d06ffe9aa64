package tools_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/tiktoken-go/tokenizer"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// BenchmarkListDialogUsersCall is one list_dialog_users call through an
// in-process MCP client: validation, the Bitrix24 call against the fake
// portal, shaping the compact result, and output-schema validation.
func BenchmarkListDialogUsersCall(b *testing.B) {
	h := newHarness(b)
	args := map[string]any{"dialog_id": "chat9001", "limit": 200}
	b.ReportAllocs()
	for b.Loop() {
		if res := h.call(b, "list_dialog_users", args); res.IsError {
			b.Fatal(testkit.Text(res))
		}
	}
}

// BenchmarkInvalidArguments is the refusal path: nothing reaches the portal.
func BenchmarkInvalidArguments(b *testing.B) {
	h := newHarness(b)
	args := map[string]any{"dialog_id": "general", "limit": 500}
	b.ReportAllocs()
	for b.Loop() {
		if res := h.call(b, "list_dialog_users", args); !res.IsError {
			b.Fatal("accepted")
		}
	}
}

// bigTeamFixture is the demo portal plus a company of 2,000 people in a
// structure of 51 departments (Corp > 10 divisions > 4 teams each) and a
// chat of 2,570 members: 1,500 of the company, 1,069 outsiders and the
// webhook's user.
func bigTeamFixture(tb testing.TB) *fakeportal.Fixture {
	fix := portaltest.DefaultFixture(tb)
	fix.Large = nil
	fix.Users = slices.Clone(fix.Users)
	fix.Structure = []fakeportal.Department{{ID: 9000, Name: "Corp"}}
	for div := range 10 {
		id := 9100 + div*10
		fix.Structure = append(fix.Structure, fakeportal.Department{ID: id, Name: fmt.Sprintf("Division %d", div), Parent: 9000})
		for team := range 4 {
			fix.Structure = append(fix.Structure, fakeportal.Department{ID: id + 1 + team, Name: fmt.Sprintf("Team %d.%d", div, team), Parent: id})
		}
	}
	position := "Engineer"
	chat := fakeportal.Chat{ID: 7000, Name: "Everyone", Type: "chat", Owner: 1269, Members: []int{1269}}
	for i := range 2000 {
		dep := fix.Structure[1+i%50].ID
		id := 500000 + i
		fix.Users = append(fix.Users, fakeportal.User{ID: id, Name: fmt.Sprintf("Person %d", i), FirstName: "Person", LastName: fmt.Sprint(i),
			Active: true, Type: "user", ExternalAuthID: "default", WorkPosition: &position, Departments: []int{dep}})
		if i < 1500 {
			chat.Members = append(chat.Members, id)
		}
	}
	for i := range 1069 {
		id := 600000 + i
		fix.Users = append(fix.Users, fakeportal.User{ID: id, Name: fmt.Sprintf("Outsider %d", i), FirstName: "Outsider", LastName: fmt.Sprint(i),
			Active: true, Type: "user", ExternalAuthID: "default", WorkPosition: &position})
		chat.Members = append(chat.Members, id)
	}
	fix.Chats = append(slices.Clone(fix.Chats), chat)
	return fix
}

// BenchmarkTeamAgainstChat compares a 2,000-person department tree with a
// 2,570-member chat (compare_chat_with_team) and reports what it costs:
// Bitrix24 requests (a batch is one), and the result's size in each channel.
func BenchmarkTeamAgainstChat(b *testing.B) {
	h := newHarnessOn(b, bigTeamFixture(b))
	args := map[string]any{"chat_id": 7000, "departments": []int{9000}, "include_subdepartments": true}
	var requests int
	var structured, text string
	b.ReportAllocs()
	for b.Loop() {
		before := h.portal.Stats().Requests
		res := h.call(b, "compare_chat_with_team", args)
		if res.IsError {
			b.Fatal(testkit.Text(res))
		}
		requests = h.portal.Stats().Requests - before
		raw, _ := json.Marshal(res.StructuredContent)
		structured, text = string(raw), testkit.Text(res)
	}
	b.ReportMetric(float64(requests), "requests/op")
	b.ReportMetric(float64(len(structured)), "structured-chars")
	b.ReportMetric(float64(len(text)), "text-chars")
	b.ReportMetric(float64(countTokens(b, tokenizer.O200kBase, structured)), "structured-tokens")
	b.ReportMetric(float64(countTokens(b, tokenizer.O200kBase, text)), "text-tokens")
}
