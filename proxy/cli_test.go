package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/test/proctest"
	"github.com/daedalus-dev/daedalus/proxy/contract"
	"github.com/daedalus-dev/daedalus/proxy/refagent"
)

// Service mode through Main, as the Deployment runs it: /healthz, /metrics, loop, clean exit.
func TestMainServiceMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := startAgent(t, refagent.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	env := envOf(map[string]string{
		"NATS_URL": e.srv.ClientURL(), "DAEDALUS_WORKER": testWorker, "DAEDALUS_MODE": "service",
		"DAEDALUS_AGENT_ADDR": addr, "DAEDALUS_LISTEN": listen, "DAEDALUS_WORKSPACE": t.TempDir(),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Main(ctx, nil, env, io.Discard) }()

	get := func(path string) (int, string) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err := http.Get("http://" + listen + path)
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode, string(b)
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s: %v", path, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if code, body := get("/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	ids := []string{e.publish("one"), e.publish("two")}
	for _, id := range ids {
		if res, _ := e.result(id, 10*time.Second); res.Status.State != contract.StateCompleted {
			t.Fatalf("%s: %+v", id, res)
		}
	}
	e.settled(3 * time.Second)
	_, metrics := get("/metrics")
	for _, want := range []string{
		`daedalus_proxy_results_total{state="completed",worker="copilot"} 2`,
		`daedalus_proxy_deliveries_total{action="completed",worker="copilot"} 2`,
		`daedalus_proxy_dispatch_seconds_count{worker="copilot"} 2`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Main returned %v after shutdown, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("service-mode proxy did not exit after shutdown")
	}
}

func TestMainBootstrapIsIdempotentAndFixesHandMadeConsumer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A consumer made by hand with `nats consumer add` (max-deliver 3, default ack wait).
	cc := ConsumerConfig("claude", 30*time.Second, 3)
	cc.MaxDeliver, cc.Metadata = 3, nil
	if _, err := e.js.CreateOrUpdateConsumer(t.Context(), contract.TasksStream, cc); err != nil {
		t.Fatal(err)
	}
	env := envOf(map[string]string{"NATS_URL": e.srv.ClientURL(), "DAEDALUS_WORKERS": "copilot, claude", "DAEDALUS_ACK_WAIT": "45s"})
	for range 2 {
		if err := Main(t.Context(), []string{"bootstrap"}, env, io.Discard); err != nil {
			t.Fatalf("bootstrap: %v", err)
		}
	}
	for _, w := range []string{"copilot", "claude"} {
		c, err := e.js.Consumer(t.Context(), contract.TasksStream, w)
		if err != nil {
			t.Fatalf("consumer %s: %v", w, err)
		}
		ci := c.CachedInfo()
		if ci.Config.FilterSubject != "agent.tasks."+w || ci.Config.AckWait != 45*time.Second ||
			ci.Config.MaxDeliver != 5 || maxAttempts(ci) != 3 || ci.Config.Durable != w {
			t.Errorf("consumer %s = %+v", w, ci.Config)
		}
	}
	if err := Main(t.Context(), []string{"bootstrap", "--workers", "a.b"}, env, io.Discard); err == nil || !strings.Contains(err.Error(), "DAEDALUS_WORKERS") {
		t.Errorf("bad worker: err = %v", err)
	}
}

func TestMainRejectsBadConfigBeforeConnecting(t *testing.T) {
	t.Parallel()
	// NATS_URL points nowhere: a config error must be reported before any connection attempt.
	err := Main(t.Context(), []string{"--drain-timeout", "40s"}, envOf(map[string]string{
		"DAEDALUS_WORKER": "copilot", "NATS_URL": "nats://127.0.0.1:1",
	}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "DAEDALUS_DRAIN_TIMEOUT") || strings.Contains(err.Error(), "connecting") {
		t.Fatalf("err = %v, want the drain/grace error and no connection attempt", err)
	}
}

func TestStdioAgentCommand(t *testing.T) {
	t.Parallel()
	_, agentBin := binaries(t)
	e := newEnv(t)
	cfg := e.config("")
	cfg.AgentCommand = []string{agentBin, "--stdio"}
	id := e.publish("@tool\n@permission\nover stdio")
	if err := e.runProxy(cfg).wait(t, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	res, _ := e.result(id, time.Second)
	if res.Status.State != contract.StateCompleted || res.Artifacts[0].Parts[0].Text != "echo: over stdio (permission: yes)" {
		t.Fatalf("result = %+v", res)
	}
	// A spawned agent that dies mid-prompt is an infrastructure failure: redelivered.
	id = e.publish("@crash\nboom")
	e.runProxy(cfg).wait(t, 20*time.Second)
	e.runProxy(cfg).wait(t, 20*time.Second)
	ci, err := e.consumerInfo()
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumRedelivered == 0 && ci.Delivered.Consumer < 3 {
		t.Errorf("crashed stdio agent: task not redelivered (%+v)", ci)
	}
	if n := e.count(contract.ResultsStream, contract.ResultSubject(id)); n != 0 {
		t.Errorf("a crash on attempt 1-2 stored %d results, want 0 (retry)", n)
	}
}

// Every agent the proxy spawns has exited when Run returns: in service mode the session kept
// warm for the next task is closed and waited for on shutdown, not left to finish behind the
// returning proxy.
func TestServiceModeWaitsForItsWarmAgent(t *testing.T) {
	t.Parallel()
	_, agentBin := binaries(t)
	e := newEnv(t)
	marks := t.TempDir()
	cfg := e.config("")
	cfg.Mode = ModeService
	// Each agent notes its start, and its exit after a pause once its stdin has closed.
	cfg.AgentCommand = []string{"/bin/sh", "-c", `echo $$ >>"$0/started"; "$1" --stdio; sleep 0.3; echo $$ >>"$0/exited"`, marks, agentBin}
	p := e.runProxy(cfg)
	id := e.publish("hello")
	if res, _ := e.result(id, 20*time.Second); res.Status.State != contract.StateCompleted {
		t.Fatalf("result = %+v", res)
	}
	lines := func(name string) []string {
		b, _ := os.ReadFile(filepath.Join(marks, name))
		return strings.Fields(string(b))
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(lines("started")) < 2 { // the task's agent and the next task's warm one
		if time.Now().After(deadline) {
			t.Fatalf("started agents %q, want the task's and a warm one", lines("started"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.cancel()
	if err := p.wait(t, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	started, exited := lines("started"), lines("exited")
	slices.Sort(started)
	slices.Sort(exited)
	if !slices.Equal(started, exited) {
		t.Errorf("when Run returned, agents %q had started and only %q had exited", started, exited)
	}
}

// What an agent leaves running in its process group dies with it: a launcher's child or a
// tool's background job does not go on writing once the task is settled.
func TestAgentProcessGroupEndsWithTheAgent(t *testing.T) {
	t.Parallel()
	_, agentBin := binaries(t)
	e := newEnv(t)
	marks := t.TempDir()
	cfg := e.config("")
	cfg.AgentCommand = []string{"/bin/sh", "-c", `sleep 60 >/dev/null 2>&1 & echo $! >"$0/straggler"; exec "$1" --stdio`, marks, agentBin}
	id := e.publish("hello")
	if err := e.runProxy(cfg).wait(t, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if res, _ := e.result(id, time.Second); res.Status.State != contract.StateCompleted {
		t.Fatalf("result = %+v", res)
	}
	b, err := os.ReadFile(filepath.Join(marks, "straggler"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for proctest.Running(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the agent's background process %d still runs after the agent exited", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The pre-pull DaemonSet's commands: noop exits at once, pause waits for SIGTERM, and
// neither reads the environment or connects anywhere.
func TestMainNoopAndPause(t *testing.T) {
	t.Parallel()
	none := func(k string) string { t.Errorf("read %s from the environment", k); return "" }
	if err := Main(context.Background(), []string{"noop"}, none, io.Discard); err != nil {
		t.Fatalf("noop = %v, want nil", err)
	}
	for _, cmd := range []string{"noop", "pause"} {
		if err := Main(context.Background(), []string{cmd, "x"}, none, io.Discard); !errors.Is(err, ErrUsage) {
			t.Errorf("%s x = %v, want a usage error", cmd, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Main(ctx, []string{"pause"}, none, io.Discard) }()
	select {
	case err := <-done:
		t.Fatalf("pause returned %v before SIGTERM", err)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("pause = %v after SIGTERM, want nil", err)
	}
}
