package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix/fakeportal/portaltest"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/internal/testkit"
)

// bot register, twice: the same bot; the token is printed once, on stdout,
// and never reaches stderr, even at debug level.
func TestBotRegister(t *testing.T) {
	p := portaltest.Start(t, nil)
	env := testkit.PortalEnv(p, map[string]string{"BITRIX24_BOT_ID": "", "BITRIX24_BOT_TOKEN": "", "LOG_LEVEL": "debug"})
	register := func() (string, string) {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"bot", "register", "--code", "helper", "--name=Helper"}, func(k string) string { return env[k] }, nil, &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d:\n%s\n%s", code, stdout.String(), stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	out1, log1 := register()
	id := regexp.MustCompile(`(?m)^BITRIX24_BOT_ID=(\d+)$`).FindStringSubmatch(out1)
	token := regexp.MustCompile(`(?m)^BITRIX24_BOT_TOKEN=(\S+)$`).FindStringSubmatch(out1)
	if id == nil || token == nil || len(token[1]) > 40 {
		t.Fatalf("first run:\n%s", out1)
	}
	out2, log2 := register()
	if !strings.Contains(out2, "BITRIX24_BOT_ID="+id[1]+"\n") || strings.Contains(out2, "BITRIX24_BOT_TOKEN=") || !strings.Contains(out2, "registered before") {
		t.Fatalf("second run:\n%s", out2)
	}
	if n := p.Stats().BotsRegistered; n != 1 {
		t.Fatalf("%d bots registered", n)
	}
	for _, log := range []string{log1, log2} {
		if strings.Contains(log, token[1]) || !strings.Contains(log, "imbot.v2.Bot.register") {
			t.Fatalf("stderr must log the call and never the token:\n%s", log)
		}
		portaltest.AssertNoSecret(t, p, "stderr", log)
	}
	// The printed pair works: the bot tools run with it.
	env["BITRIX24_BOT_ID"], env["BITRIX24_BOT_TOKEN"] = id[1], token[1]
	var stdout, stderr bytes.Buffer
	run([]string{"check"}, func(k string) string { return env[k] }, nil, &stdout, &stderr)
	if !strings.Contains(stdout.String(), "answers imbot.v2 with the configured token") {
		t.Fatalf("check with the new pair:\n%s", stdout.String())
	}
}
