//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`

// BenchmarkSoak measures the HTTP server's memory under session churn and a
// legacy-SSE flood, against the real binary (no race detector) on the demo
// portal, and prints a table. Run with `make bench`.
func BenchmarkSoak(b *testing.B) {
	if b.N > 1 {
		b.Skip("a soak runs once: use -benchtime 1x")
	}
	bin := filepath.Join(b.TempDir(), "b24")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("%v %s", err, out)
	}
	fmt.Println()
	fmt.Println("| scenario | result | peak RSS |")
	fmt.Println("| --- | --- | --- |")
	for _, sc := range []struct {
		label       string
		maxSessions string
		del         bool
	}{
		{"60,000 initializes, no DELETE, default MCP_MAX_SESSIONS=1000", "1000", false},
		{"60,000 initializes, each followed by DELETE", "1000", true},
		{"60,000 initializes, no DELETE, MCP_MAX_SESSIONS=100000 (cost of a live session)", "100000", false},
	} {
		ok, refused, rss := initializes(b, bin, sc.maxSessions, sc.del, 60000)
		fmt.Printf("| %s | %d sessions opened, %d refused at the cap | %.1f MiB |\n", sc.label, ok, refused, rss)
	}
	accepted, refused, latency, rss := sseFlood(b, bin, 20000)
	fmt.Printf("| one SSE session posts 20,000 tool calls | %d run (at most 32 at once, 96 more waiting), %d refused on the stream; another client's get_bot_chat meanwhile: %s | %.1f MiB |\n",
		accepted, refused, latency, rss)
	fmt.Println()
}

func startServer(b *testing.B, bin string, env ...string) (base string, pid int) {
	addr := freeAddrB(b)
	cmd := exec.Command(bin, "--demo", "--transport", "http", "--addr", addr)
	cmd.Env = append([]string{"LOG_LEVEL=error", "HOME=" + b.TempDir()}, env...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base = "http://" + addr
	for i := 0; i < 200; i++ {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			return base, cmd.Process.Pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatal("server did not start")
	return "", 0
}

func freeAddrB(b *testing.B) string {
	l, err := netListen()
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func initializes(b *testing.B, bin, maxSessions string, del bool, n int) (ok, refused int64, rss float64) {
	base, pid := startServer(b, bin, "MCP_MAX_SESSIONS="+maxSessions)
	var okN, refusedN atomic.Int64
	var wg sync.WaitGroup
	jobs := make(chan struct{})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				req, _ := http.NewRequest("POST", base+"/mcp", strings.NewReader(initializeBody))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				id := resp.Header.Get("Mcp-Session-Id")
				if resp.StatusCode != 200 {
					refusedN.Add(1)
					continue
				}
				okN.Add(1)
				if del {
					req, _ := http.NewRequest("DELETE", base+"/mcp", nil)
					req.Header.Set("Mcp-Session-Id", id)
					req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
					if resp, err := client.Do(req); err == nil {
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	return okN.Load(), refusedN.Load(), peakRSS(b, pid)
}

func sseFlood(b *testing.B, bin string, n int) (accepted, refused int64, other time.Duration, rss float64) {
	base, pid := startServer(b, bin)
	stream, err := http.Get(base + "/sse")
	if err != nil {
		b.Fatal(err)
	}
	defer stream.Body.Close()
	sc := bufio.NewScanner(stream.Body)
	endpoint := ""
	for sc.Scan() {
		if after, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			endpoint = after
			break
		}
	}
	// Every answer comes on the stream: a refusal is a JSON-RPC error there.
	var ref atomic.Int64
	go func() {
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: ") && strings.Contains(sc.Text(), "tool calls running") {
				ref.Add(1)
			}
		}
	}()
	post := func(body string) int {
		resp, err := http.Post(base+endpoint, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	post(initializeBody)
	post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	var acc atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				if post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"list_dialog_users","arguments":{"dialog_id":"chat9001","all":true}}}`, i+10)) == http.StatusAccepted {
					acc.Add(1)
				}
			}
		}(w)
	}
	// Another client, on Streamable HTTP, meanwhile.
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	otherCall(b, base)
	other = time.Since(start)
	wg.Wait()
	time.Sleep(500 * time.Millisecond) // the last refusals reach the stream
	return acc.Load() - ref.Load(), ref.Load(), other.Round(time.Millisecond), peakRSS(b, pid)
}

func otherCall(b *testing.B, base string) {
	req, _ := http.NewRequest("POST", base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_bot_chat","arguments":{"dialog_id":"chat5"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	// Stateless for this one call: the 2025-11-25 handshake is not needed to
	// measure latency, so initialize first.
	init, _ := http.NewRequest("POST", base+"/mcp", strings.NewReader(initializeBody))
	init.Header = req.Header.Clone()
	resp, err := http.DefaultClient.Do(init)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	req.Header.Set("Mcp-Session-Id", resp.Header.Get("Mcp-Session-Id"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "Support Chat") {
		b.Fatalf("the other client's call: %s", body)
	}
}

func netListen() (interface {
	Addr() net.Addr
	Close() error
}, error) {
	return net.Listen("tcp", "127.0.0.1:0")
}
