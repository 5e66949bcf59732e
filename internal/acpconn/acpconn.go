// Package acpconn opens ACP connections (github.com/coder/acp-go-sdk) with their logger in
// place before the connection reads its first byte.
//
// The SDK starts reading as soon as a connection is constructed, and its SetLogger is an
// unsynchronized write that the reading goroutine races with: a peer that hangs up at once
// makes the reader log "connection closed" while SetLogger is still storing the logger. The
// constructors here hold the reader back until the logger is set.
package acpconn

import (
	"io"
	"log/slog"

	acp "github.com/coder/acp-go-sdk"
)

// Client opens the client side of an ACP connection that logs to log.
func Client(c acp.Client, peerInput io.Writer, peerOutput io.Reader, log *slog.Logger) *acp.ClientSideConnection {
	r := held(peerOutput)
	conn := acp.NewClientSideConnection(c, peerInput, r)
	conn.SetLogger(log)
	close(r.open)
	return conn
}

// Agent opens the agent side of an ACP connection that logs to log.
func Agent(a acp.Agent, peerInput io.Writer, peerOutput io.Reader, log *slog.Logger) *acp.AgentSideConnection {
	r := held(peerOutput)
	conn := acp.NewAgentSideConnection(a, peerInput, r)
	conn.SetLogger(log)
	close(r.open)
	return conn
}

// heldReader blocks its reads until open is closed; closing open is what orders the logger's
// write before every read of it.
type heldReader struct {
	r    io.Reader
	open chan struct{}
}

func held(r io.Reader) *heldReader { return &heldReader{r: r, open: make(chan struct{})} }

func (h *heldReader) Read(p []byte) (int, error) {
	<-h.open
	return h.r.Read(p)
}
