package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// fakeUpstream stands in for Bitrix24: every code signs in uid.
type fakeUpstream struct{ uid int }

func (f fakeUpstream) AuthorizeURL(state string) (string, error) {
	return "https://team.bitrix24.com/oauth/authorize/?state=" + url.QueryEscape(state), nil
}

func (f fakeUpstream) SignIn(_ context.Context, code, _ string) (*bitrix.Grant, error) {
	return &bitrix.Grant{AccessToken: bitrix.Secret("a-" + code), RefreshToken: bitrix.Secret("r-" + code),
		ClientEndpoint: "https://team.bitrix24.com/rest/", UserID: f.uid, ExpiresIn: 3600}, nil
}

// faultStore fails its failAt-th write (Put, Take or Delete), once.
type faultStore struct {
	Store
	mu             sync.Mutex
	writes, failAt int
}

var errInjected = errors.New("injected store failure")

func (f *faultStore) write() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	if f.writes == f.failAt {
		return errInjected
	}
	return nil
}

func (f *faultStore) Put(ctx context.Context, kind, key string, v []byte, ttl time.Duration) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.Put(ctx, kind, key, v, ttl)
}

func (f *faultStore) Take(ctx context.Context, kind, key string) ([]byte, error) {
	if err := f.write(); err != nil {
		return nil, err
	}
	return f.Store.Take(ctx, kind, key)
}

func (f *faultStore) Delete(ctx context.Context, kind, key string) error {
	if err := f.write(); err != nil {
		return err
	}
	return f.Store.Delete(ctx, kind, key)
}

// browserFlow drives one sign-in through the handlers, as a client and a
// browser would, and then a refresh and a revocation. Each step reports
// its HTTP status; the flow stops at the first that is not a success.
type browserFlow struct {
	t        *testing.T
	s        *Server
	redirect string
	client   string
	verifier string
	cookie   *http.Cookie
	signin   string
	code     string
	tokens   map[string]any
	refresh  string
}

func (f *browserFlow) do(method, target string, form url.Values, cookie *http.Cookie) *httptest.ResponseRecorder {
	var r *http.Request
	if form != nil {
		r = httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	f.s.ServeHTTP(w, r)
	return w
}

var signinField = regexp.MustCompile(`name="signin" value="([^"]+)"`)

func (f *browserFlow) steps() []struct {
	name string
	run  func() int
} {
	return []struct {
		name string
		run  func() int
	}{
		{"register", func() int {
			r := httptest.NewRequest(http.MethodPost, "/register", strings.NewReader(`{"redirect_uris":["`+f.redirect+`"],"client_name":"faults"}`))
			w := httptest.NewRecorder()
			f.s.ServeHTTP(w, r)
			var out map[string]any
			_ = json.Unmarshal(w.Body.Bytes(), &out)
			f.client, _ = out["client_id"].(string)
			return w.Code
		}},
		{"authorize", func() int {
			f.verifier = strings.Repeat("v", 50)
			q := url.Values{"response_type": {"code"}, "client_id": {f.client}, "redirect_uri": {f.redirect}, "state": {"st"},
				"code_challenge": {pkceChallenge(f.verifier)}, "code_challenge_method": {"S256"}, "resource": {f.s.issuer + "/mcp"}}
			w := f.do(http.MethodGet, "/authorize?"+q.Encode(), nil, nil)
			if m := signinField.FindStringSubmatch(w.Body.String()); m != nil {
				f.signin = m[1]
			}
			for _, c := range w.Result().Cookies() {
				f.cookie = c
			}
			return w.Code
		}},
		{"consent", func() int {
			w := f.do(http.MethodPost, "/authorize/consent", url.Values{"signin": {f.signin}, "decision": {"allow"}}, f.cookie)
			return w.Code
		}},
		{"callback", func() int {
			w := f.do(http.MethodGet, "/callback?code=bx&state="+url.QueryEscape(f.signin), nil, f.cookie)
			loc, _ := url.Parse(w.Header().Get("Location"))
			if loc != nil {
				f.code = loc.Query().Get("code")
			}
			if w.Code == http.StatusFound && f.code == "" {
				// An error sent back to the client: try again is 503's word.
				if loc.Query().Get("error") == "temporarily_unavailable" {
					return http.StatusServiceUnavailable
				}
				return http.StatusBadGateway
			}
			return w.Code
		}},
		{"exchange", func() int {
			w := f.do(http.MethodPost, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {f.code}, "client_id": {f.client},
				"redirect_uri": {f.redirect}, "code_verifier": {f.verifier}, "resource": {f.s.issuer + "/mcp"}}, nil)
			_ = json.Unmarshal(w.Body.Bytes(), &f.tokens)
			f.refresh, _ = f.tokens["refresh_token"].(string)
			return w.Code
		}},
		{"refresh", func() int {
			w := f.do(http.MethodPost, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {f.refresh}, "client_id": {f.client}}, nil)
			var out map[string]any
			_ = json.Unmarshal(w.Body.Bytes(), &out)
			if next, ok := out["refresh_token"].(string); ok {
				f.refresh = next
			}
			return w.Code
		}},
		{"revoke", func() int {
			return f.do(http.MethodPost, "/revoke", url.Values{"token": {f.refresh}, "client_id": {f.client}}, nil).Code
		}},
	}
}

func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Every write of a sign-in can fail: the step whose write fails answers
// 503 (try again), never a success over half-kept state and never a
// refusal that sends the person to sign in again for our fault; and trying
// that step again works (a failed refresh leaves the old token current, a
// failed revocation leaves the sign-in to revoke again). Writes that only
// help (remembering an exchanged code, renewing a registration) may fail
// without failing the step.
func TestEveryWriteFailure(t *testing.T) {
	fresh := func(failAt int) (*browserFlow, *faultStore) {
		fs := &faultStore{failAt: failAt}
		s := newTestServer(t, t.TempDir(), func(c *Config) {
			fs.Store = c.Store
			c.Store = fs
			c.upstream = fakeUpstream{uid: 1271}
		})
		return &browserFlow{t: t, s: s, redirect: "http://127.0.0.1:41999/cb"}, fs
	}
	ok := map[string]int{"register": 201, "authorize": 200, "consent": 303, "callback": 302, "exchange": 200, "refresh": 200, "revoke": 200}
	f, fs := fresh(0)
	for _, st := range f.steps() {
		if got := st.run(); got != ok[st.name] {
			t.Fatalf("the flow without faults: %s answered %d", st.name, got)
		}
	}
	total := fs.writes
	t.Logf("a sign-in, a refresh and a revocation make %d writes", total)
	optional := 0
	for n := 1; n <= total; n++ {
		f, fs := fresh(n)
		failedAt := ""
		for _, st := range f.steps() {
			got := st.run()
			if got == ok[st.name] {
				continue
			}
			failedAt = st.name
			if got != http.StatusServiceUnavailable {
				t.Errorf("write %d failing: %s answered %d, want 503", n, st.name, got)
			}
			fs.failAt = 0
			ctx := context.Background()
			switch st.name {
			case "exchange":
				if list, _ := f.s.Signins(ctx); len(list) != 0 {
					t.Errorf("write %d failing: a failed exchange left a sign-in listed: %v", n, list)
				}
			case "refresh", "revoke":
				if again := st.run(); again != 200 {
					t.Errorf("write %d failing: %s tried again answered %d", n, st.name, again)
				}
				if st.name == "revoke" {
					if list, _ := f.s.Signins(ctx); len(list) != 0 {
						t.Errorf("write %d failing: after the revocation was tried again, still signed in: %v", n, list)
					}
				}
			}
			break
		}
		if failedAt == "" {
			optional++
		}
	}
	// Only remembering the exchanged code may fail unnoticed.
	if optional > 1 {
		t.Errorf("%d of %d writes can fail unnoticed", optional, total)
	}
}
