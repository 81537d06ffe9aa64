// Package audit is the trail of what was changed, refused, signed in and
// signed out: one JSON object a line (--audit-log FILE, or stderr), never a
// token or a code. A write whose line cannot be written is not made: the
// tools ask Write before they write, and stop on its error.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Events.
const (
	Write    = "write"    // a change about to be made (outcome "attempt"), then made (outcome "done")
	Refused  = "refused"  // a change refused before anything was sent
	SignIn   = "sign-in"  // login on this machine, or a person signing in to the team server
	SignOut  = "sign-out" // logout, or a sign-in revoked (signed out, refused by Bitrix24, a reused token)
	Register = "bot-register"
)

// Entry is one line of the trail.
type Entry struct {
	Time       time.Time `json:"time"`
	Event      string    `json:"event"`
	Portal     string    `json:"portal,omitempty"`
	UserID     string    `json:"bitrix24_user_id,omitempty"` // whose credentials acted
	Client     string    `json:"mcp_client,omitempty"`       // the MCP client's name, as it said it
	ClientID   string    `json:"mcp_client_id,omitempty"`    // its OAuth client id, with sign-in
	Tool       string    `json:"tool,omitempty"`
	ChatID     int       `json:"chat_id,omitempty"`
	UserIDs    []int     `json:"user_ids,omitempty"` // the users the change was for
	Changed    []int     `json:"changed,omitempty"`
	NotChanged []int     `json:"not_changed,omitempty"`
	Outcome    string    `json:"outcome"`
	Reason     string    `json:"reason,omitempty"`
	RequestID  string    `json:"request_id,omitempty"`
}

// Log appends entries to one writer. A nil *Log is off.
type Log struct {
	mu   sync.Mutex
	w    io.Writer
	file *os.File
	dest string
}

// Open opens the trail: "" is off (nil), "stderr" the process's stderr,
// anything else a file appended to (created 0600).
func Open(dest string) (*Log, error) {
	switch dest {
	case "":
		return nil, nil
	case "stderr", "-":
		return &Log{w: os.Stderr, dest: "stderr"}, nil
	}
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("MCP_AUDIT_LOG: %w", err)
	}
	return &Log{w: f, file: f, dest: dest}, nil
}

// Write appends e (its time set now when zero), synced to disk for a file.
func (l *Log) Write(e Entry) error {
	if l == nil {
		return nil
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("writing the audit log %s: %w", l.dest, err)
	}
	if l.file != nil {
		if err := l.file.Sync(); err != nil {
			return fmt.Errorf("writing the audit log %s: %w", l.dest, err)
		}
	}
	return nil
}

// String names where the trail goes.
func (l *Log) String() string {
	if l == nil {
		return "off"
	}
	return l.dest
}

// Close closes the file.
func (l *Log) Close() error {
	if l == nil || l.file == nil {
		return nil
	}
	return l.file.Close()
}

type requestIDKey struct{}

// WithRequestID marks ctx with the id of the tool call it serves: the id is
// in the call's log line and in its audit lines.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID is the id WithRequestID set, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

type clientIDKey struct{}

// WithClientID marks ctx with the OAuth client id of the MCP client the
// call came through (with sign-in).
func WithClientID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, clientIDKey{}, id)
}

// ClientID is the id WithClientID set, or "".
func ClientID(ctx context.Context) string {
	id, _ := ctx.Value(clientIDKey{}).(string)
	return id
}
