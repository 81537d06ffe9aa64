package bitrix_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
)

// BenchmarkRawHTTP is the floor: the same request as BenchmarkClientCall,
// made by hand with net/http. The difference between the two is the client's
// own overhead (limiter, retry wrapper, JSON, decoding).
func BenchmarkRawHTTP(b *testing.B) {
	p := startPortal(b)
	url := p.WebhookURL() + bitrix.MethodDialogUsersList
	body := []byte(`{"DIALOG_ID":"chat2935"}`)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func BenchmarkClientCall(b *testing.B) {
	p := startPortal(b)
	c := webhookClient(b, p, func(c *bitrix.Config) { c.RateLimit, c.RateBurst = 1e9, 1e9 })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Call(ctx, bitrix.MethodDialogUsersList, bitrix.Params{"DIALOG_ID": "chat2935"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClientDialogUsersTyped(b *testing.B) {
	p := startPortal(b)
	c := webhookClient(b, p, func(c *bitrix.Config) { c.RateLimit, c.RateBurst = 1e9, 1e9 })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DialogUsers(ctx, bitrix.DialogUsersQuery{DialogID: "chat2935"}); err != nil {
			b.Fatal(err)
		}
	}
}
