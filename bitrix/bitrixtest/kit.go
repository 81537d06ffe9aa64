package bitrixtest

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Start serves a portal for one test on loopback and closes it when the test
// ends. A nil fixture means the project's testdata/portal.json.
func Start(t testing.TB, fix *Fixture, opts ...Option) *Portal {
	t.Helper()
	if fix == nil {
		fix = DefaultFixture(t)
	}
	p := New(fix, opts...)
	srv := p.Start()
	t.Cleanup(srv.Close)
	return p
}

// InProcess builds a portal for one test that is reached only through
// HTTPClient: no socket, so it works inside a testing/synctest bubble.
func InProcess(t testing.TB, fix *Fixture, opts ...Option) *Portal {
	t.Helper()
	if fix == nil {
		fix = DefaultFixture(t)
	}
	p := New(fix, opts...)
	// Loopback port 1: a client that forgets HTTPClient is refused at once
	// instead of sending anything (even a DNS query) off this machine.
	p.SetBaseURL("http://127.0.0.1:1")
	return p
}

// HTTPClient reaches the portal in-process, with no socket: a test using it
// can run inside a testing/synctest bubble, where time is fake.
func (p *Portal) HTTPClient() *http.Client {
	return &http.Client{Transport: p.Transport()}
}

var defaultFixture = sync.OnceValues(func() (*Fixture, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	// Tests run in their package's directory: walk up to the module root.
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return LoadFixture(filepath.Join(dir, "testdata", "portal.json"))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, os.ErrNotExist
		}
		dir = parent
	}
})

// DefaultFixture is testdata/portal.json, read once per test binary. Each
// caller gets its own copy of the top level; New copies what it mutates.
func DefaultFixture(t testing.TB) *Fixture {
	t.Helper()
	f, err := defaultFixture()
	if err != nil {
		t.Fatalf("bitrixtest: loading testdata/portal.json: %v", err)
	}
	c := *f
	return &c
}

// AssertNoSecret fails the test when text holds any credential of the portal.
func (p *Portal) AssertNoSecret(t testing.TB, what, text string) {
	t.Helper()
	for _, s := range p.Secrets() {
		if strings.Contains(text, s) {
			t.Fatalf("a secret (%.3s…) leaked into %s:\n%.2000s", s, what, text)
		}
	}
}
