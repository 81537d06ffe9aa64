package transport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// maxStdioMessage bounds one JSON-RPC message read from stdin. mcp-go reads
// whole lines however long; a 100 MB line took 426 MB of memory.
const maxStdioMessage = 4 << 20

// limitLines passes stdin's lines through unless one is longer than max.
// Such a line is dropped as it streams by (never held past max) and replaced
// by a request, with the same id, for a method that names the problem: the
// client gets a JSON-RPC "method not found" error for its call instead of
// silence, and nothing else changes for mcp-go. Memory grows with the
// longest line passed, not with max: start-up allocates 64 KiB.
func limitLines(r io.Reader, max int) io.Reader {
	return &lineLimiter{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

type lineLimiter struct {
	r       *bufio.Reader
	max     int
	line    []byte // the line being read, up to max
	pending []byte
	err     error
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	for len(l.pending) == 0 {
		if l.err != nil {
			return 0, l.err
		}
		l.line = l.line[:0]
		var id json.RawMessage
		over := false
		for {
			chunk, err := l.r.ReadSlice('\n')
			if !over && len(l.line)+len(chunk) > l.max {
				over = true
				// The id comes first in practice: what was kept holds it.
				id = topLevelID(l.line)
				if len(l.line) == 0 {
					id = topLevelID(chunk)
				}
				l.line = l.line[:0]
			}
			if !over {
				l.line = append(l.line, chunk...) // ReadSlice's bytes are reused
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil {
				l.err = err
			}
			break
		}
		if over {
			l.pending = oversized(id)
		} else {
			l.pending = l.line
		}
	}
	n := copy(p, l.pending)
	l.pending = l.pending[n:]
	return n, nil
}

// topLevelID finds the "id" member of a JSON object's prefix, or nil.
func topLevelID(prefix []byte) json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(prefix))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil
		}
		if key == "id" {
			return value
		}
	}
	return nil
}

func oversized(id json.RawMessage) []byte {
	method := fmt.Sprintf("[request over %d MiB refused unread]", maxStdioMessage>>20)
	if id == nil {
		return []byte(fmt.Sprintf(`{"jsonrpc":"2.0","method":%q}`+"\n", method))
	}
	return []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":%q}`+"\n", id, method))
}
