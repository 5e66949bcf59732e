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

func TestChoosePermission(t *testing.T) {
	t.Parallel()
	opt := func(id string, k acp.PermissionOptionKind) acp.PermissionOption {
		return acp.PermissionOption{OptionId: acp.PermissionOptionId(id), Kind: k}
	}
	all := []acp.PermissionOption{
		opt("ra", acp.PermissionOptionKindRejectAlways), opt("aa", acp.PermissionOptionKindAllowAlways),
		opt("ro", acp.PermissionOptionKindRejectOnce), opt("ao", acp.PermissionOptionKindAllowOnce),
	}
	for _, tc := range []struct {
		policy string
		opts   []acp.PermissionOption
		want   string
	}{
		{PolicyAllow, all, "ao"},
		{PolicyReject, all, "ro"},
		{PolicyAllow, all[:2], "aa"},
		{PolicyReject, all[1:2], "aa"}, // nothing to reject with: the only option
		{PolicyAllow, []acp.PermissionOption{opt("x", "custom")}, "x"},
	} {
		got, ok := choosePermission(tc.policy, tc.opts)
		if !ok || string(got.OptionId) != tc.want {
			t.Errorf("%s over %v: chose %q, want %q", tc.policy, tc.opts, got.OptionId, tc.want)
		}
	}
	if _, ok := choosePermission(PolicyAllow, nil); ok {
		t.Error("chose an option from none")
	}
}
