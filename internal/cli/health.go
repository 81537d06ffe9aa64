package cli

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/app"
)

const healthUsage = `Usage: bitrix24-chat-mcp health [--ready] [--addr HOST:PORT]

Asks a running HTTP server whether it lives (/healthz) or, with --ready,
whether it should get traffic (/readyz: the shared state store and the
portal answer). Exits 0 on 200, 1 otherwise. For container health checks
where no curl exists (the image is distroless). --addr defaults to MCP_ADDR,
then 127.0.0.1:8080.
`

// runHealth is `bitrix24-chat-mcp health`.
func runHealth(args []string, env Env) error {
	path, addr := "/healthz", env.Getenv("MCP_ADDR")
	for i := 0; i < len(args); i++ {
		flag, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		switch {
		case flag == "ready":
			path = "/readyz"
		case flag == "addr" && !hasValue && i+1 < len(args):
			i++
			addr = args[i]
		case flag == "addr" && hasValue:
			addr = value
		case flag == "h" || flag == "help":
			fmt.Fprint(env.Stdout, healthUsage)
			return nil
		default:
			return &app.UsageError{Msg: fmt.Sprintf("health: unknown argument %q (see health --help)", args[i])}
		}
	}
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	// A server listening on every interface answers on loopback.
	addr = strings.Replace(strings.Replace(addr, "0.0.0.0:", "127.0.0.1:", 1), "[::]:", "[::1]:", 1)
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return fmt.Errorf("health: %s did not answer: %v", addr, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s%s answered %d", addr, path, resp.StatusCode)
	}
	fmt.Fprintf(env.Stdout, "%s%s: ok\n", addr, path)
	return nil
}
