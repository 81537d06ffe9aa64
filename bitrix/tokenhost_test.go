package bitrix_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
)

// oauthHosts serves Bitrix24's OAuth servers from the fake portal's token
// endpoint, and records which host each refresh went to.
type oauthHosts struct {
	p     *fakeportal.Portal
	mu    sync.Mutex
	hosts []string
}

func (o *oauthHosts) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/oauth/token/" {
		o.mu.Lock()
		o.hosts = append(o.hosts, r.URL.Host)
		o.mu.Unlock()
		token, _ := url.Parse(o.p.TokenURL())
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host, r.URL.Path = token.Scheme, token.Host, token.Path
	} else if portal, _ := url.Parse(o.p.ClientEndpoint()); r.URL.Host != portal.Host {
		return nil, fmt.Errorf("a request went to %s, not the portal", r.URL.Host)
	}
	return o.p.Transport().RoundTrip(r)
}

// The token host is regional: refreshes follow the token answer's
// server_endpoint, but only to Bitrix24's OAuth servers over https, and a
// client_endpoint only on the configured portal; BITRIX24_OAUTH_TOKEN_URL,
// when set, is always used.
func TestTokenHostFollowsServerEndpoint(t *testing.T) {
	for _, tc := range []struct {
		name, server, client string
		override             bool
		want                 []string // the hosts of three refreshes
	}{
		{"regional", "https://oauth.bitrix24.tech/rest/", "", false, []string{"oauth.bitrix.info", "oauth.bitrix24.tech", "oauth.bitrix24.tech"}},
		{"untrusted host", "https://oauth.evil.example/rest/", "", false, []string{"oauth.bitrix.info", "oauth.bitrix.info", "oauth.bitrix.info"}},
		{"plain http", "http://oauth.bitrix24.tech/rest/", "", false, []string{"oauth.bitrix.info", "oauth.bitrix.info", "oauth.bitrix.info"}},
		{"override wins", "https://oauth.bitrix24.tech/rest/", "", true, []string{"oauth.bitrix.info", "oauth.bitrix.info", "oauth.bitrix.info"}},
		{"client endpoint elsewhere", "", "https://evil.example/rest/", false, []string{"oauth.bitrix.info", "oauth.bitrix.info", "oauth.bitrix.info"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPortal(t)
			p.SetTokenEndpoints(tc.client, tc.server)
			if tc.client == "" {
				p.SetTokenEndpoints(p.ClientEndpoint(), tc.server)
			}
			rt := &oauthHosts{p: p}
			fix := p.Fixture()
			access, refresh := p.Tokens()
			cfg := fastRetries(bitrix.Config{OAuth: &bitrix.OAuthConfig{
				ClientEndpoint: p.ClientEndpoint(), AccessToken: bitrix.Secret(access), RefreshToken: bitrix.Secret(refresh),
				ClientID: fix.OAuth.ClientID, ClientSecret: bitrix.Secret(fix.OAuth.ClientSecret),
			}, RateLimit: 1000, RateBurst: 1000, HTTPClient: &http.Client{Transport: rt}})
			if tc.override {
				cfg.OAuth.TokenURL = "https://oauth.bitrix.info/oauth/token/?region=set"
			}
			c := newClient(t, cfg, nil)
			for range 3 {
				p.ExpireToken()
				if _, err := c.DialogUsers(context.Background(), bitrix.DialogUsersQuery{DialogID: "chat2935"}); err != nil {
					t.Fatalf("a call after the refresh: %v", err)
				}
			}
			if strings.Join(rt.hosts, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("refreshes went to %v, want %v", rt.hosts, tc.want)
			}
		})
	}
}
