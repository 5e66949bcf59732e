package proxy

import (
	"bufio"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

// flowReader passes the agent's stream on unchanged but for its marks, one at a line end
// after every `every` bytes, and stops reading while more than `window` bytes up to the last
// mark are unhandled; a handled mark lets it go on. A mark with another nonce is refused.
func TestFlowReaderBoundsTheUnhandledBacklog(t *testing.T) {
	t.Parallel()
	line := strings.Repeat("x", 99) + "\n"
	agent := strings.NewReader(strings.Repeat(line, 1000)) // 100,000 bytes
	f := newFlowReader(agent, 1000, 300)
	lines := make(chan string)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(f)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	var got strings.Builder
	marks := 0
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				if got.String() != strings.Repeat(line, 1000) {
					t.Fatalf("the agent's stream did not pass whole (%d bytes)", got.Len())
				}
				if marks != 333 {
					t.Errorf("%d marks, want one per 300 bytes at a line end (333)", marks)
				}
				return
			}
			if !strings.Contains(l, flowMethod) {
				got.WriteString(l + "\n")
				continue
			}
			marks++
			var m struct {
				Params json.RawMessage `json:"params"`
			}
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			if marks == 4 { // offset 1200: past the window of 1000
				// Unhandled marks: past the window the reader must stop.
				select {
				case l := <-lines:
					t.Fatalf("read on past the window: %q", l)
				case <-time.After(200 * time.Millisecond):
				}
				if err := f.handle(json.RawMessage(`{"nonce":"forged","offset":1000000}`)); err == nil {
					t.Fatal("a forged mark was accepted")
				}
			}
			if marks >= 4 {
				if err := f.handle(m.Params); err != nil {
					t.Fatal(err)
				}
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("stuck after %d bytes and %d marks", got.Len(), marks)
		}
	}
}

func TestFlowReaderStopLetsReadsThrough(t *testing.T) {
	t.Parallel()
	f := newFlowReader(strings.NewReader(strings.Repeat("a\n", 100)), 1, 2)
	f.stop()
	b, err := io.ReadAll(f)
	if err != nil || strings.Count(string(b), "a\n") != 100 {
		t.Fatalf("read %q, %v", b, err)
	}
}
