package tools

import "context"

// How a tool call ended, for metrics and the call log (Report).
const (
	OutcomeOK               = "ok"
	OutcomeToolError        = "tool_error"        // an isError result the model can act on
	OutcomeInvalidArguments = "invalid_arguments" // refused before anything was sent
	OutcomeCancelled        = "cancelled"
)

// Report is filled in by a tool call run under WithReport: the outcome, and
// the Bitrix24 code of a tool error when there was one.
type Report struct {
	Outcome string
	Code    string
}

type reportKey struct{}

// WithReport returns a context under which a tool call says how it ended.
func WithReport(ctx context.Context) (context.Context, *Report) {
	r := &Report{}
	return context.WithValue(ctx, reportKey{}, r), r
}

// report records the first outcome a call states: the cause, not a later
// consequence.
func report(ctx context.Context, outcome, code string) {
	if r, ok := ctx.Value(reportKey{}).(*Report); ok && r.Outcome == "" {
		r.Outcome, r.Code = outcome, code
	}
}
