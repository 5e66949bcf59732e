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

	"github.com/daedalus-dev/daedalus/internal/test/agenttest"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
	"github.com/daedalus-dev/daedalus/proxy/contract"
)

// Real ACP agents installed from npm (`make codex-acp`, `make claude-code-acp`), spawned by
// the proxy over stdio, with their model APIs stood in for on loopback (internal/test/agenttest):
// the scripted model streams text, edits a file in the workspace and then runs a command that
// needs approval, so each turn goes through the agent's auth, session/set_mode (and the model
// choice), streamed updates and session/request_permission.

func codexACP(t *testing.T) string {
	t.Helper()
	engine.Heavy(t)
	return engine.Path(t, "DAEDALUS_CODEX_ACP", "codex-acp", "codex-acp")
}

// agentConfig is a service-mode proxy config that spawns args per task in a fresh workspace,
// with env (plus a fresh HOME and the test's PATH) as the agent's whole environment.
func (e *env) agentConfig(t *testing.T, args []string, env ...string) (Config, Dialer) {
	t.Helper()
	home := t.TempDir()
	cfg := e.config("")
	cfg.Mode = ModeService
	cfg.Workspace = t.TempDir()
	cfg.StartupTimeout = 30 * time.Second
	cfg.AgentCommand = args
	env = append(env, "HOME="+home, "PATH="+os.Getenv("PATH"))
	return cfg, CommandDialer{Args: cfg.AgentCommand, Dir: cfg.Workspace, Env: env, Stderr: io.Discard}
}

// codexConfig spawns codex-acp in mode auto, as the chart's codex preset does; with model
// set, codex calls that stand-in.
func (e *env) codexConfig(t *testing.T, bin string, model *agenttest.Responses, env ...string) (Config, Dialer) {
	t.Helper()
	args := []string{bin}
	if model != nil {
		args = append(args, model.CodexFlags()...)
	}
	cfg, d := e.agentConfig(t, args, append(env, "CODEX_HOME="+t.TempDir())...)
	cfg.Agent.Mode = "auto"
	return cfg, d
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

	// The edit lands in the workspace, and the command that needs approval runs: the proxy
	// answers session/request_permission with an allow option.
	e.runScripted("codex-1", cfg, d, agentRun{agent: "codex-acp 0.16.0", authMethod: "openai-api-key",
		answer: "Creating hello.txt.Done: hello.txt is there.", file: "hello from codex\napproved\n"})
	reqs := model.Requests()
	if len(reqs) != 3 {
		t.Errorf("%d model requests, want 3 (one per scripted turn)", len(reqs))
	}
	for _, r := range reqs {
		if r.Authorization != "Bearer sk-daedalus-test" {
			t.Errorf("model request authorization = %q, want the key from OPENAI_API_KEY", r.Authorization)
		}
	}
}

// firstUpdate records when the task's first status event with the agent's own progress
// arrives (not the proxy's "starting the agent"); the returned func reads it.
func (e *env) firstUpdate(id string) func() time.Time {
	e.t.Helper()
	var mu sync.Mutex
	var at time.Time
	sub, err := e.nc.Subscribe(contract.StatusSubject(id), func(m *nats.Msg) {
		var ev contract.StatusEvent
		if json.Unmarshal(m.Data, &ev) != nil || ev.Status.State != contract.StateWorking {
			return
		}
		_, tools := ev.Metadata["toolCalls"]
		if ev.Status.Message != nil && strings.HasPrefix(textOf(ev.Status.Message), "attempt ") && !tools {
			return
		}
		mu.Lock()
		if at.IsZero() {
			at = time.Now()
		}
		mu.Unlock()
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = sub.Unsubscribe() })
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return at
	}
}

// agentRun is what a real agent's scripted run must end with.
type agentRun struct {
	agent, authMethod string // as the result's metadata names them
	answer            string // the result's text: the agent's streamed messages
	file              string // hello.txt in the workspace afterwards
}

// runScripted runs the scripted task on a proxy that drives d, then checks the result (one,
// completed on the first attempt), the workspace, and what every real agent's run shows on
// the task path: status events with the edit and the command, a settled consumer. It logs
// the figures.
func (e *env) runScripted(id string, cfg Config, d Dialer, want agentRun) {
	e.t.Helper()
	first := e.firstUpdate(id)
	e.runWith(cfg, d)
	published := time.Now()
	e.publishRaw(envelope(id, "Create hello.txt saying hello, then append a line."), nil)
	res, _ := e.result(id, 90*time.Second)
	if res.Status.State != contract.StateCompleted || res.Metadata.Attempt != 1 {
		e.t.Fatalf("result = %s on attempt %d (%s), want completed on attempt 1", res.Status.State, res.Metadata.Attempt, res.Metadata.Error)
	}
	if res.Metadata.Agent != want.agent || res.Metadata.AuthMethod != want.authMethod {
		e.t.Errorf("agent %q authenticated with %q, want %q with %q", res.Metadata.Agent, res.Metadata.AuthMethod, want.agent, want.authMethod)
	}
	if got := res.Artifacts[0].Parts[0].Text; got != want.answer {
		e.t.Errorf("answer = %q, want %q", got, want.answer)
	}
	b, err := os.ReadFile(filepath.Join(cfg.Workspace, "hello.txt"))
	if err != nil || string(b) != want.file {
		e.t.Errorf("hello.txt = %q, %v; want %q: the edit, and the command's line only when the policy allowed it", b, err, want.file)
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
	if all := strings.Join(kinds, ","); !strings.Contains(all, "edit") || !strings.Contains(all, "execute") {
		e.t.Errorf("status tool calls of kinds %v, want the edit and the command", kinds)
	}
	e.settled(5 * time.Second)
	if n := e.count(contract.ResultsStream, contract.ResultSubject(id)); n != 1 {
		e.t.Errorf("%d results, want exactly 1", n)
	}
	at := first()
	if at.IsZero() {
		e.t.Error("no status event carried the agent's progress")
		return
	}
	e.t.Logf("%s: publish → first agent update %s, publish → result %.0f ms", res.Metadata.Agent,
		at.Sub(published).Round(time.Millisecond), res.Metadata.Timings.TotalMs)
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
	if res.Status.State != contract.StateFailed || res.Metadata.Attempt != 1 {
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

func textOf(m *contract.Message) string {
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
	if res.Status.State != contract.StateFailed || res.Metadata.Attempt != 1 ||
		!strings.Contains(res.Metadata.Error, `mode "yolo"`) || !strings.Contains(res.Metadata.Error, "read-only, auto, full-access") {
		t.Fatalf("result = %s on attempt %d (%s), want failed on attempt 1 naming codex's modes", res.Status.State, res.Metadata.Attempt, res.Metadata.Error)
	}
}

func claudeCodeACP(t *testing.T) string {
	t.Helper()
	engine.Heavy(t)
	return engine.Path(t, "DAEDALUS_CLAUDE_CODE_ACP", "claude-code-acp", "claude-code-acp")
}

// claude-code-acp offers only an interactive login as ACP auth and reads its key from
// ANTHROPIC_API_KEY itself: the chart's claude-code preset authenticates with none, switches
// to acceptEdits, and here also picks a model from the agent's list (session/set_model). The
// command asks permission, and the proxy's policy decides whether it runs.
func TestClaudeCodeEditsTheWorkspace(t *testing.T) {
	t.Parallel()
	bin := claudeCodeACP(t)
	for _, tc := range []claudeCase{
		{policy: PolicyAllow, file: "hello from claude\napproved\n", answer: "Creating hello.txt.Done: hello.txt is there.", turns: 3},
		// A refused tool ends Claude Code's turn: no third request, no closing text.
		{policy: PolicyReject, file: "hello from claude\n", answer: "Creating hello.txt.", turns: 2},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			claudeRun(t, bin, tc)
		})
	}
}

type claudeCase struct {
	policy, file, answer string
	turns                int
}

func claudeRun(t *testing.T, bin string, tc claudeCase) {
	e := newEnv(t)
	cfg, d := e.agentConfig(t, []string{bin}, "ANTHROPIC_API_KEY=sk-ant-daedalus-test", "DISABLE_AUTOUPDATER=1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1")
	model := agenttest.NewMessages(t,
		agenttest.MessagesTurn{Text: "Creating hello.txt.", Tool: &agenttest.ToolUse{Name: "Write", Input: map[string]any{
			"file_path": filepath.Join(cfg.Workspace, "hello.txt"), "content": "hello from claude\n"}}},
		agenttest.MessagesTurn{Tool: &agenttest.ToolUse{Name: "Bash", Input: map[string]any{
			"command": `sh -c "echo approved >> hello.txt"`, "description": "Append a line"}}},
		agenttest.MessagesTurn{Text: "Done: hello.txt is there."},
	)
	cd := d.(CommandDialer)
	cd.Env = append(cd.Env, "ANTHROPIC_BASE_URL="+model.BaseURL())
	cfg.Agent = AgentSetup{AuthMethod: AuthNone, Mode: "acceptEdits", Model: "haiku"}
	cfg.PermissionPolicy = tc.policy

	e.runScripted("claude-"+tc.policy, cfg, cd, agentRun{agent: "@zed-industries/claude-code-acp 0.16.2", answer: tc.answer, file: tc.file})
	reqs := model.Requests()
	if len(reqs) != tc.turns {
		t.Errorf("%d streamed model requests, want %d", len(reqs), tc.turns)
	}
	for _, r := range reqs {
		if r.Authorization != "sk-ant-daedalus-test" || !strings.Contains(r.Model, "haiku") {
			t.Errorf("model request with key %q for model %q, want the key from ANTHROPIC_API_KEY and the haiku model chosen", r.Authorization, r.Model)
		}
	}
}
