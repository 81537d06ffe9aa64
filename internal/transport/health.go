package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Probes for orchestrators and load balancers, answered without a token:
// /healthz is liveness (the process serves: 200 unless it is shutting
// down), /readyz is readiness (send it traffic: not draining, the shared
// state store answers, and the portal answered recently or a probe call to
// it succeeds).

// portalFresh is how recent a good answer from the portal must be for
// /readyz to trust it without a probe; probeEvery spaces the probes.
const (
	portalFresh = time.Minute
	probeEvery  = 10 * time.Second
)

func (h *HTTP) healthz(w http.ResponseWriter, r *http.Request) {
	if h.requests.isDraining() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "sessions": h.sessions.count()})
}

func (h *HTTP) readyz(w http.ResponseWriter, r *http.Request) {
	status, body := http.StatusOK, map[string]any{"status": "ready"}
	if h.requests.isDraining() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "draining"})
		return
	}
	if h.store != nil {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		err := h.store.Ping(ctx)
		cancel()
		body["state"] = h.store.String() + " ok"
		if err != nil {
			// Calls fail while the store is away: send traffic elsewhere.
			status, body["status"], body["state"] = http.StatusServiceUnavailable, "state store unreachable", h.store.String()
		}
	}
	if ok, why := h.portal.ready(r.Context()); !ok {
		status, body["status"], body["portal"] = http.StatusServiceUnavailable, "portal unreachable", why
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// portalCheck says whether the portal answers: a good answer within
// portalFresh, or else a probe call, at most one per probeEvery.
type portalCheck struct {
	lastOK func() time.Time
	probe  func(ctx context.Context) error

	mu       sync.Mutex
	probedAt time.Time
	probeErr error
}

func (p *portalCheck) ready(ctx context.Context) (bool, string) {
	if p == nil || time.Since(p.lastOK()) < portalFresh {
		return true, ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.probedAt) >= probeEvery {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		p.probeErr = p.probe(ctx)
		cancel()
		p.probedAt = time.Now()
	}
	if p.probeErr != nil {
		return false, p.probeErr.Error()
	}
	return true, ""
}
