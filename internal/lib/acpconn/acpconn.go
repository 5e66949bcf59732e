// Package acpconn opens ACP connections (github.com/coder/acp-go-sdk) that read nothing
// until their owner is ready for them.
//
// The SDK starts reading as soon as a connection is constructed. Two things then race with
// the reading goroutine: SetLogger, an unsynchronized write (a peer that hangs up at once
// makes the reader log "connection closed" while the logger is being stored), and the
// owner storing the connection where its handlers find it (a request that arrives at once
// runs a handler that reads the field being written). The constructors here set the logger
// and hold the reader back until the owner calls start. start must be called, also when
// the owner gives up on the connection at once: until then its reading goroutine waits.
package acpconn

import (
	"io"
	"log/slog"
	"sync"

	acp "github.com/coder/acp-go-sdk"
)

// Client opens the client side of an ACP connection that logs to log. It reads from the
// peer once start is called; everything the caller does before start happens before c's
// first callback.
func Client(c acp.Client, peerInput io.Writer, peerOutput io.Reader, log *slog.Logger) (conn *acp.ClientSideConnection, start func()) {
	r := held(peerOutput)
	conn = acp.NewClientSideConnection(c, peerInput, r)
	conn.SetLogger(log)
	return conn, r.release
}

// Agent opens the agent side of an ACP connection that logs to log. It reads from the
// peer once start is called; everything the caller does before start happens before a's
// first callback.
func Agent(a acp.Agent, peerInput io.Writer, peerOutput io.Reader, log *slog.Logger) (conn *acp.AgentSideConnection, start func()) {
	r := held(peerOutput)
	conn = acp.NewAgentSideConnection(a, peerInput, r)
	conn.SetLogger(log)
	return conn, r.release
}

// heldReader blocks its reads until release; closing open is what orders the owner's writes
// before the reading goroutine's first look at them.
type heldReader struct {
	r    io.Reader
	open chan struct{}
	once sync.Once
}

func held(r io.Reader) *heldReader { return &heldReader{r: r, open: make(chan struct{})} }

func (h *heldReader) release() { h.once.Do(func() { close(h.open) }) }

func (h *heldReader) Read(p []byte) (int, error) {
	<-h.open
	return h.r.Read(p)
}
