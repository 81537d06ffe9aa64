// Package portaltest is what tests need around the fake portal: a portal per
// test, served on loopback or in-process, the project's fixture, and a check
// that no credential leaked. Only tests import it; the demo uses fakeportal.
package portaltest

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
)

// Start serves a portal for one test on loopback and closes it when the test
// ends. A nil fixture means the project's testdata/portal.json.
func Start(t testing.TB, fix *fakeportal.Fixture, opts ...fakeportal.Option) *fakeportal.Portal {
	t.Helper()
	if fix == nil {
		fix = DefaultFixture(t)
	}
	p := fakeportal.New(fix, opts...)
	srv := httptest.NewServer(p)
	p.SetBaseURL(srv.URL)
	t.Cleanup(srv.Close)
	return p
}

// InProcess builds a portal for one test that is reached only through
// HTTPClient: no socket, so it works inside a testing/synctest bubble.
func InProcess(t testing.TB, fix *fakeportal.Fixture, opts ...fakeportal.Option) *fakeportal.Portal {
	t.Helper()
	if fix == nil {
		fix = DefaultFixture(t)
	}
	p := fakeportal.New(fix, opts...)
	// Loopback port 1: a client that forgets HTTPClient is refused at once
	// instead of sending anything (even a DNS query) off this machine.
	p.SetBaseURL("http://127.0.0.1:1")
	return p
}

var defaultFixture = sync.OnceValues(func() (*fakeportal.Fixture, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	// Tests run in their package's directory: walk up to the module root.
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return fakeportal.LoadFixture(filepath.Join(dir, "testdata", "portal.json"))
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
func DefaultFixture(t testing.TB) *fakeportal.Fixture {
	t.Helper()
	f, err := defaultFixture()
	if err != nil {
		t.Fatalf("portaltest: loading testdata/portal.json: %v", err)
	}
	c := *f
	return &c
}

// AssertNoSecret fails the test when text holds any credential of the portal.
func AssertNoSecret(t testing.TB, p *fakeportal.Portal, what, text string) {
	t.Helper()
	for _, s := range p.Secrets() {
		if strings.Contains(text, s) {
			t.Fatalf("a secret (%.3s…) leaked into %s:\n%.2000s", s, what, text)
		}
	}
}
