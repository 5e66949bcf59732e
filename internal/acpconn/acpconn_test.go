package acpconn

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	acp "github.com/coder/acp-go-sdk"

	"github.com/daedalus-dev/daedalus/internal/syncbuf"
)

// A peer that hangs up before the first byte makes the SDK's reader log at once. The log line
// must reach the logger handed to the constructor (and, under -race, the logger must be set
// before the reader looks at it): without the hold, the reader can log to slog.Default while
// SetLogger is still storing the logger.
func TestLoggerInPlaceBeforeFirstRead(t *testing.T) {
	for name, open := range map[string]func(io.Reader, *slog.Logger) <-chan struct{}{
		"client": func(r io.Reader, log *slog.Logger) <-chan struct{} {
			return Client(nopClient{}, io.Discard, r, log).Done()
		},
		"agent": func(r io.Reader, log *slog.Logger) <-chan struct{} {
			return Agent(nopAgent{}, io.Discard, r, log).Done()
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
	close(h.open)
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
