package demo

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/test/agenttest"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
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
		"[3145728 bytes stored] aaaa", "nats-object://AGENT_OUTPUTS/demo-", "/attempt-1: 3145728 bytes, digest SHA-256=", "answered by daedalus-refagent 1 (ACP auth: none)"} {
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

// `make demo DEMO_FLAGS="--agent-cmd codex-acp --session-mode auto"` with OPENAI_API_KEY set,
// as the README shows, here against the loopback model API stand-in. Not parallel: the
// spawned agent inherits the process environment, which the test sets.
func TestDemoWithCodex(t *testing.T) {
	engine.Heavy(t)
	bin := engine.Path(t, "DAEDALUS_CODEX_ACP", "codex-acp", "codex-acp")
	model := agenttest.NewResponses(t, agenttest.Turn{Text: "Hello from codex."})
	t.Setenv("OPENAI_API_KEY", "sk-daedalus-demo")
	t.Setenv("CODEX_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	c, err := ParseConfig([]string{"--agent-cmd", strings.Join(append([]string{bin}, model.CodexFlags()...), " "),
		"--session-mode", "auto", "--prompt", "Say hello."}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout, c.Getenv = time.Minute, os.Getenv
	var out bytes.Buffer
	if err := Run(t.Context(), c, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"all 1 tasks completed", "Hello from codex.", "answered by codex-acp 0.16.0 (ACP auth: openai-api-key)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
