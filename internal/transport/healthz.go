package transport

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// healthz answers load balancers: 503 while draining or while the shared
// state store is away (calls fail then: send traffic elsewhere).
func (h *HTTP) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if h.requests.isDraining() {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, `{"status":"draining"}`)
		return
	}
	store := ""
	if h.store != nil {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := h.store.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, `{"status":"state store unreachable","state":%q}`+"\n", h.store.String())
			return
		}
		store = fmt.Sprintf(`,"state":%q`, h.store.String()+" ok")
	}
	fmt.Fprintf(w, `{"status":"ok","sessions":%d%s}`+"\n", h.sessions.count(), store)
}
