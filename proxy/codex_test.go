package proxy

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/daedalus-dev/daedalus/internal/agenttest"
	"github.com/daedalus-dev/daedalus/internal/engine"
)

// The real codex-acp (Zed's ACP adapter for Codex, installed from npm by `make codex-acp`)
// spawned by the proxy over stdio, with its model API stood in for on loopback
// (internal/agenttest): the scripted model streams text, edits a file in the workspace and
// then runs a command that needs approval, so the turn goes through authenticate,
// session/set_mode, streamed updates and session/request_permission.

func codexACP(t *testing.T) string {
	t.Helper()
	engine.Heavy(t)
	return engine.Path(t, "DAEDALUS_CODEX_ACP", "codex-acp", "codex-acp")
}

// codexConfig is a service-mode proxy config that spawns codex-acp per task, with env as
// the agent's whole environment; with model set, codex calls that stand-in.
func (e *env) codexConfig(t *testing.T, bin string, model *agenttest.Responses, env ...string) (Config, Dialer) {
	t.Helper()
	home := t.TempDir()
	cfg := e.config("")
	cfg.Mode = ModeService
	cfg.Workspace = t.TempDir()
	cfg.StartupTimeout = 30 * time.Second
	cfg.AgentCommand = []string{bin}
	if model != nil {
		cfg.AgentCommand = append(cfg.AgentCommand, model.CodexFlags()...)
	}
	cfg.Agent.Mode = "auto"
	env = append(env, "HOME="+home, "CODEX_HOME="+home, "PATH="+os.Getenv("PATH"))
	return cfg, CommandDialer{Args: cfg.AgentCommand, Dir: cfg.Workspace, Env: env, Stderr: io.Discard}
}

func (e *env) runWith(cfg Config, d Dialer) {
	e.t.Helper()
	if err := cfg.Validate(); err != nil {
		e.t.Fatalf("test config invalid: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = NewRunner(cfg, e.js, d, testLogger(e.t)).Run(ctx)
	}()
	e.t.Cleanup(func() { cancel(); <-done })
}

func TestCodexEditsTheWorkspace(t *testing.T) {
	t.Parallel()
	bin := codexACP(t)
	e := newEnv(t)
	model := agenttest.NewResponses(t,
		agenttest.Turn{Text: "Creating hello.txt.", Patch: "*** Begin Patch\n*** Add File: hello.txt\n+hello from codex\n*** End Patch\n"},
		agenttest.Turn{Command: "echo approved >> hello.txt"},
		agenttest.Turn{Text: "Done: hello.txt is there."},
	)
	cfg, d := e.codexConfig(t, bin, model, "OPENAI_API_KEY=sk-daedalus-test")

	id := "codex-1"
	var mu sync.Mutex
	var firstUpdate time.Time
	sub, err := e.nc.Subscribe(StatusSubject(id), func(m *nats.Msg) {
		var ev StatusEvent
		if json.Unmarshal(m.Data, &ev) == nil && ev.Status.Message != nil && ev.Metadata["attempt"] != nil {
			mu.Lock()
			if firstUpdate.IsZero() && ev.Status.State == StateWorking && !strings.HasPrefix(textOf(ev.Status.Message), "attempt ") {
				firstUpdate = time.Now()
			}
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	e.runWith(cfg, d)
	published := time.Now()
	e.publishRaw(envelope(id, "Create hello.txt saying hello, then append a line."), nil)

	res, _ := e.result(id, 60*time.Second)
	if res.Status.State != StateCompleted || res.Metadata.Attempt != 1 {
		t.Fatalf("result = %s on attempt %d (%s), want completed on attempt 1", res.Status.State, res.Metadata.Attempt, res.Metadata.Error)
	}
	if res.Metadata.Agent != "codex-acp 0.16.0" || res.Metadata.AuthMethod != "openai-api-key" {
		t.Errorf("agent %q authenticated with %q, want codex-acp 0.16.0 with openai-api-key", res.Metadata.Agent, res.Metadata.AuthMethod)
	}
	if got := res.Artifacts[0].Parts[0].Text; !strings.Contains(got, "Creating hello.txt.") || !strings.Contains(got, "Done: hello.txt is there.") {
		t.Errorf("answer = %q, want the streamed text of both messages", got)
	}
	// The edit landed in the workspace, and the command that needed approval ran: the proxy
	// answered session/request_permission with an allow option.
	b, err := os.ReadFile(filepath.Join(cfg.Workspace, "hello.txt"))
	if err != nil || string(b) != "hello from codex\napproved\n" {
		t.Errorf("hello.txt = %q, %v; want the edit and the approved command's line", b, err)
	}
	reqs := model.Requests()
	if len(reqs) != 3 {
		t.Errorf("%d model requests, want 3 (one per scripted turn)", len(reqs))
	}
	for _, r := range reqs {
		if r.Authorization != "Bearer sk-daedalus-test" {
			t.Errorf("model request authorization = %q, want the key from OPENAI_API_KEY", r.Authorization)
		}
	}
	var kinds []string
	for _, ev := range e.statuses(id) {
		if tc, ok := ev.Metadata["toolCalls"].([]any); ok {
			for _, c := range tc {
				if k, ok := c.(map[string]any)["kind"].(string); ok {
					kinds = append(kinds, k)
				}
			}
		}
	}
	if !strings.Contains(strings.Join(kinds, ","), "edit") || !strings.Contains(strings.Join(kinds, ","), "execute") {
		t.Errorf("status tool calls of kinds %v, want the edit and the command", kinds)
	}
	e.settled(5 * time.Second)
	if n := e.count(ResultsStream, ResultSubject(id)); n != 1 {
		t.Errorf("%d results, want exactly 1", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if firstUpdate.IsZero() {
		t.Error("no status event carried the agent's progress")
	} else {
		t.Logf("publish → first agent update %s, publish → result %.0f ms", firstUpdate.Sub(published).Round(time.Millisecond), res.Metadata.Timings.TotalMs)
	}
}

// Without a key, codex-acp (on its default provider) answers session/new with
// "Authentication required": one failed result on the first attempt that says which
// variables to set. Nothing reaches a model API.
func TestCodexWithoutAKeyFailsOnce(t *testing.T) {
	t.Parallel()
	bin := codexACP(t)
	e := newEnv(t)
	cfg, d := e.codexConfig(t, bin, nil)
	e.runWith(cfg, d)
	id := e.publish("hello")
	res, _ := e.result(id, 60*time.Second)
	if res.Status.State != StateFailed || res.Metadata.Attempt != 1 {
		t.Fatalf("result = %s on attempt %d (%s), want failed on attempt 1", res.Status.State, res.Metadata.Attempt, res.Metadata.Error)
	}
	for _, want := range []string{"requires authentication", "OPENAI_API_KEY", "CODEX_API_KEY", "DAEDALUS_AUTH_METHOD"} {
		if !strings.Contains(res.Metadata.Error, want) {
			t.Errorf("error %q does not name %s", res.Metadata.Error, want)
		}
	}
	if ci := e.settled(5 * time.Second); ci.Delivered.Consumer != 1 {
		t.Errorf("delivered %d times, want once", ci.Delivered.Consumer)
	}
}

func textOf(m *Message) string {
	var parts []string
	for _, p := range m.Parts {
		parts = append(parts, p.Text)
	}
	return strings.Join(parts, "")
}

// A mode codex does not offer fails once, naming the modes it does offer: the proxy read
// them from the real session/new answer.
func TestCodexUnknownModeFailsOnce(t *testing.T) {
	t.Parallel()
	bin := codexACP(t)
	e := newEnv(t)
	cfg, d := e.codexConfig(t, bin, agenttest.NewResponses(t), "OPENAI_API_KEY=sk-daedalus-test")
	cfg.Agent.Mode = "yolo"
	e.runWith(cfg, d)
	id := e.publish("hello")
	res, _ := e.result(id, 60*time.Second)
	if res.Status.State != StateFailed || res.Metadata.Attempt != 1 ||
		!strings.Contains(res.Metadata.Error, `mode "yolo"`) || !strings.Contains(res.Metadata.Error, "read-only, auto, full-access") {
		t.Fatalf("result = %s on attempt %d (%s), want failed on attempt 1 naming codex's modes", res.Status.State, res.Metadata.Attempt, res.Metadata.Error)
	}
}
