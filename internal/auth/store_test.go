package auth_test

import (
	"path/filepath"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth/storetest"
)

// The bbolt file keeps the store contract.
func TestBoltStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) auth.Store {
		s, err := auth.OpenBolt(filepath.Join(t.TempDir(), "signin.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
