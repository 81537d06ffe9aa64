package transport

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// refusal is a request the server will not serve: the HTTP status and what
// to tell the client.
type refusal struct {
	status int
	msg    string
}

func (r *refusal) Error() string { return r.msg }

func refuse(status int, format string, args ...any) *refusal {
	return &refusal{status: status, msg: fmt.Sprintf(format, args...)}
}

// writeRefusal renders a refusal: as a JSON-RPC error carrying the
// message's id when the body was a JSON-RPC request (so the client matches it
// to its call), as plain text otherwise.
func writeRefusal(w http.ResponseWriter, r *http.Request, ref *refusal) {
	msg, ok := messageFrom(r.Context())
	if !ok || len(msg.ID) == 0 {
		http.Error(w, ref.msg, ref.status)
		return
	}
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"id":      msg.ID,
		"error":   map[string]any{"code": -32000, "message": ref.msg},
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ref.status)
	_, _ = w.Write(append(body, '\n'))
}
