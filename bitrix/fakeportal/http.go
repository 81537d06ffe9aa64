package fakeportal

import (
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// apiError is an error answer.
type apiError struct {
	status int
	code   string
	desc   string
}

func errf(status int, code, desc string) *apiError { return &apiError{status, code, desc} }

// answer is a successful answer.
type answer struct {
	result any
	total  *int
	next   *int
}

// caller is who a request authenticates as.
type caller struct {
	userID  int
	webhook bool
	appID   string
}

func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(r.URL.Path, "/")
	if path == "oauth/token" {
		p.serveToken(w, r)
		return
	}
	if path == "oauth/authorize" {
		p.serveAuthorize(w, r)
		return
	}
	parts := strings.Split(path, "/")
	if len(parts) < 2 || parts[0] != "rest" {
		http.NotFound(w, r)
		return
	}
	method := strings.TrimSuffix(parts[len(parts)-1], ".json")
	params := readParams(r)

	p.mu.Lock()
	latency := p.latency
	p.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Requests++
	now := time.Now()
	if !p.admit(now) {
		p.stats.Rejected503++
		writeError(w, errf(503, "QUERY_LIMIT_EXCEEDED", "Too many requests"))
		return
	}
	if p.failRate > 0 && p.rng.Float64() < p.failRate {
		p.stats.Injected500++
		writeError(w, errf(500, "INTERNAL_SERVER_ERROR", "Internal server error"))
		return
	}
	who, aerr := p.authenticate(parts, params, r)
	if aerr != nil {
		writeError(w, p.echoed(aerr, params))
		return
	}
	p.stats.ByMethod[strings.ToLower(method)]++
	if p.freePlan {
		writeError(w, errf(403, "ACCESS_DENIED", "REST API is available only on commercial plans."))
		return
	}
	if strings.EqualFold(method, "batch") {
		res, aerr := p.batch(who, params)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		writeJSON(w, 200, map[string]any{"result": res, "time": timing(now, nil)})
		return
	}
	if reset, ok := p.apiPause[strings.ToLower(method)]; ok && now.Before(reset) {
		writeJSON(w, 429, map[string]any{"error": "OPERATION_TIME_LIMIT",
			"error_description": "Method is blocked due to operation time limit.", "time": timing(now, &reset)})
		return
	}
	ans, aerr := p.dispatch(who, method, params)
	if aerr != nil {
		writeError(w, p.echoed(aerr, params))
		return
	}
	if n := p.loseAnswers[strings.ToLower(method)]; n > 0 {
		p.loseAnswers[strings.ToLower(method)] = n - 1
		panic(http.ErrAbortHandler) // the work is done; the answer never leaves
	}
	body := map[string]any{"result": ans.result, "time": timing(now, nil)}
	if ans.total != nil {
		body["total"] = *ans.total
	}
	if ans.next != nil {
		body["next"] = *ans.next
	}
	writeJSON(w, 200, body)
}

// admit runs the leaky bucket: drain since last, refuse when full.
func (p *Portal) admit(now time.Time) bool {
	if p.rate <= 0 {
		return true
	}
	if !p.last.IsZero() {
		p.level = math.Max(0, p.level-now.Sub(p.last).Seconds()*p.rate)
	}
	p.last = now
	if p.level+1 > p.burst+1e-9 {
		return false
	}
	p.level++
	return true
}

func (p *Portal) authenticate(parts []string, params map[string]any, r *http.Request) (caller, *apiError) {
	// /rest/USER_ID/CODE/method : an inbound webhook
	if len(parts) >= 4 {
		uid, _ := strconv.Atoi(parts[len(parts)-3])
		if uid != p.fix.Webhook.UserID || parts[len(parts)-2] != p.fix.Webhook.Code || p.fix.Webhook.Code == "" {
			return caller{}, errf(401, "NO_AUTH_FOUND", "Wrong authorization data")
		}
		return caller{userID: uid, webhook: true}, nil
	}
	token := str(params["auth"])
	if token == "" {
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			token = strings.TrimPrefix(h, "Bearer ")
		}
	}
	switch {
	case token != "" && token == p.access:
		return caller{userID: p.fix.OAuth.UserID, appID: p.fix.OAuth.AppID}, nil
	case token != "" && p.peopleTokens[token] != 0:
		return caller{userID: p.peopleTokens[token], appID: p.fix.OAuth.AppID}, nil
	case p.expired[token]:
		return caller{}, errf(401, "expired_token", "The access token provided has expired.")
	default:
		return caller{}, errf(401, "NO_AUTH_FOUND", "Wrong authorization data")
	}
}

// echoed adds the request's parameters to an error's description when the
// portal is set to echo them.
func (p *Portal) echoed(e *apiError, params map[string]any) *apiError {
	if !p.echo {
		return e
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, params[k]))
	}
	return &apiError{e.status, e.code, e.desc + " (request: " + strings.Join(parts, ", ") + ")"}
}

func (p *Portal) serveToken(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	latency := p.tokenLatency
	p.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
		}
	}
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		_ = r.ParseForm()
		q = r.Form
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.TokenRequests++
	o := p.fix.OAuth
	if q.Get("client_id") != o.ClientID || q.Get("client_secret") != o.ClientSecret || o.ClientID == "" {
		writeJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "Invalid client credentials"})
		return
	}
	var person *pair // a signed-in person other than the seed's user
	uid := o.UserID
	switch grant := q.Get("grant_type"); {
	case grant == "authorization_code":
		c, ok := p.codes[q.Get("code")]
		delete(p.codes, q.Get("code")) // one use
		if !ok || time.Now().After(c.expires) {
			writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "Invalid authorization code"})
			return
		}
		if c.userID != 0 && c.userID != o.UserID {
			uid = c.userID
			if person = p.people[uid]; person == nil {
				person = &pair{}
				p.people[uid] = person
			}
		}
	case grant == "refresh_token" && q.Get("refresh_token") != "" && q.Get("refresh_token") != p.refresh:
		for id, pr := range p.people {
			if pr.refresh == q.Get("refresh_token") {
				uid, person = id, pr
			}
		}
		if person == nil {
			writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "Invalid grant"})
			return
		}
	case grant != "refresh_token" || q.Get("refresh_token") == "":
		writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "Invalid grant"})
		return
	}
	if person != nil {
		// Each person's pair rotates on its own; the old access token dies.
		person.n++
		if person.access != "" {
			p.expired[person.access] = true
			delete(p.peopleTokens, person.access)
		}
		b := make([]byte, 8)
		_, _ = crand.Read(b)
		person.access = fmt.Sprintf("u%d-access-%d-%s", uid, person.n, hex.EncodeToString(b))
		person.refresh = fmt.Sprintf("u%d-refresh-%d-%s", uid, person.n, hex.EncodeToString(b))
		p.peopleTokens[person.access] = uid
		p.writeTokenAnswer(w, q.Get("grant_type"), person.access, person.refresh, uid)
		return
	}
	p.stats.Refreshes++
	if p.access != "" {
		p.expired[p.access] = true
	}
	n := p.stats.Refreshes
	p.access = fmt.Sprintf("%s-r%d", strings.SplitN(o.AccessToken, "-r", 2)[0], n)
	p.refresh = fmt.Sprintf("%s-r%d", strings.SplitN(o.RefreshToken, "-r", 2)[0], n)
	p.writeTokenAnswer(w, q.Get("grant_type"), p.access, p.refresh, o.UserID)
}

// writeTokenAnswer is the token endpoint's answer as documented for each
// grant (testdata/bitrix24/oauth): the refresh answer names the user and
// when the token expires; the authorization-code answer does neither.
func (p *Portal) writeTokenAnswer(w http.ResponseWriter, grant, access, refresh string, uid int) {
	client, server := p.baseURL+"/rest/", p.baseURL+"/oauth/rest/"
	if p.endpoints[0] != "" {
		client, server = p.endpoints[0], p.endpoints[1]
	}
	answer := map[string]any{
		"access_token": access, "refresh_token": refresh, "expires_in": 3600, "client_endpoint": client, "server_endpoint": server,
		"domain": "oauth.bitrix.info", "member_id": "fake-member", "scope": strings.Join(p.fix.Scopes, ","), "status": "L",
	}
	if grant == "refresh_token" {
		answer["expires"] = time.Now().Add(time.Hour).Unix()
		answer["user_id"] = uid
	}
	writeJSON(w, 200, answer)
}

// serveAuthorize is Bitrix24's /oauth/authorize/: the person (ConsentAs's
// user, the OAuth seed's by default) grants the application access, and the
// browser goes to the redirect URI from the application's settings with a
// code that lives 30 seconds, and the state it came with.
func (p *Portal) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.URL.Query().Get("client_id") != p.fix.OAuth.ClientID || p.redirectURI == "" {
		http.Error(w, "unknown application", http.StatusBadRequest)
		return
	}
	b := make([]byte, 12)
	_, _ = crand.Read(b)
	code := hex.EncodeToString(b)
	p.codes[code] = authCode{expires: time.Now().Add(30 * time.Second), userID: p.consentAs}
	target, _ := url.Parse(p.redirectURI)
	q := target.Query()
	q.Set("code", code)
	if s := r.URL.Query().Get("state"); s != "" {
		q.Set("state", s)
	}
	domain := p.fix.Portal
	if u, err := url.Parse(p.baseURL); err == nil && u.Host != "" {
		domain = u.Host // the portal's own host, as Bitrix24 sends it
	}
	q.Set("domain", domain)
	q.Set("member_id", "fake-member")
	q.Set("scope", strings.Join(p.fix.Scopes, ","))
	q.Set("server_domain", "oauth.bitrix.info")
	target.RawQuery = q.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}

func (p *Portal) dispatch(who caller, method string, params map[string]any) (answer, *apiError) {
	switch strings.ToLower(method) {
	case "im.dialog.users.list":
		return p.dialogUsersList(who, params)
	case "im.chat.user.add":
		return p.chatUserAdd(who, params)
	case "imbot.chat.user.list":
		return p.botChatUserList(who, params)
	case "imbot.v2.chat.user.list":
		return p.botV2ChatUserList(who, params)
	case "imbot.v2.chat.get":
		return p.botV2ChatGet(who, params)
	case "imbot.bot.list":
		return p.botList(who, params)
	case "im.search.user.list":
		return p.searchUsers(params)
	case "user.search":
		return p.userSearch(params)
	case "im.user.list.get":
		return p.usersByID(params)
	case "im.search.chat.list":
		return p.searchChats(who, params)
	case "im.recent.list":
		return p.recent(who, params)
	case "im.dialog.get":
		return p.dialogGet(who, params)
	case "im.chat.user.delete":
		return p.chatUserDelete(who, params)
	case "imbot.v2.bot.register":
		return p.botRegister(who, params)
	case "department.get":
		return p.departmentGet(params)
	case "im.department.managers.get":
		return p.departmentManagers(who, params)
	case "user.get":
		return p.userGet(params)
	case "sonet_group.get":
		return p.sonetGroupGet(who, params)
	case "sonet_group.user.get":
		return p.sonetGroupUserGet(who, params)
	case "scope":
		return answer{result: p.fix.Scopes}, nil
	case "user.current":
		u := p.users[who.userID]
		if u == nil {
			return answer{}, errf(401, "NO_AUTH_FOUND", "Wrong authorization data")
		}
		return answer{result: renderPortalUser(u, false)}, nil
	}
	return answer{}, errf(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
}

func timing(now time.Time, reset *time.Time) map[string]any {
	f := float64(now.UnixNano()) / 1e9
	// As the docs' examples show it: operating 0 and a reset 10 minutes on
	// unless the method's time limit is running.
	t := map[string]any{"start": f, "finish": f + 0.001, "duration": 0.001, "processing": 0,
		"date_start": now.Format(time.RFC3339), "date_finish": now.Format(time.RFC3339),
		"operating_reset_at": now.Add(10 * time.Minute).Unix(), "operating": 0}
	if reset != nil {
		t["operating_reset_at"] = reset.Unix()
		t["operating"] = 480.5
	}
	return t
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, map[string]any{"error": e.code, "error_description": e.desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readParams merges the query string and the body (JSON, or a form with PHP
// brackets). Invalid JSON counts as no parameters, as on the real portal.
func readParams(r *http.Request) map[string]any {
	params := parsePHPQuery(r.URL.RawQuery)
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	ct := r.Header.Get("Content-Type")
	switch {
	case strings.Contains(ct, "json"):
		var m map[string]any
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		if dec.Decode(&m) == nil {
			for k, v := range m {
				params[k] = v
			}
		}
	case len(body) > 0:
		for k, v := range parsePHPQuery(string(body)) {
			params[k] = v
		}
	}
	return params
}
