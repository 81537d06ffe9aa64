package bitrix_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
)

// documentedToken is one of testdata/bitrix24/oauth: a token answer as its
// page shows it.
type documentedToken struct {
	Page     string         `json:"page"`
	Response map[string]any `json:"response"`
	Redirect string         `json:"redirect"`
}

func loadToken(t *testing.T, grant string) documentedToken {
	t.Helper()
	raw, err := os.ReadFile("../testdata/bitrix24/oauth/token." + grant + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var d documentedToken
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// sameShape: the same members, each of the documented JSON type.
func sameShape(t *testing.T, what string, want, got map[string]any) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: the fake's answer lacks %s", what, k)
		} else if jsonKind(g) != jsonKind(v) {
			t.Errorf("%s: %s is %s, documented %s", what, k, jsonKind(g), jsonKind(v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: the fake's answer has %s, which its page does not", what, k)
		}
	}
}

// The fake's authorization page and token endpoint answer as
// settings/oauth/index.md and auto-renewal.md show: the code grant's answer
// names no user (the server asks user.current), the refresh answer does.
func TestFakeOAuthAnswersAsDocumented(t *testing.T) {
	p := portaltest.Start(t, nil)
	f := p.Fixture()
	p.SetRedirectURI("https://app.example/cb")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := p.ClientEndpoint()[:len(p.ClientEndpoint())-len("/rest/")]
	resp, err := noFollow.Get(base + "/oauth/authorize/?client_id=" + url.QueryEscape(f.OAuth.ClientID) + "&state=s1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	code := loadToken(t, "authorization_code")
	documented, _ := url.Parse(code.Redirect)
	var gotKeys, wantKeys []string
	for k := range back.Query() {
		gotKeys = append(gotKeys, k)
	}
	for k := range documented.Query() {
		wantKeys = append(wantKeys, k)
	}
	slices.Sort(gotKeys)
	slices.Sort(wantKeys)
	if !slices.Equal(gotKeys, wantKeys) || back.Query().Get("state") != "s1" {
		t.Errorf("the redirect carries %v, documented %v", gotKeys, wantKeys)
	}

	token := func(q url.Values) map[string]any {
		t.Helper()
		q.Set("client_id", f.OAuth.ClientID)
		q.Set("client_secret", f.OAuth.ClientSecret)
		resp, err := http.Get(p.TokenURL() + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
			t.Fatalf("token: HTTP %d %v", resp.StatusCode, err)
		}
		return m
	}
	sameShape(t, "authorization_code ("+code.Page+")", code.Response, token(url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}}))
	_, refresh := p.Tokens()
	renewal := loadToken(t, "refresh_token")
	sameShape(t, "refresh_token ("+renewal.Page+")", renewal.Response, token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}))
}
