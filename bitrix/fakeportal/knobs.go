package fakeportal

import (
	"strings"
	"time"
)

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

// SetFreePlan makes every method answer the system ACCESS_DENIED of a
// portal on a free plan (REST is only on commercial plans).
func (p *Portal) SetFreePlan(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.freePlan = on
}

// SetTokenEndpoints makes token answers name these client_endpoint and
// server_endpoint (a regional OAuth server, or a host not to be trusted).
func (p *Portal) SetTokenEndpoints(client, server string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endpoints = [2]string{client, server}
}

// SetFailRate makes that share of requests (0..1) answer 500 INTERNAL_SERVER_ERROR.
func (p *Portal) SetFailRate(rate float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failRate = rate
}

// EchoParams makes every error description repeat the request's parameters,
// tokens included, as some portals and proxies do.
func (p *Portal) EchoParams(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.echo = on
}

// LoseAnswers makes the next n calls of method run and then lose their
// answer: the connection closes before a byte of it is sent.
func (p *Portal) LoseAnswers(method string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loseAnswers[strings.ToLower(method)] = n
}

// SetTokenLatency delays the OAuth token endpoint's answers.
func (p *Portal) SetTokenLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tokenLatency = d
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

// ConsentAs makes /oauth/authorize/ sign in as user id (the person at the
// browser); 0 goes back to the OAuth seed's user.
func (p *Portal) ConsentAs(id int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.consentAs = id
}

// ExpireUserToken makes a signed-in person's access token answer
// expired_token (the seed's user: ExpireToken).
func (p *Portal) ExpireUserToken(id int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr := p.people[id]; pr != nil {
		p.expired[pr.access] = true
		delete(p.peopleTokens, pr.access)
		pr.access = ""
	}
}

// RevokeUser expires a signed-in person's access token and makes their
// refresh token answer invalid_grant, as when they removed the application
// or an admin blocked them.
func (p *Portal) RevokeUser(id int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr := p.people[id]; pr != nil {
		p.expired[pr.access] = true // the access token lives out its hour; then no refresh
		delete(p.peopleTokens, pr.access)
		delete(p.people, id)
	}
}

// UserRefreshes is how many times a signed-in person's pair was refreshed.
func (p *Portal) UserRefreshes(id int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pr := p.people[id]; pr != nil {
		return pr.n
	}
	return 0
}
