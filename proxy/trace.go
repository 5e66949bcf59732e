package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"strings"

	"github.com/nats-io/nats.go"
)

// W3C trace context (https://www.w3.org/TR/trace-context/) travels in NATS headers named as in
// HTTP, and into ACP requests under _meta, where ACP reserves the same keys.
const (
	traceparentHeader = "traceparent"
	tracestateHeader  = "tracestate"
)

// traceContext is the proxy's span of one task delivery.
type traceContext struct {
	TraceID  string
	SpanID   string
	ParentID string // the publisher's span, when the task carried one
	Flags    string
	State    string
}

// newTraceContext continues the trace in the task's headers, or starts one.
func newTraceContext(h nats.Header) traceContext {
	tc := traceContext{SpanID: randomHex(8), Flags: "01"}
	if tid, pid, flags, ok := parseTraceparent(h.Get(traceparentHeader)); ok {
		tc.TraceID, tc.ParentID, tc.Flags = tid, pid, flags
		tc.State = h.Get(tracestateHeader)
		return tc
	}
	tc.TraceID = randomHex(16)
	return tc
}

// traceparent renders this span as a traceparent value.
func (t traceContext) traceparent() string {
	return "00-" + t.TraceID + "-" + t.SpanID + "-" + t.Flags
}

// header returns the headers that carry the context on to what the proxy publishes.
func (t traceContext) header() nats.Header {
	h := nats.Header{}
	h.Set(traceparentHeader, t.traceparent())
	if t.State != "" {
		h.Set(tracestateHeader, t.State)
	}
	return h
}

// meta is the ACP _meta object carrying the context to the agent.
func (t traceContext) meta() map[string]any {
	m := map[string]any{traceparentHeader: t.traceparent()}
	if t.State != "" {
		m[tracestateHeader] = t.State
	}
	return m
}

// parseTraceparent accepts version 00 traceparents with non-zero ids.
func parseTraceparent(v string) (traceID, parentID, flags string, ok bool) {
	parts := strings.Split(strings.TrimSpace(v), "-")
	if len(parts) < 4 {
		return "", "", "", false
	}
	ver := parts[0]
	if len(ver) != 2 || !isHex(ver) || ver == "ff" || ver == "00" && len(parts) != 4 {
		return "", "", "", false
	}
	traceID, parentID, flags = parts[1], parts[2], parts[3]
	if len(traceID) != 32 || len(parentID) != 16 || len(flags) != 2 ||
		!isHex(traceID) || !isHex(parentID) || !isHex(flags) ||
		strings.Trim(traceID, "0") == "" || strings.Trim(parentID, "0") == "" {
		return "", "", "", false
	}
	return traceID, parentID, flags, true
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
