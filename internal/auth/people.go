package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/audit"
)

// revokeGrant ends one client's sign-in (its refresh token and, within
// seconds, its access tokens). The caller holds the person's lock.
func (s *Server) revokeGrant(ctx context.Context, uid int, grantID, why string) error {
	r, err := s.records.person(ctx, uid)
	if errors.Is(err, errSealedElsewhere) {
		return nil // nothing of it works any more
	}
	if err != nil || r == nil {
		return err
	}
	g := r.Grants[grantID]
	if g == nil {
		return nil
	}
	delete(r.Grants, grantID)
	if err := s.records.savePerson(ctx, uid, r, 0); err != nil {
		return err
	}
	s.live.forget(grantID)
	if len(r.Grants) == 0 {
		s.people.drop(uid)
	}
	s.event("revoked")
	s.audit(audit.Entry{Event: audit.SignOut, UserID: userKey(uid), ClientID: g.ClientID, Client: g.Client, Outcome: "done", Reason: why})
	return nil
}

// revokeUser ends every sign-in of a person and forgets their Bitrix24
// pair. The caller holds the person's lock.
func (s *Server) revokeUser(ctx context.Context, uid int, why string) error {
	r, err := s.records.person(ctx, uid)
	if err != nil && !errors.Is(err, errSealedElsewhere) {
		return err
	}
	if err := s.records.deletePerson(ctx, uid); err != nil {
		return err
	}
	s.people.drop(uid)
	if r != nil {
		for id, g := range r.Grants {
			s.live.forget(id)
			s.event("revoked")
			s.audit(audit.Entry{Event: audit.SignOut, UserID: userKey(uid), ClientID: g.ClientID, Client: g.Client, Outcome: "done", Reason: why})
		}
	}
	return nil
}

// people holds each signed-in person's Bitrix24 client while they use it:
// one client per person, so however many of their calls meet an expired
// token, the pair is refreshed once (the client's lock here, the store's
// lock across replicas). An idle client is let go.
type people struct {
	s       *Server
	mu      sync.Mutex
	clients map[int]*person
	swept   time.Time
}

type person struct {
	client *bitrix.Client
	used   time.Time
}

const personIdle = 15 * time.Minute

func newPeople(s *Server) *people { return &people{s: s, clients: map[int]*person{}} }

// client returns the person's Bitrix24 client, building it from their
// stored pair when they have none here yet.
func (p *people) client(ctx context.Context, uid int) (*bitrix.Client, error) {
	now := p.s.now()
	p.mu.Lock()
	if now.Sub(p.swept) > time.Minute {
		for id, c := range p.clients {
			if now.Sub(c.used) > personIdle {
				delete(p.clients, id)
			}
		}
		p.swept = now
	}
	if c := p.clients[uid]; c != nil {
		c.used = now
		p.mu.Unlock()
		return c.client, nil
	}
	p.mu.Unlock()
	// Read the pair without holding everyone's lock (the store may be a
	// network away); the first client made for the person wins.
	c, err := p.s.cfg.Base.ForUser(ctx, &pairs{s: p.s, uid: uid})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if have := p.clients[uid]; have != nil {
		have.used = now
		return have.client, nil
	}
	p.clients[uid] = &person{client: c, used: now}
	return c, nil
}

func (p *people) drop(uid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.clients, uid)
}

// count is how many people have a client here now.
func (p *people) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.clients)
}

// ClientFor is the Bitrix24 client a request's person calls with.
func (s *Server) ClientFor(ctx context.Context, id *Identity) (*bitrix.Client, error) {
	if id == nil {
		return nil, errors.New("auth: the call carries no signed-in person")
	}
	return s.people.client(ctx, id.UserID)
}

// pairs is a person's Bitrix24 pair as the client's refresh code keeps it
// (bitrix.PairStore), inside their sealed record.
type pairs struct {
	s   *Server
	uid int
}

func (p *pairs) String() string {
	return fmt.Sprintf("the sign-in record of user %d in %s", p.uid, p.s.cfg.Store)
}

func (p *pairs) LockPair(ctx context.Context) (func(), error) {
	return p.s.records.lockPerson(ctx, p.uid)
}

func (p *pairs) LoadPair(ctx context.Context) (*bitrix.Pair, error) {
	r, err := p.s.records.person(ctx, p.uid)
	if err != nil || r == nil || r.Pair == nil {
		return nil, err
	}
	return &bitrix.Pair{AccessToken: bitrix.Secret(r.Pair.Access), RefreshToken: bitrix.Secret(r.Pair.Refresh), ClientEndpoint: r.Pair.ClientEndpoint,
		TokenURL: r.Pair.TokenURL, UserID: p.uid, ExpiresAt: r.Pair.ExpiresAt}, nil
}

func (p *pairs) SavePair(ctx context.Context, pair bitrix.Pair) error {
	r, err := p.s.records.person(ctx, p.uid)
	if err != nil {
		return err
	}
	if r == nil {
		return bitrix.ErrSignedOut // signed out while the refresh ran: keep nothing
	}
	r.Pair = &pairRecord{Access: pair.AccessToken.Reveal(), Refresh: pair.RefreshToken.Reveal(), ClientEndpoint: pair.ClientEndpoint,
		TokenURL: pair.TokenURL, ExpiresAt: pair.ExpiresAt}
	return p.s.records.savePerson(ctx, p.uid, r, 0)
}

func (p *pairs) ForgetPair(ctx context.Context) error {
	p.s.log.Warn("Bitrix24 refused a person's refresh token: their sign-ins are revoked", "user_id", p.uid)
	return p.s.revokeUser(ctx, p.uid, "Bitrix24 refused the refresh token (invalid_grant)")
}

// Signin is one client's sign-in, as the operator sees it.
type Signin struct {
	UserID     int
	ClientID   string
	ClientName string
	Scope      string
	Created    time.Time
}

// Signins lists every sign-in in the store, by person.
func (s *Server) Signins(ctx context.Context) ([]Signin, error) {
	uids, err := s.records.peopleIDs(ctx)
	if err != nil {
		return nil, err
	}
	var out []Signin
	for _, uid := range uids {
		r, err := s.records.person(ctx, uid)
		if errors.Is(err, errSealedElsewhere) {
			continue // from before the key changed: nobody can use it
		}
		if err != nil {
			return nil, err
		}
		if r == nil {
			continue
		}
		for _, g := range r.Grants {
			out = append(out, Signin{UserID: uid, ClientID: g.ClientID, ClientName: g.Client, Scope: g.Scope, Created: g.Created})
		}
	}
	slices.SortFunc(out, func(a, b Signin) int {
		if a.UserID != b.UserID {
			return a.UserID - b.UserID
		}
		return a.Created.Compare(b.Created)
	})
	return out, nil
}

// SignOutPerson ends every sign-in of a person and forgets their Bitrix24
// tokens (the operator's signins revoke). It reports whether there were any.
func (s *Server) SignOutPerson(ctx context.Context, uid int, why string) (bool, error) {
	unlock, err := s.records.lockPerson(ctx, uid)
	if err != nil {
		return false, err
	}
	defer unlock()
	r, err := s.records.person(ctx, uid)
	if errors.Is(err, errSealedElsewhere) {
		return true, s.revokeUser(ctx, uid, why)
	}
	if err != nil || r == nil {
		return false, err
	}
	return true, s.revokeUser(ctx, uid, why)
}
