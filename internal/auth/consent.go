package auth

import (
	"html/template"
	"net/http"
	"sync"
)

// The consent page names the client and what it may do before anyone is
// sent to Bitrix24: one Bitrix24 application serves every MCP client, so
// this page is what stops a client the person did not choose (the
// confused deputy). Hosts are shown in ASCII, and an internationalised one
// is said to be so: a look-alike name cannot pass for another.

// Parsed when first needed: a stdio server, which never shows it, does not
// pay for it at start-up.
var consentTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Allow {{.Client}}?</title>
<style>body{font:16px system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em}button{font-size:1em;padding:.5em 1.5em;margin-right:1em}.muted{color:#555}.warn{color:#a40}</style>
</head><body>
<h1>Allow {{.Client}} to use Bitrix24 chats as you?</h1>
<p>{{.Client}} {{if .Verified}}(from <b>{{.Host}}</b>){{else}}<span class="muted">(a self-registered name; this server cannot vouch for it)</span>{{end}} asks to:</p>
<ul>{{range .Can}}<li>{{.}}</li>{{end}}</ul>
<p>On <b>{{.Portal}}</b>, as the Bitrix24 user you sign in as next, with your permissions. You will be sent back to <b>{{.Back}}</b>.</p>
{{if .International}}<p class="warn">{{.International}}</p>{{end}}
<p class="muted">Only allow this if you just asked your AI assistant to connect. You can sign out at any time.</p>
<form method="post" action="/authorize/consent">
<input type="hidden" name="signin" value="{{.ID}}">
<button name="decision" value="allow" type="submit">Allow and sign in with Bitrix24</button>
<button name="decision" value="deny" type="submit">Deny</button>
</form></body></html>`))
})

func (s *Server) consentPage(w http.ResponseWriter, ar *authorizeRequest, id string) {
	c := ar.client
	name := c.Name
	if name == "" {
		name = c.ID
	}
	host, hostIntl := displayHost(hostOf(c.ID))
	back, backIntl := displayURI(ar.p.RedirectURI)
	warning := ""
	switch {
	case backIntl && hostIntl && c.Document:
		warning = "Both addresses above are internationalised names, shown as the computer reads them: make sure they are the ones you expect."
	case backIntl:
		warning = "The address you will be sent back to is an internationalised name, shown as the computer reads it: make sure it is the one you expect."
	case hostIntl && c.Document:
		warning = "The client's address is an internationalised name, shown as the computer reads it: make sure it is the one you expect."
	}
	noFrames(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = consentTmpl().Execute(w, map[string]any{"Client": name, "Verified": c.Document, "Host": host, "Can": consentWords(ar.scopes),
		"Portal": s.portal, "Back": back, "International": warning, "ID": id})
}
