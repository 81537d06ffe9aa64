package tools

import (
	"strings"
	"testing"
	"time"
)

// A signed state is honoured for stateTTL: replayed later, it is refused.
func TestConfirmationStateExpires(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	args := []byte(`{"chat_id":4000,"user_ids":[1403]}`)
	issued := time.Unix(1_800_000_000, 0)
	state := signState(key, "remove_chat_users", args, issued)
	if p := verifyState(key, "remove_chat_users", args, state, issued.Add(stateTTL-time.Second)); p != "" {
		t.Fatalf("within the TTL: %s", p)
	}
	if p := verifyState(key, "remove_chat_users", args, state, issued.Add(stateTTL+time.Second)); !strings.Contains(p, "older than") {
		t.Fatalf("replayed after the TTL: %q", p)
	}
	if p := verifyState(key, "add_chat_users", args, state, issued); !strings.Contains(p, "does not verify") {
		t.Fatalf("for another tool: %q", p)
	}
}
