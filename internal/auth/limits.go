package auth

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Anyone on the internet may register a client, start a sign-in, make the
// server fetch a metadata document, or call /token; each costs a stored
// value or an outbound request. So each is limited per source (an IPv4
// address, an IPv6 /64) and overall, the overall ceiling far above what one
// source may take: one source at its limit leaves room for everyone else.

// Rate is one limit: events a minute and burst, per source and overall.
type Rate struct {
	PerSource, Overall        float64 // a minute
	SourceBurst, OverallBurst int
}

// Limits are the sign-in's limits. Zero fields take DefaultLimits'.
type Limits struct {
	Registrations Rate // POST /register
	SignIns       Rate // GET /authorize
	Documents     Rate // client metadata documents fetched (after the sign-in limit)
	Tokens        Rate // POST /token and /revoke
	// RefreshesPerGrant refreshes of one sign-in within RefreshWindow; a
	// client in a refresh loop is told to wait.
	RefreshesPerGrant int
	RefreshWindow     time.Duration
}

// DefaultLimits: a team signs in a few times a day per person, a client
// registers once, refreshes every quarter of an hour.
var DefaultLimits = Limits{
	Registrations:     Rate{PerSource: 10, SourceBurst: 20, Overall: 60, OverallBurst: 40},
	SignIns:           Rate{PerSource: 30, SourceBurst: 30, Overall: 600, OverallBurst: 200},
	Documents:         Rate{PerSource: 10, SourceBurst: 10, Overall: 120, OverallBurst: 60},
	Tokens:            Rate{PerSource: 120, SourceBurst: 60, Overall: 3000, OverallBurst: 600},
	RefreshesPerGrant: 20,
	RefreshWindow:     10 * time.Minute,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.Registrations == (Rate{}) {
		l.Registrations = d.Registrations
	}
	if l.SignIns == (Rate{}) {
		l.SignIns = d.SignIns
	}
	if l.Documents == (Rate{}) {
		l.Documents = d.Documents
	}
	if l.Tokens == (Rate{}) {
		l.Tokens = d.Tokens
	}
	if l.RefreshesPerGrant == 0 {
		l.RefreshesPerGrant = d.RefreshesPerGrant
	}
	if l.RefreshWindow == 0 {
		l.RefreshWindow = d.RefreshWindow
	}
	return l
}

// maxSources bounds the sources a limiter remembers; the least recently
// seen is forgotten first (the overall limit still holds for it).
const maxSources = 10000

// limiter is one Rate, with a limiter per recent source.
type limiter struct {
	rate    Rate
	now     func() time.Time
	mu      sync.Mutex
	overall *rate.Limiter
	sources map[netip.Prefix]*list.Element
	order   *list.List // of *sourceLimit, most recent first
}

type sourceLimit struct {
	source netip.Prefix
	lim    *rate.Limiter
}

func newLimiter(r Rate, now func() time.Time) *limiter {
	return &limiter{rate: r, now: now, overall: rate.NewLimiter(perMinute(r.Overall), r.OverallBurst),
		sources: map[netip.Prefix]*list.Element{}, order: list.New()}
}

func perMinute(n float64) rate.Limit { return rate.Limit(n / 60) }

// allow takes one event for source, or says how long to wait.
func (l *limiter) allow(source netip.Prefix) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	src := l.source(source)
	r := src.ReserveN(now, 1)
	if d := r.DelayFrom(now); !r.OK() || d > 0 {
		r.CancelAt(now)
		return false, max(d, time.Second)
	}
	o := l.overall.ReserveN(now, 1)
	if d := o.DelayFrom(now); !o.OK() || d > 0 {
		o.CancelAt(now)
		r.CancelAt(now)
		return false, max(d, time.Second)
	}
	return true, 0
}

// source is source's limiter, made (and the oldest forgotten) as needed.
func (l *limiter) source(p netip.Prefix) *rate.Limiter {
	if e, ok := l.sources[p]; ok {
		l.order.MoveToFront(e)
		return e.Value.(*sourceLimit).lim
	}
	if l.order.Len() >= maxSources {
		last := l.order.Back()
		delete(l.sources, last.Value.(*sourceLimit).source)
		l.order.Remove(last)
	}
	s := &sourceLimit{source: p, lim: rate.NewLimiter(perMinute(l.rate.PerSource), l.rate.SourceBurst)}
	l.sources[p] = l.order.PushFront(s)
	return s.lim
}

// sourceOf is who sent a request: its peer's address, or, when the peer is
// a trusted proxy, the address the proxy says it forwarded for (the last
// untrusted one in X-Forwarded-For). An IPv6 source is its /64.
func sourceOf(r *http.Request, trusted []netip.Prefix) netip.Prefix {
	peer := addrOf(r.RemoteAddr)
	if isTrusted(peer, trusted) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
			if err != nil {
				break // a hop we cannot read: stop at the last we trust
			}
			peer = hop.Unmap()
			if !isTrusted(peer, trusted) {
				break
			}
		}
	}
	bits := 32
	if peer.Is6() {
		bits = 64
	}
	p, _ := peer.Prefix(bits)
	return p
}

func addrOf(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies reads MCP_TRUSTED_PROXIES: a comma list of addresses
// or CIDR prefixes.
func ParseTrustedProxies(raw string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") {
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, err
			}
			part = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()).String()
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
