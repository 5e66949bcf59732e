package proxy

import (
	"fmt"
	"unicode/utf8"
)

// Limits bound what one task can make the proxy hold in memory, whatever the agent sends. The
// agent's own messages are bounded too: the ACP connection drops a line longer than 10 MiB,
// which fails the attempt as a crashed agent.
type Limits struct {
	// MaxOutput is how many bytes of the agent's answer are kept; the rest is dropped and the
	// result says how much (metadata.output.droppedBytes).
	MaxOutput int64
	// StatusBuffer is how many bytes of streamed text are held between two status events;
	// the rest of that interval's text is dropped from the status stream (never from the
	// answer) and the event says how much.
	StatusBuffer int64
	// MaxToolCalls is how many distinct tool calls a task tracks (for the result's count, the
	// status events and permission requests that name a call only by id).
	MaxToolCalls int
}

// DefaultLimits are the proxy's defaults: with them a proxy stays well inside a 128 MiB pod
// limit under any flood (see BenchmarkProxyPeakRSSUnderFlood).
func DefaultLimits() Limits {
	return Limits{MaxOutput: 8 << 20, StatusBuffer: 64 << 10, MaxToolCalls: 1024}
}

// memoryLimit is the Go runtime's soft memory limit for a proxy with these limits, unless
// GOMEMLIMIT sets one: the limits bound what the proxy holds live (the answer, at most a
// flowWindow of unhandled agent messages, the status buffer), and the soft limit keeps the
// garbage collector from letting the heap grow to twice that before it runs.
func (l Limits) memoryLimit() int64 {
	return 4*l.MaxOutput + 16<<20
}

// Bounds on the limits. A status event holds at most StatusBuffer bytes of text, which JSON
// may escape to six times as many, and must fit NATS's default 1 MiB max payload.
const (
	minMaxOutput      = 64 << 10
	maxMaxOutput      = 1 << 30
	minStatusBuffer   = 1 << 10
	maxStatusBuffer   = 128 << 10
	maxToolCallsCeil  = 1 << 16
	maxToolFieldBytes = 256 // a tool call's id, title, kind or status
	maxPlanEntries    = 64  // entries of a plan kept for status events
	maxPlanEntryBytes = 512 // bytes of one plan entry
)

func (l Limits) validate() []error {
	var errs []error
	if l.MaxOutput < minMaxOutput || l.MaxOutput > maxMaxOutput {
		errs = append(errs, fmt.Errorf("DAEDALUS_MAX_OUTPUT (--max-output) is %d bytes: use 64KiB to 1GiB", l.MaxOutput))
	}
	if l.StatusBuffer < minStatusBuffer || l.StatusBuffer > maxStatusBuffer {
		errs = append(errs, fmt.Errorf("DAEDALUS_STATUS_BUFFER (--status-buffer) is %d bytes: use 1KiB to 128KiB", l.StatusBuffer))
	}
	if l.MaxToolCalls < 1 || l.MaxToolCalls > maxToolCallsCeil {
		errs = append(errs, fmt.Errorf("DAEDALUS_MAX_TOOL_CALLS (--max-tool-calls) is %d: use 1 to %d", l.MaxToolCalls, maxToolCallsCeil))
	}
	return errs
}

// cappedText accumulates text up to limit bytes and counts the bytes it drops. Its buffer
// never grows past limit.
type cappedText struct {
	buf     []byte
	limit   int64
	dropped int64
}

func (c *cappedText) write(s string) {
	room := c.limit - int64(len(c.buf))
	if int64(len(s)) > room {
		kept := clip(s, int(max(room, 0)))
		c.dropped += int64(len(s) - len(kept))
		s = kept
	}
	if len(s) == 0 {
		return
	}
	if need := len(c.buf) + len(s); need > cap(c.buf) {
		grown := make([]byte, len(c.buf), min(max(2*cap(c.buf), need, 512), int(c.limit)))
		copy(grown, c.buf)
		c.buf = grown
	}
	c.buf = append(c.buf, s...)
}

func (c *cappedText) String() string { return string(c.buf) }

// take hands over the text without copying it; from then on every write is dropped and
// counted, so the text handed over never changes.
func (c *cappedText) take() []byte {
	b := c.buf
	c.buf, c.limit = nil, 0
	return b
}

// reset empties the text and the drop count, keeping the buffer.
func (c *cappedText) reset() { c.buf, c.dropped = c.buf[:0], 0 }

// clip returns the longest prefix of s of at most n bytes that does not split a UTF-8 rune.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// clipNote is clip with a mark saying how much was cut.
func clipNote(s string, n int) string {
	if len(s) <= n {
		return s
	}
	c := clip(s, n)
	return c + fmt.Sprintf("… [%d more bytes]", len(s)-len(c))
}

// clipBytesNote is clipNote for text held as bytes; it copies only what it keeps.
func clipBytesNote(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	head := clip(string(b[:n+1]), n)
	return head + fmt.Sprintf("… [%d more bytes]", len(b)-len(head))
}

// clipTool bounds a tool event's fields.
func clipTool(ev ToolEvent) ToolEvent {
	ev.ID = clip(ev.ID, maxToolFieldBytes)
	ev.Title = clip(ev.Title, maxToolFieldBytes)
	ev.Kind = clip(ev.Kind, maxToolFieldBytes)
	ev.Status = clip(ev.Status, maxToolFieldBytes)
	return ev
}

// clipPlan bounds a plan.
func clipPlan(plan []string) []string {
	out := make([]string, 0, min(len(plan), maxPlanEntries))
	for _, e := range plan[:min(len(plan), maxPlanEntries)] {
		out = append(out, clip(e, maxPlanEntryBytes))
	}
	return out
}
