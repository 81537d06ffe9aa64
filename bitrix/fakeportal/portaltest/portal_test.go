package portaltest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
)

func post(t *testing.T, u, ctype, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(u, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	return resp.StatusCode, m
}

func TestBucketAnswers503(t *testing.T) {
	p := portaltest.Start(t, nil, fakeportal.WithRateLimit(1, 3))
	codes := map[int]int{}
	for i := 0; i < 5; i++ {
		status, _ := post(t, p.WebhookURL()+"scope", "application/json", "{}")
		codes[status]++
	}
	if codes[200] != 3 || codes[503] != 2 || p.Stats().Rejected503 != 2 {
		t.Fatalf("codes %v", codes)
	}
}

func TestFormBodyWithPHPBrackets(t *testing.T) {
	p := portaltest.Start(t, nil)
	// A repeated key without brackets keeps only the last value, as in PHP.
	status, m := post(t, p.WebhookURL()+"im.chat.user.add", "application/x-www-form-urlencoded", "CHAT_ID=2935&USERS=1291&USERS=1019")
	if status != 200 || m["result"] != true {
		t.Fatalf("%d %v", status, m)
	}
	if members := p.Members(2935); slices.Contains(members, 1291) || !slices.Contains(members, 1019) {
		t.Fatalf("without brackets only the last value counts: %v", members)
	}
	post(t, p.WebhookURL()+"im.chat.user.add", "application/x-www-form-urlencoded", "CHAT_ID=2935&USERS[]=1291&USERS[]=1")
	if members := p.Members(2935); !slices.Contains(members, 1291) || !slices.Contains(members, 1) {
		t.Fatalf("brackets: %v", members)
	}
}

func TestInvalidJSONIsNoParameters(t *testing.T) {
	p := portaltest.Start(t, nil)
	status, m := post(t, p.WebhookURL()+"im.dialog.users.list", "application/json", `{"DIALOG_ID": "chat2935",`)
	if status != 400 || m["error"] != "DIALOG_ID_EMPTY" {
		t.Fatalf("%d %v", status, m)
	}
}

func TestBatchShapes(t *testing.T) {
	p := portaltest.Start(t, nil)
	cmd := map[string]string{}
	for i := 0; i < 52; i++ {
		cmd[fmt.Sprint(i)] = "scope"
	}
	body, _ := json.Marshal(map[string]any{"cmd": cmd, "halt": "false"})
	status, m := post(t, p.WebhookURL()+"batch", "application/json", string(body))
	res := m["result"].(map[string]any)
	if status != 200 {
		t.Fatal(status)
	}
	if list, ok := res["result"].([]any); !ok || len(list) != 50 {
		t.Fatalf("sequential keys should come back as an array of 50: %T", res["result"])
	}
	errs := res["result_error"].(map[string]any)
	if len(errs) != 2 || errs["50"].(map[string]any)["error"] != "ERROR_BATCH_LENGTH_EXCEEDED" {
		t.Fatalf("errors: %v", errs)
	}
	if next, ok := res["result_next"].([]any); !ok || len(next) != 0 {
		t.Fatalf("empty sections are []: %v", res["result_next"])
	}
	// "false" is true to PHP: halt stops at the first error.
	body, _ = json.Marshal(map[string]any{"cmd": map[string]string{"a": "im.dialog.users.list?DIALOG_ID=", "b": "scope"}, "halt": "false"})
	_, m = post(t, p.WebhookURL()+"batch", "application/json", string(body))
	if r := m["result"].(map[string]any)["result"]; fmt.Sprint(r) != "[]" {
		t.Fatalf("halt=\"false\" should halt: %v", r)
	}
}

func TestOAuthTokenRotation(t *testing.T) {
	p := portaltest.Start(t, nil)
	f := p.Fixture().OAuth
	q := url.Values{"grant_type": {"refresh_token"}, "client_id": {f.ClientID}, "client_secret": {f.ClientSecret}, "refresh_token": {f.RefreshToken}}
	get := func() (int, map[string]any) {
		resp, err := http.Get(p.TokenURL() + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if status, m := get(); status != 200 || m["refresh_token"] == f.RefreshToken {
		t.Fatalf("%d %v", status, m)
	}
	// The old refresh token died with the rotation.
	if status, m := get(); status != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("reuse: %d %v", status, m)
	}
	// The old access token now answers expired_token.
	status, m := post(t, p.ClientEndpoint()+"scope", "application/json", `{"auth":"`+f.AccessToken+`"}`)
	if status != 401 || m["error"] != "expired_token" {
		t.Fatalf("%d %v", status, m)
	}
}
