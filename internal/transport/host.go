package transport

import (
	"net"
	"net/http"
	"strings"
)

// hostCheck refuses a request that reached a loopback listener under a Host
// that is not loopback: a DNS-rebinding page names its own host. mcp-go
// checks /mcp and /sse itself; this covers every endpoint, /healthz too.
func (h *HTTP) hostCheck(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if ok && local != nil && IsLoopback(local.String()) && !IsLoopback(r.Host) && (h.signin == nil || !strings.EqualFold(r.Host, publicHost(h.cfg.PublicURL))) {
			h.log.Warn("refused a request for another host on a loopback listener", "host", r.Host, "path", r.URL.Path)
			writeRefusal(w, r, refuse(http.StatusForbidden, "Forbidden: invalid Host header %q", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}
