//go:build e2e

package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
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
	fmt.Printf("| one SSE session posts 20,000 tool calls and reads its stream | %d run (at most 16 at once, 112 more waiting), %d refused on the stream; another client's get_bot_chat meanwhile: %s | %.1f MiB |\n",
		accepted, refused, latency, rss)
	f := unreadFlood(b, bin, 80000)
	fmt.Printf("| one SSE session posts 80,000 tool calls and never reads its stream | %d accepted (202), %d refused at once (429), %d after the stream was closed as gone; at most %d goroutines; another client's get_bot_chat meanwhile: %s | %.1f MiB |\n",
		f.accepted, f.refused, f.afterClose, f.peakGoroutines, f.other, f.rss)
	g := sessionlessGets(b, bin, 50000)
	fmt.Printf("| 50,000 GET /mcp, half without a session id, half with made-up ones | %s; sessions afterwards: %d; a new initialize: HTTP %d | %.1f MiB |\n",
		g.statuses, g.sessions, g.initialize, g.rss)
	h := heldConnections(b, bin, 2000)
	fmt.Printf("| one source opens 2,000 idle, half-header and slow-body connections (MCP_MAX_CONNECTIONS=512) | another client's initialize %s, /healthz %s | %.1f MiB |\n",
		h.initialize, h.healthz, h.rss)
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

type floodFigures struct {
	accepted, refused, afterClose int64
	peakGoroutines                int
	other                         time.Duration
	rss                           float64
}

// unreadFlood opens a legacy SSE stream, reads its endpoint and nothing
// more, and posts n tool calls to it from 8 workers, sampling the server's
// goroutines meanwhile.
func unreadFlood(b *testing.B, bin string, n int) floodFigures {
	base, pid := startServer(b, bin)
	stream, err := http.Get(base + "/sse")
	if err != nil {
		b.Fatal(err)
	}
	defer stream.Body.Close()
	sc := bufio.NewScanner(stream.Body)
	endpoint := ""
	for endpoint == "" && sc.Scan() {
		if after, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			endpoint = after
		}
	}
	// From here on the stream is never read.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	post := func(body string) int {
		resp, err := client.Post(base+endpoint, "application/json", strings.NewReader(body))
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	post(initializeBody)
	post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	var f floodFigures
	var acc, ref, gone atomic.Int64
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if g := goroutines(base); int64(g) > peak.Load() {
				peak.Store(int64(g))
			}
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				switch post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"list_dialog_users","arguments":{"dialog_id":"chat9001","all":true}}}`, i+10)) {
				case http.StatusAccepted:
					acc.Add(1)
				case http.StatusTooManyRequests:
					ref.Add(1)
				default:
					gone.Add(1)
				}
			}
		}(w)
	}
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	otherCall(b, base)
	f.other = time.Since(start).Round(time.Millisecond)
	wg.Wait()
	close(stop)
	<-sampled
	f.accepted, f.refused, f.afterClose, f.peakGoroutines, f.rss = acc.Load(), ref.Load(), gone.Load(), int(peak.Load()), peakRSS(b, pid)
	return f
}

// goroutines reads go_goroutines from the server's /metrics.
func goroutines(base string) int {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			var g float64
			fmt.Sscanf(rest, "%g", &g)
			return int(g)
		}
	}
	return 0
}

type getFigures struct {
	statuses   string
	sessions   int
	initialize int
	rss        float64
}

// sessionlessGets sends n GET /mcp that name no session or a made-up one.
func sessionlessGets(b *testing.B, bin string, n int) getFigures {
	base, pid := startServer(b, bin)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				req, _ := http.NewRequest("GET", base+"/mcp", nil)
				req.Header.Set("Accept", "text/event-stream")
				req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
				if i%2 == 1 {
					req.Header.Set("Mcp-Session-Id", fmt.Sprintf("mcp-session-%08x-0000-4000-8000-%012x", i, i))
				}
				code := 0 // no answer
				if resp, err := client.Do(req); err == nil {
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				statuses[code]++
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	var g getFigures
	var codes []string
	for code, count := range statuses {
		codes = append(codes, fmt.Sprintf("%d x HTTP %d", count, code))
	}
	sort.Strings(codes)
	g.statuses = strings.Join(codes, ", ")
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		b.Fatal(err)
	}
	var health struct{ Sessions int }
	json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	g.sessions = health.Sessions
	req, _ := http.NewRequest("POST", base+"/mcp", strings.NewReader(initializeBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		g.initialize = resp.StatusCode
		resp.Body.Close()
	}
	g.rss = peakRSS(b, pid)
	return g
}

type heldFigures struct {
	initialize, healthz time.Duration
	rss                 float64
}

// heldConnections opens n connections from 127.0.0.2 (idle, half a header,
// a slow body, in turn) and times another client from 127.0.0.1.
func heldConnections(b *testing.B, bin string, n int) heldFigures {
	base, pid := startServer(b, bin)
	addr := strings.TrimPrefix(base, "http://")
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	for i := 0; i < n; i++ {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		switch i % 3 {
		case 1:
			fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: %s\r\nAccept", addr)
		case 2:
			fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", addr)
		}
	}
	time.Sleep(200 * time.Millisecond)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var h heldFigures
	start := time.Now()
	req, _ := http.NewRequest("POST", base+"/mcp", strings.NewReader(initializeBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("initialize while one source holds %d connections: %v %v", n, err, resp)
	}
	resp.Body.Close()
	h.initialize = time.Since(start).Round(time.Millisecond)
	start = time.Now()
	resp, err = client.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("/healthz while one source holds %d connections: %v %v", n, err, resp)
	}
	resp.Body.Close()
	h.healthz = time.Since(start).Round(time.Millisecond)
	h.rss = peakRSS(b, pid)
	return h
}
