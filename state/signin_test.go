package state_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/auth/storetest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/state"
)

// Redis keeps the sign-in store's contract, as the bbolt file does.
func TestRedisStoreContract(t *testing.T) {
	redis := testkit.StartRedis(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) auth.Store {
		r, err := state.NewRedis(redis.URL, fmt.Sprintf("contract-%d.example", n.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	})
}
