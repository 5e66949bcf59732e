package acpconn

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	acp "github.com/coder/acp-go-sdk"

	"github.com/daedalus-dev/daedalus/internal/lib/syncbuf"
)

// A peer that hangs up before the first byte makes the SDK's reader log at once. The log line
// must reach the logger handed to the constructor (and, under -race, the logger must be set
// before the reader looks at it): without the hold, the reader can log to slog.Default while
// SetLogger is still storing the logger.
func TestLoggerInPlaceBeforeFirstRead(t *testing.T) {
	for name, open := range map[string]func(io.Reader, *slog.Logger) <-chan struct{}{
		"client": func(r io.Reader, log *slog.Logger) <-chan struct{} {
			conn, start := Client(nopClient{}, io.Discard, r, log)
			start()
			return conn.Done()
		},
		"agent": func(r io.Reader, log *slog.Logger) <-chan struct{} {
			conn, start := Agent(nopAgent{}, io.Discard, r, log)
			start()
			return conn.Done()
		},
	} {
		t.Run(name, func(t *testing.T) {
			for range 20 {
				var buf syncbuf.Buffer
				done := open(strings.NewReader(""), slog.New(slog.NewTextHandler(&buf, nil)))
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Fatal("the connection did not end when its peer hung up")
				}
				waitFor(t, &buf, "connection closed")
			}
		})
	}
}

// A request the peer sends at once reaches a handler that finds the connection where its
// owner stored it between construction and start. Without the hold the handler can run
// before the store (and -race reports the two goroutines).
func TestOwnerStoresConnectionBeforeFirstCallback(t *testing.T) {
	for range 20 {
		pr, pw := io.Pipe()
		go func() {
			_, _ = io.WriteString(pw, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1}}`+"\n")
		}()
		a := &storingAgent{saw: make(chan bool, 1)}
		conn, start := Agent(a, io.Discard, pr, slog.New(slog.DiscardHandler))
		a.conn = conn
		start()
		select {
		case stored := <-a.saw:
			if !stored {
				t.Fatal("initialize ran before the owner stored its connection")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("initialize never reached the agent")
		}
		_ = pw.Close()
		<-conn.Done()
	}
}

// The held reader passes data through once opened: a request the peer sends first is read.
func TestHeldReaderPassesThrough(t *testing.T) {
	h := held(strings.NewReader("hello"))
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(h)
		got <- string(b)
	}()
	select {
	case s := <-got:
		t.Fatalf("read %q before the reader was opened", s)
	case <-time.After(50 * time.Millisecond):
	}
	h.release()
	h.release() // a second start is harmless
	if s := <-got; s != "hello" {
		t.Fatalf("read %q, want %q", s, "hello")
	}
}

func waitFor(t *testing.T, buf *syncbuf.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the connection's logger never got %q; it got %q", want, buf.String())
		}
		time.Sleep(time.Millisecond)
	}
}

type nopClient struct{ acp.Client }

type nopAgent struct{ acp.Agent }

type storingAgent struct {
	acp.Agent
	conn *acp.AgentSideConnection
	saw  chan bool
}

func (a *storingAgent) Initialize(context.Context, acp.InitializeRequest) (acp.InitializeResponse, error) {
	a.saw <- a.conn != nil
	return acp.InitializeResponse{ProtocolVersion: acp.ProtocolVersionNumber}, nil
}
