package transport

import (
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"
)

// modernNotices answers a notification sent to /mcp at 2026-07-28 or later
// with 202 and lets it go. At that revision closing the response stream is
// the cancellation and no notice is expected, yet clients still send
// notifications/cancelled (the Go SDK does), without the _meta the
// transport requires of a 2026-07-28 message; refused with 400, a client
// drops its whole connection. Nothing a client may send at that revision
// needs the server to act on a notification.
func (h *HTTP) modernNotices(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg, ok := messageFrom(r.Context())
		if ok && msg.Method != "" && len(msg.ID) == 0 && mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) {
			h.log.Debug("a 2026-07-28 notification acknowledged and dropped", "method", msg.Method)
			w.WriteHeader(http.StatusAccepted)
			return
		}
		next.ServeHTTP(w, r)
	})
}
