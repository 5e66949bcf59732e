package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	acp "github.com/coder/acp-go-sdk"
)

// The ACP connection reads the agent's messages as fast as they come and queues its
// notifications (up to 1,024 of them, each up to 10 MiB) for the handler: an agent that
// streams faster than the proxy handles its updates would make the proxy hold gigabytes.
// flowReader, between the agent and the connection, bounds that backlog. Every flowMarkEvery
// bytes, at a line boundary, it slips its own notification (a mark: method flowMethod, a
// per-connection nonce and the stream offset) into what the connection reads; the connection
// handles notifications in order, so when the session handles a mark, everything before that
// offset has been handled. flowReader reads no further while more than flowWindow bytes up to
// the last mark are unhandled. An agent cannot forge a mark: it does not know the nonce.
const (
	flowMethod    = "_daedalus/flow"
	flowWindow    = 4 << 20
	flowMarkEvery = 256 << 10
)

type flowReader struct {
	r      io.Reader
	nonce  string
	window int64
	every  int64

	// Touched only by the connection's reading goroutine.
	mark  []byte // a mark being passed on
	stash []byte // agent bytes read but held back behind a mark
	since int64  // agent bytes passed on since the last mark
	read  int64  // agent bytes passed on

	mu      sync.Mutex
	cond    *sync.Cond
	marked  int64 // offset of the last mark
	handled int64 // offset of the last mark handled
	stopped bool
}

func newFlowReader(r io.Reader, window, every int64) *flowReader {
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	f := &flowReader{r: r, nonce: hex.EncodeToString(nonce), window: window, every: every}
	f.cond = sync.NewCond(&f.mu)
	return f
}

func (f *flowReader) Read(p []byte) (int, error) {
	if len(f.mark) > 0 { // the mark goes out whatever the backlog: handling it is what ends a wait
		n := copy(p, f.mark)
		f.mark = f.mark[n:]
		return n, nil
	}
	f.mu.Lock()
	for f.marked-f.handled > f.window && !f.stopped {
		f.cond.Wait()
	}
	f.mu.Unlock()
	var n int
	var err error
	fromStash := len(f.stash) > 0
	if fromStash {
		n = copy(p, f.stash)
		f.stash = f.stash[n:]
	} else if n, err = f.r.Read(p); err != nil {
		f.read += int64(n)
		return n, err
	}
	keep := f.scan(p[:n])
	if keep < n {
		held := append([]byte{}, p[keep:n]...)
		if fromStash {
			held = append(held, f.stash...)
		}
		f.stash = held
	}
	return keep, nil
}

// scan passes b on up to the first line end at which a mark is due, and queues that mark.
func (f *flowReader) scan(b []byte) int {
	for i, c := range b {
		if c != '\n' || f.since+int64(i+1) < f.every {
			continue
		}
		f.read += int64(i + 1)
		f.since = 0
		f.mark = fmt.Appendf(nil, `{"jsonrpc":"2.0","method":%q,"params":{"nonce":%q,"offset":%d}}`+"\n", flowMethod, f.nonce, f.read)
		f.mu.Lock()
		f.marked = f.read
		f.mu.Unlock()
		return i + 1
	}
	f.read += int64(len(b))
	f.since += int64(len(b))
	return len(b)
}

// handle records a mark the connection has handled.
func (f *flowReader) handle(params json.RawMessage) error {
	var m struct {
		Nonce  string `json:"nonce"`
		Offset int64  `json:"offset"`
	}
	if err := json.Unmarshal(params, &m); err != nil || m.Nonce != f.nonce {
		return acp.NewMethodNotFound(flowMethod) // not ours: the agent's own, unknown to the proxy
	}
	f.mu.Lock()
	f.handled = max(f.handled, m.Offset)
	f.cond.Broadcast()
	f.mu.Unlock()
	return nil
}

// stop lets reads through for good, once the connection is done.
func (f *flowReader) stop() {
	f.mu.Lock()
	f.stopped = true
	f.cond.Broadcast()
	f.mu.Unlock()
}

// HandleExtensionMethod handles the flow reader's marks; the proxy knows no other extension.
func (s *session) HandleExtensionMethod(_ context.Context, method string, params json.RawMessage) (any, error) {
	if method == flowMethod && s.flow != nil {
		return nil, s.flow.handle(params)
	}
	return nil, acp.NewMethodNotFound(method)
}
