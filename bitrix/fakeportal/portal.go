// Package fakeportal is a fake Bitrix24 portal for tests and the server's
// demo mode. It serves the REST methods this project wraps, plus batch and
// the OAuth token endpoint, as the vendor's pages describe them: both
// pagination modes of im.dialog.users.list, inactive users excluded,
// external-type filters, the bot auth rules, the documented error codes, a
// leaky bucket that answers 503, and injectable faults. Counters let tests
// see what reached the portal.
//
// The files: portal.go (state and accessors), knobs.go (faults and
// counters), http.go (requests, auth, the token endpoint), methods.go,
// batch.go, phpquery.go (PHP's query decoding), transport.go (in-process,
// no socket) and fixture.go (seed data). Test helpers are in portaltest.
//
//	p := portaltest.Start(t, nil, fakeportal.WithRateLimit(2, 50))
//	cfg := bitrix.Config{WebhookURL: bitrix.Secret(p.WebhookURL())}
package fakeportal

import (
	"fmt"
	"math/rand/v2"
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

	failRate     float64
	freePlan     bool      // every method: ACCESS_DENIED, REST only on paid plans
	endpoints    [2]string // client_endpoint and server_endpoint token answers give; "" for the portal's own
	redirectURI  string    // the OAuth application's redirect URI (its settings)
	codes        map[string]authCode
	consentAs    int            // who /oauth/authorize/ signs in as; 0: the OAuth seed's user
	people       map[int]*pair  // signed-in people other than the seed's user: their live pair
	peopleTokens map[string]int // a person's live access token -> their id
	echo         bool           // error descriptions repeat the request's parameters
	loseAnswers  map[string]int // lower-case method -> calls whose answer is lost after running
	tokenLatency time.Duration
	latency      time.Duration
	rng          *rand.Rand

	stats Stats
}

// Stats counts what reached the portal.
type Stats struct {
	Requests        int            // HTTP requests to REST methods (a batch is one), refused ones too
	ByMethod        map[string]int // calls that got past the limit, faults and auth, by method; batch commands by their own method
	Rejected503     int            // QUERY_LIMIT_EXCEEDED answers
	Injected500     int            // faults injected
	Refreshes       int            // successful token refreshes
	TokenRequests   int            // requests to the OAuth token endpoint, refused ones too
	AddUserCalls    int            // im.chat.user.add executions (inside batches too)
	DeleteUserCalls int            // im.chat.user.delete removals
	BotsRegistered  int            // imbot.v2.Bot.register calls that made a new bot
	InBatch         map[string]int // commands executed inside batch requests, by method
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
		hidden: map[[2]int]bool{}, expired: map[string]bool{}, codes: map[string]authCode{}, people: map[int]*pair{}, peopleTokens: map[string]int{}, apiPause: map[string]time.Time{}, loseAnswers: map[string]int{},
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
	if len(f.Structure) > 0 {
		p.fix.Departments = map[string]string{}
		for _, d := range f.Structure {
			p.fix.Departments[strconv.Itoa(d.ID)] = d.Name
		}
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

// ChatIDs lists the fixture's chats, then the generated ones, in seed order.
func (p *Portal) ChatIDs() []int {
	var ids []int
	for _, c := range p.fix.Chats {
		ids = append(ids, c.ID)
	}
	for _, g := range p.fix.Large {
		ids = append(ids, g.ChatID)
	}
	return ids
}

// ActiveMemberCount is how many members im.dialog.users.list reports for a
// chat: dismissed users are never listed.
func (p *Portal) ActiveMemberCount(chatID int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	if c := p.chats[chatID]; c != nil {
		for _, id := range c.Members {
			if u := p.users[id]; u != nil && u.Active {
				n++
			}
		}
	}
	return n
}

// Secrets lists every credential the portal knows, past and present: tests
// search logs, errors and results for them.
func (p *Portal) Secrets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fix
	out := []string{f.Webhook.Code, f.OAuth.ClientSecret, f.OAuth.AccessToken, f.OAuth.RefreshToken, p.access, p.refresh}
	for tok := range p.expired {
		out = append(out, tok)
	}
	for _, pr := range p.people {
		out = append(out, pr.access, pr.refresh)
	}
	for _, b := range f.Bots {
		out = append(out, b.Token, b.ClientID)
	}
	var nonEmpty []string
	for _, s := range out {
		if s != "" {
			nonEmpty = append(nonEmpty, s)
		}
	}
	return nonEmpty
}

type authCode struct {
	expires time.Time
	userID  int
}

// pair is a signed-in person's live tokens; n counts their rotations.
type pair struct {
	access, refresh string
	n               int
}

// SetRedirectURI sets the OAuth application's redirect URI, as its
// settings in Bitrix24 would: where /oauth/authorize/ sends the browser.
func (p *Portal) SetRedirectURI(u string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redirectURI = u
}
