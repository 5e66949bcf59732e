package proxy

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	acp "github.com/coder/acp-go-sdk"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseConfigDefaultsAndPrecedence(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig([]string{"--drain-timeout", "20s"}, envOf(map[string]string{
		"DAEDALUS_WORKER": "copilot", "DAEDALUS_DRAIN_TIMEOUT": "10s", "DAEDALUS_MODE": "service",
		"DAEDALUS_AGENT_CMD": "agent --acp  --stdio", "NATS_URL": "nats://nats:4222",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.DrainTimeout != 20*time.Second {
		t.Errorf("drain = %s: the flag must win over the variable", c.DrainTimeout)
	}
	if c.Mode != ModeService || c.Listen != ":8080" || c.GracePeriod != 35*time.Second || c.Workspace != "/workspace" {
		t.Errorf("config = %+v", c)
	}
	if strings.Join(c.AgentCommand, "|") != "agent|--acp|--stdio" {
		t.Errorf("agent command = %q", c.AgentCommand)
	}
	if c.Limits != DefaultLimits() || c.SettleTimeout != time.Minute || c.PermissionPolicy != PolicyAllow {
		t.Errorf("limits = %+v, settle timeout %s, policy %q: want the defaults", c.Limits, c.SettleTimeout, c.PermissionPolicy)
	}
	c, err = ParseConfig([]string{"--max-output", "1MiB"}, envOf(map[string]string{
		"DAEDALUS_WORKER": "copilot", "DAEDALUS_MAX_OUTPUT": "2MiB", "DAEDALUS_STATUS_BUFFER": "8KiB",
		"DAEDALUS_MAX_TOOL_CALLS": "50", "DAEDALUS_SETTLE_TIMEOUT": "5s", "DAEDALUS_PERMISSION_POLICY": "allowlist",
		"DAEDALUS_PERMISSION_ALLOWLIST": "read, search,title:Run npm test", "DAEDALUS_AGENT_ENV": "GITHUB_TOKEN,DAEDALUS_AGENT_MODEL",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Limits != (Limits{MaxOutput: 1 << 20, StatusBuffer: 8 << 10, MaxToolCalls: 50}) || c.SettleTimeout != 5*time.Second ||
		strings.Join(c.PermissionAllowlist, "|") != "read|search|title:Run npm test" ||
		strings.Join(c.AgentEnv, "|") != "GITHUB_TOKEN|DAEDALUS_AGENT_MODEL" {
		t.Errorf("config = %+v", c)
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	base := map[string]string{"DAEDALUS_WORKER": "copilot"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no worker", map[string]string{}, "DAEDALUS_WORKER"},
		{"worker with a dot", map[string]string{"DAEDALUS_WORKER": "a.b"}, "DAEDALUS_WORKER"},
		{"bad mode", map[string]string{"DAEDALUS_MODE": "batch"}, "DAEDALUS_MODE"},
		{"bad duration", map[string]string{"DAEDALUS_IDLE_TIMEOUT": "soon"}, "DAEDALUS_IDLE_TIMEOUT"},
		{"negative timeout", map[string]string{"DAEDALUS_TASK_TIMEOUT": "-1s"}, "DAEDALUS_TASK_TIMEOUT"},
		{"drain not below grace", map[string]string{"DAEDALUS_DRAIN_TIMEOUT": "34s"}, "below DAEDALUS_GRACE_PERIOD"},
		{"bad agent addr", map[string]string{"DAEDALUS_AGENT_ADDR": "agent"}, "DAEDALUS_AGENT_ADDR"},
		{"bad policy", map[string]string{"DAEDALUS_PERMISSION_POLICY": "ask"}, "DAEDALUS_PERMISSION_POLICY"},
		{"two credentials", map[string]string{"NATS_TOKEN": "t", "NATS_CREDS": "/c"}, "only one of"},
		{"user without password", map[string]string{"NATS_USER": "u"}, "NATS_PASSWORD"},
		{"bad log level", map[string]string{"DAEDALUS_LOG_LEVEL": "loud"}, "DAEDALUS_LOG_LEVEL"},
		{"bad size", map[string]string{"DAEDALUS_MAX_OUTPUT": "huge"}, "DAEDALUS_MAX_OUTPUT"},
		{"output limit too small", map[string]string{"DAEDALUS_MAX_OUTPUT": "1KiB"}, "DAEDALUS_MAX_OUTPUT"},
		{"status buffer too large", map[string]string{"DAEDALUS_STATUS_BUFFER": "1MiB"}, "DAEDALUS_STATUS_BUFFER"},
		{"no tool calls", map[string]string{"DAEDALUS_MAX_TOOL_CALLS": "0"}, "DAEDALUS_MAX_TOOL_CALLS"},
		{"no settle time", map[string]string{"DAEDALUS_SETTLE_TIMEOUT": "0s"}, "DAEDALUS_SETTLE_TIMEOUT"},
		{"allowlist policy without a list", map[string]string{"DAEDALUS_PERMISSION_POLICY": "allowlist"}, "DAEDALUS_PERMISSION_ALLOWLIST"},
		{"list without the allowlist policy", map[string]string{"DAEDALUS_PERMISSION_ALLOWLIST": "read"}, "DAEDALUS_PERMISSION_POLICY=allowlist"},
		{"bad allowlist entry", map[string]string{"DAEDALUS_PERMISSION_POLICY": "allowlist", "DAEDALUS_PERMISSION_ALLOWLIST": "everything"}, "neither a tool kind"},
		{"NATS variable for the agent", map[string]string{"DAEDALUS_AGENT_ENV": "PATH,NATS_TOKEN"}, "NATS_TOKEN is the proxy's NATS setting"},
		{"bad variable name for the agent", map[string]string{"DAEDALUS_AGENT_ENV": "A-B"}, "DAEDALUS_AGENT_ENV"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			if _, ok := tc.env["DAEDALUS_WORKER"]; !ok && tc.name != "no worker" {
				for k, v := range base {
					env[k] = v
				}
			}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := ParseConfig(nil, envOf(env), io.Discard)
			if err == nil {
				err = c.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestConfigLogValueRedactsSecrets(t *testing.T) {
	t.Parallel()
	c := Config{NATS: NATSConfig{URL: "nats://x", User: "u", Password: "hunter2-secret", Token: "tok-secret"}}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", c)
	if s := buf.String(); strings.Contains(s, "hunter2-secret") || strings.Contains(s, "tok-secret") || !strings.Contains(s, `"password":true`) {
		t.Errorf("logged config leaks a secret or lost the redaction marker: %s", s)
	}
}

func TestBootstrapConfigValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--workers", ""}, "DAEDALUS_WORKERS"},
		{[]string{"--workers", "a,b c"}, "worker"},
		{[]string{"--ack-wait", "10ms"}, "DAEDALUS_ACK_WAIT"},
		{[]string{"--max-attempts", "0"}, "DAEDALUS_MAX_ATTEMPTS"},
		{[]string{"--replicas", "2"}, "DAEDALUS_STREAM_REPLICAS"},
		{[]string{"--duplicate-window", "48h", "--result-max-age", "24h"}, "duplicate-window"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		c, err := ParseBootstrapConfig(tc.args, envOf(nil), io.Discard)
		if err == nil {
			err = c.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want one naming %q", tc.args, err, tc.want)
		}
	}
}

// The attack: with only allow_always offered, or an option of a kind ACP does not define, the
// reject policy picked it (allowing the tool call). Reject must never pick an allow option or
// an unknown one; with nothing to reject with, it answers cancelled.
func TestPermissionPolicyChoose(t *testing.T) {
	t.Parallel()
	opt := func(id string, k acp.PermissionOptionKind) acp.PermissionOption {
		return acp.PermissionOption{OptionId: acp.PermissionOptionId(id), Kind: k}
	}
	all := []acp.PermissionOption{
		opt("ra", acp.PermissionOptionKindRejectAlways), opt("aa", acp.PermissionOptionKindAllowAlways),
		opt("ro", acp.PermissionOptionKindRejectOnce), opt("ao", acp.PermissionOptionKindAllowOnce),
	}
	onlyAllowAlways := []acp.PermissionOption{opt("aa", acp.PermissionOptionKindAllowAlways)}
	unknown := []acp.PermissionOption{opt("x", "custom"), opt("aa", acp.PermissionOptionKindAllowAlways)}
	rules, err := ParseAllowRules([]string{"read", "title:Run npm *"})
	if err != nil {
		t.Fatal(err)
	}
	allow := PermissionPolicy{Mode: PolicyAllow}
	reject := PermissionPolicy{Mode: PolicyReject}
	list := PermissionPolicy{Mode: PolicyAllowlist, Allow: rules}
	for _, tc := range []struct {
		name        string
		p           PermissionPolicy
		kind, title string
		opts        []acp.PermissionOption
		want        string // "" = cancelled
	}{
		{"allow prefers allow_once", allow, "edit", "x", all, "ao"},
		{"allow takes allow_always", allow, "edit", "x", all[:2], "aa"},
		{"allow falls back to reject", allow, "edit", "x", all[:1], "ra"},
		{"allow never picks an unknown kind", allow, "edit", "x", unknown[:1], ""},
		{"reject prefers reject_once", reject, "edit", "x", all, "ro"},
		{"reject with only allow_always", reject, "edit", "x", onlyAllowAlways, ""},
		{"reject with an unknown kind", reject, "edit", "x", unknown, ""},
		{"allowlist: listed kind", list, "read", "Read a file", all, "ao"},
		{"allowlist: listed title", list, "execute", "Run npm test", all, "ao"},
		{"allowlist: other title", list, "execute", "Run curl evil.example", all, "ro"},
		{"allowlist: unlisted, only allow", list, "delete", "rm -rf /", onlyAllowAlways, ""},
	} {
		got := tc.p.choose(tc.kind, tc.title, tc.opts)
		id := ""
		if got != nil {
			id = string(got.OptionId)
		}
		if id != tc.want {
			t.Errorf("%s: chose %q, want %q", tc.name, id, tc.want)
		}
	}
	if got := allow.choose("read", "", nil); got != nil {
		t.Errorf("chose %q from no options", got.OptionId)
	}
}

func TestParseAllowRules(t *testing.T) {
	t.Parallel()
	if _, err := ParseAllowRules([]string{"read", "switch_mode", "title:Edit *.md"}); err != nil {
		t.Fatal(err)
	}
	_, err := ParseAllowRules([]string{"reed", "title:", "execute"})
	if err == nil || !strings.Contains(err.Error(), `"reed" is neither a tool kind`) || !strings.Contains(err.Error(), "empty title pattern") {
		t.Fatalf("err = %v, want both bad entries named", err)
	}
}
