package demo

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

// The demo end to end on its embedded defaults: real embedded JetStream, the reference agent
// over loopback TCP, the proxy in service mode.
func TestDemoOnEmbeddedDefaults(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = time.Minute
	var out bytes.Buffer
	if err := Run(t.Context(), c, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	report := out.String()
	if n := strings.Count(report, " completed "); n != len(showcase) {
		t.Errorf("%d completed rows, want %d:\n%s", n, len(showcase), report)
	}
	for _, want := range []string{"(permission: yes)", "all 5 tasks completed", "PUBLISH→PROMPT",
		"[3145728 bytes stored] aaaa", "nats-object://AGENT_OUTPUTS/demo-", "/attempt-1: 3145728 bytes, digest SHA-256="} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}

func TestDemoFailsWhenATaskFails(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig([]string{"--prompt", "@error -32000 no model"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = time.Minute
	var out bytes.Buffer
	err = Run(t.Context(), c, &out)
	if err == nil || !strings.Contains(err.Error(), "1 of 1 tasks did not complete") || !strings.Contains(out.String(), "failed") {
		t.Fatalf("err = %v, want the failed task reported:\n%s", err, out.String())
	}
}

func TestDemoFlags(t *testing.T) {
	t.Parallel()
	if _, err := ParseConfig([]string{"--agent-addr", "a:1", "--agent-cmd", "x"}, io.Discard); err == nil {
		t.Error("both agent flags accepted")
	}
}
