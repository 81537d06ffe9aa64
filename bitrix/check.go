package bitrix

import (
	"context"
	"encoding/json"
)

// Scopes calls `scope`: the scopes the credentials have.
func (c *Client) Scopes(ctx context.Context) ([]string, error) {
	return callFor[[]string](ctx, c, "scope", nil, "a list of scopes")
}

// CurrentUser is who the credentials act as (user.current).
type CurrentUser struct {
	ID           FlexInt `json:"ID" b24:"required"`
	Name         string  `json:"NAME"`
	LastName     string  `json:"LAST_NAME"`
	WorkPosition string  `json:"WORK_POSITION"`
}

// Me calls user.current.
func (c *Client) Me(ctx context.Context) (*CurrentUser, error) {
	u, err := callFor[CurrentUser](ctx, c, "user.current", nil, "a user")
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// Bots calls imbot.bot.list: the portal's registered bots, id -> name. The
// page documents no parameters, so none are sent.
func (c *Client) Bots(ctx context.Context) (map[int]string, error) {
	r, err := c.Call(ctx, "imbot.bot.list", Params{})
	if err != nil {
		return nil, err
	}
	list, err := section(r.Result) // an object by id, or [] when there are none
	if err != nil {
		return nil, badResult("imbot.bot.list", "bots by id", err)
	}
	out := map[int]string{}
	for _, raw := range list {
		var b struct {
			ID   FlexInt `json:"ID"`
			Name string  `json:"NAME"`
		}
		if json.Unmarshal(raw, &b) == nil && b.ID > 0 {
			out[int(b.ID)] = b.Name
		}
	}
	return out, nil
}

// IsWebhook reports whether the client authenticates with an inbound webhook.
func (c *Client) IsWebhook() bool { return c.hook != nil }

// HasBotToken reports whether a bot token is configured: imbot.v2 methods
// need one on a webhook.
func (c *Client) HasBotToken() bool { return c.cfg.BotToken != "" }

// HasBotClientID reports whether the bot's CLIENT_ID is configured:
// imbot.chat.user.list and imbot.bot.list need it on a webhook.
func (c *Client) HasBotClientID() bool { return c.cfg.BotClientID != "" }

// WebhookUserID is the webhook's user id ("" with OAuth).
func (c *Client) WebhookUserID() string {
	if c.hook == nil {
		return ""
	}
	return c.hook.userID
}
