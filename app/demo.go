package app

import (
	"errors"
	"net/http"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal"
)

// demoPortal builds an in-process fake portal seeded with sample chats,
// users and a bot, and a client configuration that reaches it without a
// socket. The rate limit stays as configured, so the demo feels real.
func demoPortal(fixture []byte, cfg bitrix.Config) (*fakeportal.Portal, bitrix.Config, error) {
	if len(fixture) == 0 {
		return nil, cfg, errors.New("demo: no fixture was built into this binary")
	}
	fix, err := fakeportal.ParseFixture(fixture)
	if err != nil {
		return nil, cfg, err
	}
	rate, burst := cfg.RateLimit, cfg.RateBurst
	if rate == 0 {
		rate, burst = bitrix.DefaultRateLimit, bitrix.DefaultRateBurst
	}
	portal := fakeportal.New(fix, fakeportal.WithRateLimit(rate, burst))
	portal.SetBaseURL("https://demo-portal.invalid")
	bot := fix.Bots[0]
	cfg.WebhookURL = bitrix.Secret(portal.WebhookURL())
	cfg.OAuth = nil
	cfg.HTTPClient = &http.Client{Transport: portal.Transport()}
	cfg.BotToken = bitrix.Secret(bot.Token)
	cfg.BotClientID = bitrix.Secret(bot.ClientID)
	return portal, cfg, nil
}
