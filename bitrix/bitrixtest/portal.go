// Package bitrixtest is a fake Bitrix24 portal for tests and the server's
// demo mode. It serves the REST methods this project wraps, plus batch and
// the OAuth token endpoint, as API-NOTES.md describes them: both pagination
// modes of im.dialog.users.list, inactive users excluded, external-type
// filters, the bot auth rules, the documented error codes, a leaky bucket
// that answers 503, and injectable faults. Counters let tests see what
// reached the portal.
//
//	p := bitrixtest.New(fixture, bitrixtest.WithRateLimit(2, 50))
//	srv := p.Start()           // an httptest.Server
//	defer srv.Close()
//	cfg := bitrix.Config{WebhookURL: bitrix.Secret(p.WebhookURL())}
package bitrixtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Portal is a fake Bitrix24 portal. Its methods are safe for concurrent use.
type Portal struct {
	mu       sync.Mutex
	fix      Fixture
	users    map[int]*User
	chats    map[int]*Chat
	bots     map[int]*Bot
	hidden   map[[2]int]bool // (chat, user) -> joined with history hidden
	baseURL  string
	access   string
	refresh  string
	expired  map[string]bool
	apiPause map[string]time.Time // lower-case method -> OPERATION_TIME_LIMIT until

	// leaky bucket
	rate, burst float64
	level       float64
	last        time.Time

	failRate float64
	latency  time.Duration
	rng      *rand.Rand

	stats Stats
}

// Stats counts what reached the portal.
type Stats struct {
	Requests     int            // HTTP requests to REST methods (a batch is one), refused ones too
	ByMethod     map[string]int // calls that got past the limit, faults and auth, by method; batch commands by their own method
	Rejected503  int            // QUERY_LIMIT_EXCEEDED answers
	Injected500  int            // faults injected
	Refreshes    int            // successful token refreshes
	AddUserCalls int            // im.chat.user.add executions (inside batches too)
	InBatch      map[string]int // commands executed inside batch requests, by method
}

// Option configures a Portal.
type Option func(*Portal)

// WithRateLimit sets the leaky bucket: drain rate per second and capacity.
// Without it the portal never refuses for intensity.
func WithRateLimit(rate float64, burst int) Option {
	return func(p *Portal) { p.rate, p.burst = rate, float64(burst) }
}

// WithSeed makes injected faults reproducible.
func WithSeed(seed uint64) Option {
	return func(p *Portal) { p.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
}

// New builds a portal from a fixture (which it copies).
func New(f *Fixture, opts ...Option) *Portal {
	p := &Portal{fix: *f, users: map[int]*User{}, chats: map[int]*Chat{}, bots: map[int]*Bot{},
		hidden: map[[2]int]bool{}, expired: map[string]bool{}, apiPause: map[string]time.Time{},
		rng: rand.New(rand.NewPCG(1, 2)), stats: Stats{ByMethod: map[string]int{}, InBatch: map[string]int{}}}
	for i := range f.Users {
		u := f.Users[i]
		p.users[u.ID] = &u
	}
	for i := range f.Chats {
		c := f.Chats[i]
		c.Members = append([]int(nil), c.Members...)
		p.chats[c.ID] = &c
	}
	for i := range f.Bots {
		b := f.Bots[i]
		p.bots[b.ID] = &b
	}
	for _, g := range f.Large {
		p.AddLargeChat(g)
	}
	p.access, p.refresh = f.OAuth.AccessToken, f.OAuth.RefreshToken
	for _, o := range opts {
		o(p)
	}
	return p
}

// AddLargeChat generates a chat of many synthetic users.
func (p *Portal) AddLargeChat(g LargeChat) {
	p.mu.Lock()
	defer p.mu.Unlock()
	users, chat := g.generate(p.fix.Webhook.UserID)
	for i := range users {
		u := users[i]
		p.users[u.ID] = &u
	}
	p.chats[chat.ID] = &chat
}

// Start serves the portal on a loopback httptest.Server.
func (p *Portal) Start() *httptest.Server {
	srv := httptest.NewServer(p)
	p.SetBaseURL(srv.URL)
	return srv
}

// SetBaseURL tells the portal where it is served (for the URL helpers).
func (p *Portal) SetBaseURL(u string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.baseURL = strings.TrimRight(u, "/")
}

// WebhookURL is the portal's inbound webhook URL (it holds the code).
func (p *Portal) WebhookURL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("%s/rest/%d/%s/", p.baseURL, p.fix.Webhook.UserID, p.fix.Webhook.Code)
}

// ClientEndpoint is the OAuth REST endpoint.
func (p *Portal) ClientEndpoint() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.baseURL + "/rest/"
}

// TokenURL is the OAuth token endpoint, standing in for oauth.bitrix.info.
func (p *Portal) TokenURL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.baseURL + "/oauth/token/"
}

// Tokens returns the access and refresh tokens the portal accepts now.
func (p *Portal) Tokens() (access, refresh string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.access, p.refresh
}

// Fixture returns the seed the portal was built from.
func (p *Portal) Fixture() Fixture { return p.fix }

// SetScopes changes the scopes the credentials have (what `scope` answers).
// Methods themselves do not check them.
func (p *Portal) SetScopes(scopes ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fix.Scopes = scopes
}

// ExpireToken makes the current access token answer expired_token.
func (p *Portal) ExpireToken() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expired[p.access] = true
	p.access = "" // nothing is accepted until a refresh
}

// SetFailRate makes that share of requests (0..1) answer 500 INTERNAL_SERVER_ERROR.
func (p *Portal) SetFailRate(rate float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failRate = rate
}

// SetLatency delays every answer.
func (p *Portal) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
}

// PauseMethod makes method answer 429 OPERATION_TIME_LIMIT until reset.
func (p *Portal) PauseMethod(method string, reset time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// The portal reports the reset in whole unix seconds.
	p.apiPause[strings.ToLower(method)] = reset.Truncate(time.Second)
}

// Stats returns a copy of the counters.
func (p *Portal) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.ByMethod = make(map[string]int, len(p.stats.ByMethod))
	for k, v := range p.stats.ByMethod {
		s.ByMethod[k] = v
	}
	s.InBatch = make(map[string]int, len(p.stats.InBatch))
	for k, v := range p.stats.InBatch {
		s.InBatch[k] = v
	}
	return s
}

// ResetStats zeroes the counters.
func (p *Portal) ResetStats() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats = Stats{ByMethod: map[string]int{}, InBatch: map[string]int{}}
}

// Members returns a chat's member ids in join order (nil when no such chat).
func (p *Portal) Members(chatID int) []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.chats[chatID]
	if c == nil {
		return nil
	}
	return append([]int(nil), c.Members...)
}

// HiddenHistory reports whether a user joined chatID with history hidden.
func (p *Portal) HiddenHistory(chatID, userID int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hidden[[2]int{chatID, userID}]
}

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
		writeError(w, aerr)
		return
	}
	p.stats.ByMethod[strings.ToLower(method)]++
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
		writeError(w, aerr)
		return
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
	case p.expired[token]:
		return caller{}, errf(401, "expired_token", "The access token provided has expired.")
	default:
		return caller{}, errf(401, "NO_AUTH_FOUND", "Wrong authorization data")
	}
}

func (p *Portal) serveToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		_ = r.ParseForm()
		q = r.Form
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.fix.OAuth
	if q.Get("client_id") != o.ClientID || q.Get("client_secret") != o.ClientSecret || o.ClientID == "" {
		writeJSON(w, 401, map[string]any{"error": "invalid_client", "error_description": "Invalid client credentials"})
		return
	}
	if q.Get("grant_type") != "refresh_token" || q.Get("refresh_token") == "" || q.Get("refresh_token") != p.refresh {
		writeJSON(w, 400, map[string]any{"error": "invalid_grant", "error_description": "Invalid grant"})
		return
	}
	p.stats.Refreshes++
	if p.access != "" {
		p.expired[p.access] = true
	}
	n := p.stats.Refreshes
	p.access = fmt.Sprintf("%s-r%d", strings.SplitN(o.AccessToken, "-r", 2)[0], n)
	p.refresh = fmt.Sprintf("%s-r%d", strings.SplitN(o.RefreshToken, "-r", 2)[0], n)
	writeJSON(w, 200, map[string]any{
		"access_token": p.access, "refresh_token": p.refresh, "expires": time.Now().Add(time.Hour).Unix(),
		"expires_in": 3600, "client_endpoint": p.baseURL + "/rest/", "server_endpoint": p.baseURL + "/oauth/rest/",
		"domain": p.fix.Portal, "member_id": "fake-member", "scope": strings.Join(p.fix.Scopes, ","),
		"user_id": o.UserID, "status": "L",
	})
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
	case "scope":
		return answer{result: p.fix.Scopes}, nil
	case "user.current":
		u := p.users[who.userID]
		if u == nil {
			return answer{}, errf(401, "NO_AUTH_FOUND", "Wrong authorization data")
		}
		return answer{result: map[string]any{"ID": strconv.Itoa(u.ID), "NAME": u.FirstName, "LAST_NAME": u.LastName, "ACTIVE": u.Active}}, nil
	}
	return answer{}, errf(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
}

func (p *Portal) batch(who caller, params map[string]any) (map[string]any, *apiError) {
	type cmd struct{ key, text string }
	var cmds []cmd
	switch c := params["cmd"].(type) {
	case map[string]any:
		for k, v := range c {
			cmds = append(cmds, cmd{k, str(v)})
		}
		sort.Slice(cmds, func(i, j int) bool { return keyLess(cmds[i].key, cmds[j].key) })
	case []any:
		for i, v := range c {
			cmds = append(cmds, cmd{strconv.Itoa(i), str(v)})
		}
	default:
		return nil, errf(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded") // real portal: no commands
	}
	halt := truthy(params["halt"])
	result, errs, totals, nexts, times := newOrdered(), newOrdered(), newOrdered(), newOrdered(), newOrdered()
	now := time.Now()
	for i, c := range cmds {
		if i >= 50 {
			errs.set(c.key, map[string]any{"error": "ERROR_BATCH_LENGTH_EXCEEDED", "error_description": "Max batch length exceeded"})
			continue
		}
		method, query, _ := strings.Cut(c.text, "?")
		if strings.EqualFold(method, "batch") {
			errs.set(c.key, map[string]any{"error": "ERROR_BATCH_METHOD_NOT_ALLOWED", "error_description": "Method is not allowed for batch usage"})
			continue
		}
		p.stats.ByMethod[strings.ToLower(method)]++
		p.stats.InBatch[strings.ToLower(method)]++
		var ans answer
		var aerr *apiError
		if reset, ok := p.apiPause[strings.ToLower(method)]; ok && now.Before(reset) {
			aerr = errf(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
		} else {
			ans, aerr = p.dispatch(who, method, parsePHPQuery(query))
		}
		if aerr != nil {
			errs.set(c.key, map[string]any{"error": aerr.code, "error_description": aerr.desc})
			if halt {
				break
			}
			continue
		}
		result.set(c.key, ans.result)
		if ans.total != nil {
			totals.set(c.key, *ans.total)
		}
		if ans.next != nil {
			nexts.set(c.key, *ans.next)
		}
		times.set(c.key, timing(now, nil))
	}
	return map[string]any{"result": result, "result_error": errs, "result_total": totals,
		"result_next": nexts, "result_time": times}, nil
}

// ordered renders like a PHP array: [] when empty, a JSON array when its keys
// are 0..n-1 in order, an object otherwise.
type ordered struct {
	keys []string
	vals map[string]any
}

func newOrdered() *ordered { return &ordered{vals: map[string]any{}} }

func (o *ordered) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *ordered) MarshalJSON() ([]byte, error) {
	sequential := true
	for i, k := range o.keys {
		if k != strconv.Itoa(i) {
			sequential = false
			break
		}
	}
	if sequential {
		list := make([]any, len(o.keys))
		for i, k := range o.keys {
			list[i] = o.vals[k]
		}
		return json.Marshal(list)
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(o.vals[k])
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

func keyLess(a, b string) bool {
	ai, aerr := strconv.Atoi(a)
	bi, berr := strconv.Atoi(b)
	if aerr == nil && berr == nil {
		return ai < bi
	}
	return a < b
}

func timing(now time.Time, reset *time.Time) map[string]any {
	f := float64(now.UnixNano()) / 1e9
	t := map[string]any{"start": f, "finish": f + 0.001, "duration": 0.001, "processing": 0,
		"date_start": now.Format(time.RFC3339), "date_finish": now.Format(time.RFC3339)}
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

// parsePHPQuery reads a=1&b[]=2&b[]=3&c[x]=4 as PHP's parse_str does (one level deep).
func parsePHPQuery(q string) map[string]any {
	out := map[string]any{}
	for _, pair := range strings.Split(q, "&") {
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			continue
		}
		name, sub, hasSub := strings.Cut(key, "[")
		if !hasSub {
			out[name] = val
			continue
		}
		sub = strings.TrimSuffix(sub, "]")
		if sub == "" {
			list, _ := out[name].([]any)
			out[name] = append(list, val)
			continue
		}
		m, _ := out[name].(map[string]any)
		if m == nil {
			m = map[string]any{}
		}
		m[sub] = val
		out[name] = m
	}
	return out
}

// str reads a parameter as PHP would cast it to string.
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "1"
		}
		return ""
	}
	return fmt.Sprint(v)
}

// intParam reads a parameter as PHP's (int) cast: 0 when absent or not numeric.
func intParam(v any) int {
	s := strings.TrimSpace(str(v))
	n, err := strconv.Atoi(s)
	if err != nil {
		if f, ferr := strconv.ParseFloat(s, 64); ferr == nil {
			return int(f)
		}
		return 0
	}
	return n
}

func intList(v any) []int {
	var out []int
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = append(out, intParam(e))
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
		for _, k := range keys {
			out = append(out, intParam(x[k]))
		}
	case nil:
	default:
		if n := intParam(x); n != 0 {
			out = append(out, n)
		}
	}
	return out
}

// truthy is PHP's bool cast: "", "0" and 0 are false; everything else, even "false", is true.
func truthy(v any) bool {
	s := str(v)
	return s != "" && s != "0"
}

// Transport serves requests in-process, with no listening socket: the demo
// mode's portal lives inside the server binary.
func (p *Portal) Transport() http.RoundTripper { return handlerTransport{p} }

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}
