package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// BenchmarkAbuse: ten minutes (on a moved clock) of one source hammering
// every limit at ten times its rate: registrations of the largest size
// allowed, started sign-ins, client metadata documents to fetch, and
// refreshes of its own sign-in. Then another source signs in. It prints what
// was let through, what the store holds, and the process's memory. Run by
// `make bench`.
func BenchmarkAbuse(b *testing.B) {
	if b.N > 1 {
		b.Skip("runs once: -benchtime 1x")
	}
	clk := &clock{now: time.Now()}
	fetches := 0
	dir := b.TempDir()
	s := newTestServer(b, dir, func(c *Config) {
		c.Now = clk.Now
		c.upstream = fakeUpstream{uid: 1271}
		c.MetadataClient = &http.Client{Transport: roundTrip(func(*http.Request) (*http.Response, error) {
			fetches++
			return nil, fmt.Errorf("no such host")
		})}
	})
	store := s.cfg.Store.(*BoltStore)
	store.now = clk.Now
	attacker := &browserFlow{s: s, redirect: "http://127.0.0.1:41999/cb"}
	for _, st := range attacker.steps()[:5] {
		if code := st.run(); code >= 400 {
			b.Fatalf("the attacker's own sign-in: %s HTTP %d", st.name, code)
		}
	}
	from := func(r *http.Request) *http.Request { r.RemoteAddr = "203.0.113.7:4000"; return r }
	send := func(r *http.Request) int {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, from(r))
		return w.Code
	}
	long := "https://app.example/" + strings.Repeat("a", maxRedirectURILen-len("https://app.example/"))
	var uris []string
	for range maxRedirectURIs {
		uris = append(uris, `"`+long+`"`)
	}
	biggest := `{"redirect_uris":[` + strings.Join(uris, ",") + `],"client_name":"` + strings.Repeat("n", maxClientName) + `"}`
	type tally struct{ ok, refused int }
	counts := map[string]*tally{"registrations": {}, "sign-ins started": {}, "documents asked for": {}, "refreshes": {}}
	count := func(what string, code, ok int) {
		if code == ok {
			counts[what].ok++
		} else {
			counts[what].refused++
		}
	}
	var peakHeap uint64
	start := time.Now()
	for second := range 600 {
		for i := range 10 {
			r := httptest.NewRequest(http.MethodPost, "/register", strings.NewReader(biggest))
			count("registrations", send(r), http.StatusCreated)
			for range 3 {
				q := url.Values{"response_type": {"code"}, "client_id": {attacker.client}, "redirect_uri": {attacker.redirect},
					"state": {strings.Repeat("s", maxParam)}, "code_challenge": {pkceChallenge(strings.Repeat("v", 50))},
					"code_challenge_method": {"S256"}, "resource": {s.issuer + "/mcp"}}
				count("sign-ins started", send(httptest.NewRequest(http.MethodGet, "/authorize?"+q.Encode(), nil)), http.StatusOK)
			}
			doc := fmt.Sprintf("https://d%d-%d.example/client.json", second, i)
			q := url.Values{"response_type": {"code"}, "client_id": {doc}, "redirect_uri": {"https://app.example/cb"}}
			count("documents asked for", send(httptest.NewRequest(http.MethodGet, "/authorize?"+q.Encode(), nil)), http.StatusOK)
			code := attacker.steps()[5].run()
			count("refreshes", code, http.StatusOK)
		}
		clk.add(time.Second)
		if second%60 == 59 {
			store.sweep()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peakHeap = max(peakHeap, m.HeapInuse)
		}
	}
	took := time.Since(start)
	// Another source signs in, start to finish.
	other := &browserFlow{s: s, redirect: "http://127.0.0.1:42000/cb"}
	for _, st := range other.steps()[:6] {
		if code := st.run(); code >= 400 {
			b.Fatalf("another source after the abuse: %s HTTP %d", st.name, code)
		}
	}
	byKind := map[string]int{}
	for _, k := range []string{kindClient, kindTrust, kindPending, kindCode, kindUsed, kindUser} {
		keys, _ := store.Keys(b.Context(), k)
		byKind[k] = len(keys)
	}
	fi, _ := os.Stat(store.path)
	fmt.Println()
	fmt.Printf("One source, ten minutes at ten times every limit (%s of real time); limits per source and overall a minute:\n\n", took.Round(time.Second))
	fmt.Println("| asked | let through | refused | limit |")
	fmt.Println("| --- | --- | --- | --- |")
	l := s.limits
	for _, row := range []struct {
		what  string
		limit string
	}{
		{"registrations", rateText(l.Registrations)},
		{"sign-ins started", rateText(l.SignIns)},
		{"documents asked for", fmt.Sprintf("%s (fetched: %d)", rateText(l.Documents), fetches)},
		{"refreshes", fmt.Sprintf("%d per sign-in every %s", l.RefreshesPerGrant, l.RefreshWindow)},
	} {
		c := counts[row.what]
		fmt.Printf("| %s | %d | %d | %s |\n", row.what, c.ok, c.refused, row.limit)
	}
	fmt.Printf("\nAfter it: the store file %.1f KiB, records %v; heap in use at most %.1f MiB; another source signed in and refreshed.\n\n",
		float64(fi.Size())/1024, byKind, float64(peakHeap)/(1<<20))
	b.ReportMetric(float64(fi.Size())/1024, "store-KiB")
	b.ReportMetric(float64(fetches), "fetches")
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func rateText(r Rate) string {
	return fmt.Sprintf("%g/min (burst %d) per source, %g/min (burst %d) overall", r.PerSource, r.SourceBurst, r.Overall, r.OverallBurst)
}
