package auth

import (
	"encoding/json"
	"net/http"
	"strings"
)

// resourceMetadata is RFC 9728's document: at the root for the server as a
// whole, and at /.well-known/oauth-protected-resource/mcp (and /sse) for
// each endpoint, whose resource is that endpoint's URL exactly, as clients
// check.
func (s *Server) resourceMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	resource := s.issuer
	switch rest := strings.TrimPrefix(r.URL.Path, "/.well-known/oauth-protected-resource"); rest {
	case "", "/":
	case "/mcp", "/sse":
		resource += rest
	default:
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"resource":                 resource,
		"authorization_servers":    []string{s.issuer},
		"scopes_supported":         allScopes,
		"bearer_methods_supported": []string{"header"},
		"resource_name":            "Bitrix24 chat membership (bitrix24-chat-mcp) for " + s.portal,
	})
}

// ResourceMetadataURL is the document a 401 on path points to.
func (s *Server) ResourceMetadataURL(path string) string {
	switch {
	case path == "/mcp":
		return s.issuer + "/.well-known/oauth-protected-resource/mcp"
	case path == "/sse" || path == "/message":
		return s.issuer + "/.well-known/oauth-protected-resource/sse"
	}
	return s.issuer + "/.well-known/oauth-protected-resource"
}

// serverMetadata is RFC 8414's document. (Not at OpenID discovery's
// address: this server is no OpenID provider, and that document would lack
// what OpenID requires of it.)
func (s *Server) serverMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         s.issuer,
		"authorization_endpoint":                         s.issuer + "/authorize",
		"token_endpoint":                                 s.issuer + "/token",
		"registration_endpoint":                          s.issuer + "/register",
		"revocation_endpoint":                            s.issuer + "/revoke",
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"code_challenge_methods_supported":               []string{"S256"},
		"token_endpoint_auth_methods_supported":          []string{"none"},
		"revocation_endpoint_auth_methods_supported":     []string{"none"},
		"scopes_supported":                               allScopes,
		"client_id_metadata_document_supported":          s.documents.enabled,
		"authorization_response_iss_parameter_supported": true,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
