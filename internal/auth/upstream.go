package auth

import (
	"context"
	"net/http"
	"strings"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// upstream is Bitrix24 as the authorization server sees it: where to send
// the person, and who signed in (with their pair) for the code Bitrix24
// sent back. Everything else here is OAuth between us and MCP clients, and
// is tested without a portal.
type upstream interface {
	AuthorizeURL(state string) (string, error)
	// SignIn trades Bitrix24's code at once (it lives 30 seconds) and says
	// who signed in; a sign-in on another portal is refused.
	SignIn(ctx context.Context, code, domain string) (*bitrix.Grant, error)
}

// bitrixUpstream is the portal's OAuth application.
type bitrixUpstream struct {
	app    bitrix.OAuthConfig
	http   *http.Client
	base   *bitrix.Client // the server's client: user.current shares its rate limit
	portal string         // the portal's host
}

func (b *bitrixUpstream) AuthorizeURL(state string) (string, error) {
	return bitrix.AuthorizeURL(b.app.ClientEndpoint, b.app.ClientID, state)
}

func (b *bitrixUpstream) SignIn(ctx context.Context, code, domain string) (*bitrix.Grant, error) {
	if domain != "" && !strings.EqualFold(domain, b.portal) {
		return nil, accessDenied("you signed in to another Bitrix24 portal (%s); this server serves %s", truncate(domain, 100), b.portal)
	}
	g, err := bitrix.ExchangeCode(ctx, b.app, b.http, bitrix.Secret(code))
	if err != nil {
		return nil, upstreamRefusal("Bitrix24 did not accept the sign-in", err)
	}
	if _, err := b.base.WhoSignedIn(ctx, g); err != nil {
		return nil, upstreamRefusal("Bitrix24 did not say who signed in", err)
	}
	return g, nil
}

// upstreamRefusal words a Bitrix24 failure for the person: what they or
// the operator can do, the detail in the log.
func upstreamRefusal(what string, err error) error {
	e, ok := bitrix.AsError(err)
	switch {
	case ok && e.Code == bitrix.CodeOtherPortal:
		return &oauthError{status: http.StatusForbidden, code: "access_denied", desc: "the Bitrix24 sign-in is for another portal than this server's", cause: err}
	case ok && (e.Code == bitrix.CodeInsufficientScope || e.Code == "insufficient_scope"):
		return &oauthError{status: http.StatusBadGateway, code: "server_error",
			desc: "the server's Bitrix24 application lacks the user_brief scope it needs to know who signed in; tell the server's operator", cause: err}
	case ok && e.Code == bitrix.CodeInvalidGrant:
		return &oauthError{status: http.StatusBadRequest, code: "access_denied", desc: what + ": the code expired (it lives 30 seconds); start again", cause: err}
	}
	return &oauthError{status: http.StatusBadGateway, code: "server_error", desc: what + "; try again", cause: err}
}
