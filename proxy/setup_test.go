package proxy

import (
	"errors"
	"strings"
	"testing"
	"time"

	acp "github.com/coder/acp-go-sdk"

	"github.com/daedalus-dev/daedalus/proxy/contract"
	"github.com/daedalus-dev/daedalus/proxy/refagent"
)

// codexAuth is what codex-acp 0.16.0 advertises in initialize: an interactive login and two
// env_var methods. Its session/new answers -32000 "Authentication required" until the client
// calls authenticate with one of them, even when the variable is set.
func codexAuth() []acp.AuthMethod {
	envVar := func(id, name string) acp.AuthMethod {
		return acp.AuthMethod{EnvVar: &acp.AuthMethodEnvVarInline{Id: id, Name: "Use " + name, Type: "env_var",
			Vars: []acp.AuthEnvVar{{Name: name}}}}
	}
	return []acp.AuthMethod{
		{Agent: &acp.AuthMethodAgent{Id: "chatgpt", Name: "Login with ChatGPT"}},
		envVar("codex-api-key", "CODEX_API_KEY"),
		envVar("openai-api-key", "OPENAI_API_KEY"),
	}
}

// An agent that wants authentication the proxy cannot give answers session/new with an
// error. That is the agent's answer, not a dropped connection: one failed result on the
// first attempt, naming the methods and the variables each needs, and no redelivery.
func TestAuthRequiredFailsOnFirstAttempt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var prompts int
	addr := startAgent(t, refagent.Options{AuthMethods: codexAuth(), OnPrompt: func(string, time.Time) { prompts++ }})
	cfg := e.config(addr)
	cfg.Mode = ModeService
	id := e.publish("hello")
	e.runProxy(cfg)
	res, _ := e.result(id, 10*time.Second)
	if res.Status.State != contract.StateFailed || res.Metadata.Attempt != 1 {
		t.Fatalf("result = %s on attempt %d (%s), want failed on attempt 1", res.Status.State, res.Metadata.Attempt, res.Metadata.Error)
	}
	for _, want := range []string{"requires authentication", "-32000", "DAEDALUS_AUTH_METHOD",
		"chatgpt (interactive login)", "codex-api-key (env CODEX_API_KEY)", "openai-api-key (env OPENAI_API_KEY)"} {
		if !strings.Contains(res.Metadata.Error, want) {
			t.Errorf("error %q does not say %q", res.Metadata.Error, want)
		}
	}
	ci := e.settled(3 * time.Second)
	if ci.Delivered.Consumer != 1 || prompts != 0 {
		t.Errorf("delivered %d times and prompted %d times, want 1 and 0", ci.Delivered.Consumer, prompts)
	}
}

func TestAuthenticatesWithConfiguredMethod(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config(startAgent(t, refagent.Options{AuthMethods: codexAuth()}))
	cfg.Agent.AuthMethod = "openai-api-key"
	id := e.publish("hello")
	e.runProxy(cfg)
	res, _ := e.result(id, 10*time.Second)
	if res.Status.State != contract.StateCompleted {
		t.Fatalf("state = %q (%s), want completed", res.Status.State, res.Metadata.Error)
	}
	if res.Metadata.AuthMethod != "openai-api-key" || res.Metadata.Agent != "daedalus-refagent 1" {
		t.Errorf("metadata agent %q, auth method %q; want daedalus-refagent 1 and openai-api-key", res.Metadata.Agent, res.Metadata.AuthMethod)
	}
}

// Set-up the agent cannot satisfy fails once, saying what it offers.
func TestSetupRefusalsFailOnFirstAttempt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup AgentSetup
		want  []string
	}{
		{"auth method not offered", AgentSetup{AuthMethod: "github"}, []string{`auth method "github"`, "openai-api-key (env OPENAI_API_KEY)"}},
		{"mode not offered", AgentSetup{AuthMethod: "openai-api-key", Mode: "yolo"}, []string{`mode "yolo"`, "read-only, auto"}},
		{"model not offered", AgentSetup{AuthMethod: "openai-api-key", Model: "gpt-0"}, []string{`model "gpt-0"`, "m-large, m-small"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := e.config(startAgent(t, refagent.Options{AuthMethods: codexAuth(), Modes: []string{"read-only", "auto"},
				Models: []string{"m-large", "m-small"}}))
			cfg.Mode, cfg.Agent = ModeService, tc.setup
			id := e.publish("hello")
			e.runProxy(cfg)
			res, _ := e.result(id, 10*time.Second)
			if res.Status.State != contract.StateFailed || res.Metadata.Attempt != 1 {
				t.Fatalf("result = %s on attempt %d (%s), want failed on attempt 1", res.Status.State, res.Metadata.Attempt, res.Metadata.Error)
			}
			for _, want := range tc.want {
				if !strings.Contains(res.Metadata.Error, want) {
					t.Errorf("error %q does not say %q", res.Metadata.Error, want)
				}
			}
			if ci := e.settled(3 * time.Second); ci.Delivered.Consumer != 1 {
				t.Errorf("delivered %d times, want once", ci.Delivered.Consumer)
			}
		})
	}
}

// A headless session is switched to the configured mode and model, and gets the configured
// MCP servers, before the prompt goes out.
func TestSessionModeModelAndMCPServers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config(startAgent(t, refagent.Options{Modes: []string{"read-only", "auto"}, Models: []string{"m-large", "m-small"}}))
	cfg.Agent = AgentSetup{Mode: "auto", Model: "m-small", MCPServers: []acp.McpServer{
		{Stdio: &acp.McpServerStdio{Name: "fs", Command: "/bin/mcp-fs", Args: []string{}, Env: []acp.EnvVariable{}}}}}
	id := e.publish("@setup\nwork")
	e.runProxy(cfg)
	res, _ := e.result(id, 10*time.Second)
	const want = "echo: work (mode: auto, model: m-small, mcp: fs)"
	if res.Status.State != contract.StateCompleted || res.Artifacts[0].Parts[0].Text != want {
		t.Fatalf("result = %s %+v (%s), want completed with %q", res.Status.State, res.Artifacts, res.Metadata.Error, want)
	}
}

func TestChooseAuth(t *testing.T) {
	t.Parallel()
	env := func(names ...string) envLookup {
		return func(n string) bool {
			for _, x := range names {
				if x == n {
					return true
				}
			}
			return false
		}
	}
	for _, tc := range []struct {
		name       string
		methods    []acp.AuthMethod
		configured string
		has        envLookup
		want       string
		wantErr    string
	}{
		{"no methods", nil, "", env(), "", ""},
		{"first env_var method whose variables are set", codexAuth(), "", env("OPENAI_API_KEY"), "openai-api-key", ""},
		{"earlier method wins when both are set", codexAuth(), "", env("OPENAI_API_KEY", "CODEX_API_KEY"), "codex-api-key", ""},
		{"none satisfiable: session/new decides", codexAuth(), "", env(), "", ""},
		{"agent's environment unseen: session/new decides", codexAuth(), "", nil, "", ""},
		{"configured wins", codexAuth(), "chatgpt", env("OPENAI_API_KEY"), "chatgpt", ""},
		{"configured for a TCP agent", codexAuth(), "openai-api-key", nil, "openai-api-key", ""},
		{"none turns it off", codexAuth(), AuthNone, env("OPENAI_API_KEY"), "", ""},
		{"configured but not offered", codexAuth(), "gh", env(), "", `does not offer auth method "gh"`},
		{"configured but its variable is missing", codexAuth(), "codex-api-key", env("OPENAI_API_KEY"), "", "needs CODEX_API_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := chooseAuth(tc.methods, tc.configured, tc.has)
			if tc.wantErr != "" {
				var se *SetupError
				if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a SetupError saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("chooseAuth = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestCommandDialerSeesTheAgentsEnvironment(t *testing.T) {
	t.Parallel()
	d := CommandDialer{Env: []string{"OPENAI_API_KEY=sk-1", "EMPTY=", "PATH=/bin"}}
	var _ agentEnviron = d
	if !d.HasAgentEnv("OPENAI_API_KEY") || d.HasAgentEnv("EMPTY") || d.HasAgentEnv("CODEX_API_KEY") {
		t.Error("HasAgentEnv: want set and non-empty only")
	}
}
