// Package telemetry is what an operator sees of the server: Prometheus
// metrics (this file), and one log line per tool call (calls.go). Every
// label value comes from a fixed set (tool names, method names, error
// codes), so no caller can grow a metric without bound; no user id, chat
// id or secret is ever a label.
package telemetry

import (
	"net/http"
	"runtime"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/bitrix"
	"github.com/bitrix24-chat-mcp/bitrix24-chat-mcp/tools"
)

// Other stands for a label value outside the fixed set.
const Other = "other"

// Metrics holds the server's metric families in a registry of its own. A
// nil *Metrics is off: every method does nothing.
type Metrics struct {
	reg                  *prometheus.Registry
	tools, methods, code labelSet

	toolCalls      *prometheus.CounterVec
	toolSeconds    *prometheus.HistogramVec
	portalRequests *prometheus.CounterVec
	portalSeconds  *prometheus.HistogramVec
	rateWait       prometheus.Histogram
	limits         *prometheus.CounterVec
	refreshes      *prometheus.CounterVec
	stateErrors    prometheus.Counter
	signIns        *prometheus.CounterVec
}

// SignInEvents are the values of bitrix24_mcp_signin_events_total's event.
var SignInEvents = []string{"sign_in", "refresh", "revoked", "refused", "unauthorized"}

// Names are the fixed label sets: the tools, the portal methods and the
// Bitrix24 error codes there are.
type Names struct {
	Tools, Methods, Codes []string
}

// New makes the metric families, with the build's version in
// bitrix24_mcp_build_info.
func New(version string, n Names) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), tools: newLabelSet(n.Tools), methods: newLabelSet(n.Methods),
		code: newLabelSet(append(slices.Clone(n.Codes), "transport_error"))}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bitrix24_mcp_build_info", Help: "The running build: always 1."},
		[]string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	m.toolCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bitrix24_mcp_tool_calls_total",
		Help: "Tool calls by tool and outcome (ok, tool_error, invalid_arguments, cancelled); code is the Bitrix24 code of a tool error."},
		[]string{"tool", "outcome", "code"})
	m.toolSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bitrix24_mcp_tool_call_duration_seconds",
		Help: "How long tool calls took, rate-limit waits included.", Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}},
		[]string{"tool"})
	m.portalRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bitrix24_mcp_portal_requests_total",
		Help: "HTTP requests to the Bitrix24 portal by method and outcome (ok, a Bitrix24 error code, transport_error, cancelled)."},
		[]string{"method", "outcome"})
	m.portalSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bitrix24_mcp_portal_request_duration_seconds",
		Help: "How long the portal took to answer.", Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
		[]string{"method"})
	m.rateWait = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "bitrix24_mcp_rate_limit_wait_seconds",
		Help: "How long requests waited for the portal's rate limit on our side.", Buckets: []float64{.001, .01, .1, .25, .5, 1, 2.5, 5, 10, 30}})
	m.limits = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bitrix24_mcp_portal_limits_total",
		Help: "Answers where Bitrix24 said a limit was reached: QUERY_LIMIT_EXCEEDED or OPERATION_TIME_LIMIT."}, []string{"code"})
	m.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bitrix24_mcp_oauth_refreshes_total",
		Help: "OAuth token refreshes by outcome (ok, failed)."}, []string{"outcome"})
	m.stateErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "bitrix24_mcp_state_store_errors_total",
		Help: "Calls to the shared state store (Redis) that failed."})
	m.signIns = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bitrix24_mcp_signin_events_total",
		Help: "With --auth bitrix24: sign-ins, refreshes of our tokens, revoked sign-ins, refused code or refresh exchanges, and requests answered 401."}, []string{"event"})
	m.reg.MustRegister(build, m.toolCalls, m.toolSeconds, m.portalRequests, m.portalSeconds, m.rateWait, m.limits, m.refreshes, m.stateErrors, m.signIns)
	for _, e := range SignInEvents {
		m.signIns.WithLabelValues(e)
	}
	for _, code := range []string{"QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT"} {
		m.limits.WithLabelValues(code) // shown at 0 before the first
	}
	for _, outcome := range []string{"ok", "failed"} {
		m.refreshes.WithLabelValues(outcome)
	}
	return m
}

// Handler serves the metrics in the Prometheus text format. It takes no
// lock a tool call holds: a scrape never blocks a call.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// GaugeFunc adds a gauge read from f at each scrape (f must be quick).
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// ToolCall counts one finished tool call.
func (m *Metrics) ToolCall(tool, outcome, code string, took time.Duration) {
	if m == nil {
		return
	}
	tool = m.tools.get(tool)
	m.toolCalls.WithLabelValues(tool, outcome, m.codeOrNone(code)).Inc()
	m.toolSeconds.WithLabelValues(tool).Observe(took.Seconds())
}

func (m *Metrics) codeOrNone(code string) string {
	if code == "" {
		return ""
	}
	return m.code.get(code)
}

// PortalRequest, RateWait, Refresh and StateError make *Metrics a
// bitrix.Observer.
func (m *Metrics) PortalRequest(method, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	method = m.methods.get(method)
	switch outcome {
	case "ok", "cancelled", "transport_error", "error":
	default:
		if outcome == "QUERY_LIMIT_EXCEEDED" || outcome == "OPERATION_TIME_LIMIT" {
			m.limits.WithLabelValues(outcome).Inc()
		}
		outcome = m.code.get(outcome)
	}
	m.portalRequests.WithLabelValues(method, outcome).Inc()
	m.portalSeconds.WithLabelValues(method).Observe(took.Seconds())
}

func (m *Metrics) RateWait(took time.Duration) {
	if m != nil {
		m.rateWait.Observe(took.Seconds())
	}
}

func (m *Metrics) Refresh(err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.refreshes.WithLabelValues("failed").Inc()
	} else {
		m.refreshes.WithLabelValues("ok").Inc()
	}
}

// SignInEvent counts one sign-in event (one of SignInEvents).
func (m *Metrics) SignInEvent(event string) {
	if m == nil {
		return
	}
	if !slices.Contains(SignInEvents, event) {
		event = Other
	}
	m.signIns.WithLabelValues(event).Inc()
}

func (m *Metrics) StateError() {
	if m != nil {
		m.stateErrors.Inc()
	}
}

// labelSet maps a value outside the fixed set to Other.
type labelSet map[string]bool

func newLabelSet(values []string) labelSet {
	s := labelSet{}
	for _, v := range values {
		s[v] = true
	}
	return s
}

func (s labelSet) get(v string) string {
	if s[v] {
		return v
	}
	return Other
}

// ForServer is New with this server's names: its tools, the portal methods
// its client calls, and the Bitrix24 codes its tools know.
func ForServer(version string) *Metrics {
	var names []string
	for _, t := range tools.Catalog() {
		names = append(names, t.Name)
	}
	return New(version, Names{Tools: names, Methods: bitrix.Methods, Codes: tools.ErrorCodes()})
}
