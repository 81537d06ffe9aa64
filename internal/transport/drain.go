package transport

import (
	"net/http"
	"sync"
	"time"
)

// draining counts POSTs in flight for the drain and, once shutdown began,
// refuses everything else.
func (h *HTTP) draining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// POSTs are calls, counted for the drain; GET streams are not.
		if r.Method == http.MethodPost && h.requests.begin() {
			defer h.requests.end()
		} else if h.requests.isDraining() {
			w.Header().Set("Connection", "close")
			writeRefusal(w, r, refuse(http.StatusServiceUnavailable, "server is shutting down"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// activity counts requests or calls in flight, so that shutdown can wait for
// them; once draining, it admits no more.
type activity struct {
	mu       sync.Mutex
	n        int
	draining bool
	idle     *sync.Cond
}

func (a *activity) begin() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.draining {
		return false
	}
	a.n++
	return true
}

func (a *activity) end() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.n--
	if a.n == 0 && a.idle != nil {
		a.idle.Broadcast()
	}
}

// drain stops admitting and waits, at most timeout, for what is in flight.
func (a *activity) drain(timeout time.Duration) bool {
	a.mu.Lock()
	a.draining = true
	if a.idle == nil {
		a.idle = sync.NewCond(&a.mu)
	}
	a.mu.Unlock()
	done := make(chan struct{})
	go func() {
		a.mu.Lock()
		for a.n > 0 {
			a.idle.Wait()
		}
		a.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (a *activity) isDraining() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.draining
}
