package bitrix

import (
	"context"
	"errors"
)

// MethodBotRegister registers a chat bot (idempotent per code and application).
const MethodBotRegister = "imbot.v2.Bot.register"

// RegisteredBot is what imbot.v2.Bot.register answers about the bot.
type RegisteredBot struct {
	ID   FlexInt `json:"id"`
	Code string  `json:"code"`
	Name string  `json:"name"`
}

// BotRegister calls imbot.v2.Bot.register. On a webhook the bot needs a
// token of its own (at most 40 characters); with OAuth token is ignored.
// A repeated call with the same code returns the existing bot unchanged,
// its old token included.
func (c *Client) BotRegister(ctx context.Context, code, name string, token Secret) (*RegisteredBot, error) {
	fields := map[string]any{"code": code, "properties": map[string]any{"name": name}, "type": "bot", "eventMode": "fetch"}
	if c.hook != nil {
		c.secrets.add(token.Reveal())
		fields["botToken"] = token.Reveal()
	}
	answer, err := callFor[struct {
		Bot *RegisteredBot `json:"bot"`
	}](ctx, c, MethodBotRegister, Params{"fields": fields}, "an object with a bot")
	if err != nil {
		return nil, err
	}
	if answer.Bot == nil || answer.Bot.ID == 0 {
		return nil, badResult(MethodBotRegister, "an object with a bot", errors.New("no bot id"))
	}
	return answer.Bot, nil
}

// BotTokenWorks asks imbot.v2 whether token is the bot's: ownership is
// checked before access, so anything but an ownership or token error means
// it is. With OAuth there is no bot token to check.
func (c *Client) BotTokenWorks(ctx context.Context, botID int, token Secret) (bool, error) {
	if c.hook == nil {
		return true, nil
	}
	c.secrets.add(token.Reveal())
	p := Params{"botId": botID, "dialogId": c.hook.userID, "botToken": token.Reveal()}
	_, err := c.Call(ctx, MethodBotV2ChatGet, p)
	if e, ok := AsError(err); ok {
		switch e.Code {
		case "BOT_OWNERSHIP_ERROR", "BOT_TOKEN_NOT_SPECIFIED":
			return false, nil
		case CodeAccessDenied:
			return true, nil
		}
	}
	return err == nil, err
}
