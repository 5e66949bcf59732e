package proxy

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/daedalus-dev/daedalus/proxy/contract"
	"github.com/daedalus-dev/daedalus/proxy/refagent"
)

func TestHappyPathJobMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := startAgent(t, refagent.Options{})
	h := nats.Header{}
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	h.Set("traceparent", parent)
	id := "happy-1"
	e.publishRaw(envelope(id, "@chunks 3\nhello world"), h)

	p := e.runProxy(e.config(addr))
	if err := p.wait(t, 10*time.Second); err != nil {
		t.Fatalf("job-mode proxy returned %v, want nil after its one task", err)
	}
	res, raw := e.result(id, time.Second)
	if res.Status.State != contract.StateCompleted {
		t.Fatalf("state = %q (%s), want completed", res.Status.State, res.Metadata.Error)
	}
	if len(res.Artifacts) != 1 || res.Artifacts[0].Parts[0].Text != "echo: hello world" {
		t.Errorf("artifacts = %+v, want the agent's answer \"echo: hello world\"", res.Artifacts)
	}
	if res.Kind != "task" || res.ID != id || res.ContextID != "ctx-"+id || res.Metadata.Attempt != 1 || res.Metadata.StopReason != "end_turn" {
		t.Errorf("result = %+v", res)
	}
	if got := raw.Header.Get(nats.MsgIdHdr); got != id {
		t.Errorf("Nats-Msg-Id = %q, want the task id %q", got, id)
	}
	tp := raw.Header.Get("traceparent")
	if !strings.HasPrefix(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || tp == parent {
		t.Errorf("result traceparent = %q, want a child span of the task's trace", tp)
	}
	if tm := res.Metadata.Timings; tm == nil || tm.DispatchMs <= 0 || tm.TotalMs < tm.DispatchMs {
		t.Errorf("timings = %+v", tm)
	}
	e.settled(2 * time.Second)
	if n := e.count(contract.ResultsStream, contract.ResultSubject(id)); n != 1 {
		t.Errorf("%d results stored, want 1", n)
	}
}

func TestJobModeExitsWhenIdle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config(startAgent(t, refagent.Options{}))
	cfg.IdleTimeout = 300 * time.Millisecond
	start := time.Now()
	if err := e.runProxy(cfg).wait(t, 5*time.Second); err != nil {
		t.Fatalf("idle job-mode proxy returned %v, want nil", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("returned after %s, before the idle timeout", d)
	}
}

func TestMissingConsumerIsAClearError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config("127.0.0.1:1")
	cfg.Worker = "nobody"
	err := e.runProxy(cfg).wait(t, 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "proxy bootstrap --workers nobody") {
		t.Fatalf("err = %v, want one that says how to create the consumer", err)
	}
}

func TestStreamedStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.publish("@tool\n@chunks 20\n@sleep 1s\nstreamed answer")
	cfg := e.config(startAgent(t, refagent.Options{}))
	cfg.StatusInterval = 200 * time.Millisecond
	e.runProxy(cfg)
	res, _ := e.result(id, 10*time.Second)
	if res.Status.State != contract.StateCompleted || res.Metadata.ToolCalls != 1 {
		t.Fatalf("result = %+v", res)
	}
	evs := e.statuses(id)
	if len(evs) < 3 {
		t.Fatalf("%d status events, want a stream of them: %+v", len(evs), evs)
	}
	var text strings.Builder
	sawTool := false
	for i, ev := range evs {
		if ev.Kind != "status-update" || ev.TaskID != id {
			t.Errorf("event %d = %+v", i, ev)
		}
		last := i == len(evs)-1
		if ev.Final != last {
			t.Errorf("event %d final = %v, want only the last final", i, ev.Final)
		}
		if last {
			if ev.Status.State != contract.StateCompleted {
				t.Errorf("final event state = %q", ev.Status.State)
			}
			continue
		}
		if ev.Status.State != contract.StateWorking {
			t.Errorf("event %d state = %q, want working", i, ev.Status.State)
		}
		if i > 0 && ev.Status.Message != nil {
			text.WriteString(ev.Status.Message.Parts[0].Text)
		}
		if _, ok := ev.Metadata["toolCalls"]; ok {
			sawTool = true
		}
	}
	if text.String() != "echo: streamed answer" {
		t.Errorf("streamed text = %q, want the whole answer in order", text.String())
	}
	if !sawTool {
		t.Error("no status event carried the tool call")
	}
	// Throttled: 22 updates (two tool-call updates, 20 chunks, one every 50 ms) at a 200 ms
	// interval yield at most one event per interval of the stream's span, plus the first
	// working event and the final one; unthrottled they would be 24.
	span := evs[len(evs)-1].Status.Timestamp.Sub(evs[0].Status.Timestamp)
	if limit := int(span/cfg.StatusInterval) + 3; len(evs) > limit || len(evs) >= 22 {
		t.Errorf("%d events for 22 updates over %s: not throttled (limit %d)", len(evs), span, limit)
	}
}

func TestPermissionPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy, want string
	}{
		{PolicyAllow, "echo: edit it (permission: yes)"},
		{PolicyReject, "echo: edit it (permission: no)"},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := e.config(startAgent(t, refagent.Options{}))
			cfg.PermissionPolicy = tc.policy
			id := e.publish("@permission\nedit it")
			e.runProxy(cfg)
			res, _ := e.result(id, 10*time.Second)
			if res.Status.State != contract.StateCompleted || res.Artifacts[0].Parts[0].Text != tc.want {
				t.Fatalf("result = %+v, want completed with %q", res, tc.want)
			}
		})
	}
}

func TestAgentErrorIsFailedNotCompleted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.publish("@error -32000 model overloaded\nwork")
	e.runProxy(e.config(startAgent(t, refagent.Options{})))
	res, _ := e.result(id, 10*time.Second)
	if res.Status.State != contract.StateFailed {
		t.Fatalf("state = %q, want failed", res.Status.State)
	}
	if !strings.Contains(res.Metadata.Error, "-32000") || !strings.Contains(res.Metadata.Error, "model overloaded") {
		t.Errorf("error = %q, want the agent's JSON-RPC error", res.Metadata.Error)
	}
	ci := e.settled(3 * time.Second) // terminated: not redelivered
	if ci.Delivered.Consumer != 1 {
		t.Errorf("delivered %d times, want once", ci.Delivered.Consumer)
	}
}

func TestStopReasons(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ stop, state string }{
		{"refusal", contract.StateRejected}, {"max_tokens", contract.StateFailed}, {"max_turn_requests", contract.StateFailed}, {"cancelled", contract.StateCanceled},
	} {
		t.Run(tc.stop, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			id := e.publish("@stop " + tc.stop + "\nx")
			e.runProxy(e.config(startAgent(t, refagent.Options{})))
			if res, _ := e.result(id, 10*time.Second); res.Status.State != tc.state {
				t.Fatalf("stop %s: state = %q, want %q", tc.stop, res.Status.State, tc.state)
			}
			e.settled(3 * time.Second)
		})
	}
}

func TestMalformedTaskIsRejectedAndTerminated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, data string
		id         string // "" → answered under seq-<n>
		reason     string
	}{
		{"not json", `{"jsonrpc":`, "", "not a JSON object"},
		{"wrong method", `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{}}`, "", "message/send"},
		{"no id", `{"message":{"role":"user","parts":[{"kind":"text","text":"hi"}]}}`, "", "neither taskId nor messageId"},
		{"no text", `{"message":{"role":"user","messageId":"m-empty","parts":[{"kind":"file","file":{}}]}}`, "m-empty", "no text parts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.publishRaw([]byte(tc.data), nil)
			id := tc.id
			if id == "" {
				id = "seq-1"
			}
			e.runProxy(e.config("127.0.0.1:1")) // the agent is never needed
			res, _ := e.result(id, 10*time.Second)
			if res.Status.State != contract.StateRejected || !strings.Contains(res.Metadata.Error, tc.reason) {
				t.Fatalf("result = %+v, want rejected mentioning %q", res, tc.reason)
			}
			if ci := e.settled(3 * time.Second); ci.Delivered.Consumer != 1 {
				t.Errorf("delivered %d times, want once (terminated)", ci.Delivered.Consumer)
			}
		})
	}
}

func TestCrashingAgentRetriedThenOneFailedResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var prompts int
	addr := startAgent(t, refagent.Options{OnPrompt: func(string, time.Time) { prompts++ }})
	cfg := e.config(addr)
	cfg.Mode = ModeService
	id := e.publish("@crash\nnever finishes")
	e.runProxy(cfg)
	res, _ := e.result(id, 20*time.Second)
	if res.Status.State != contract.StateFailed || res.Metadata.Attempt != 3 || !strings.Contains(res.Metadata.Error, "crashed") {
		t.Fatalf("result = %+v, want failed on attempt 3 saying the agent crashed", res)
	}
	e.settled(5 * time.Second)
	if prompts != 3 {
		t.Errorf("agent prompted %d times, want 3 (max attempts)", prompts)
	}
	if n := e.count(contract.ResultsStream, contract.ResultSubject(id)); n != 1 {
		t.Errorf("%d results, want exactly 1", n)
	}
}

func TestAgentNeverComesUpRedeliveredThenFailed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ln := closedPort(t)
	cfg := e.config(ln)
	cfg.Mode = ModeService
	cfg.StartupTimeout = 300 * time.Millisecond
	id := e.publish("hello")
	e.runProxy(cfg)
	res, _ := e.result(id, 20*time.Second)
	if res.Status.State != contract.StateFailed || res.Metadata.Attempt != 3 || !strings.Contains(res.Metadata.Error, "did not come up") {
		t.Fatalf("result = %+v, want failed on attempt 3 saying the agent did not come up", res)
	}
	e.settled(5 * time.Second)
}

func TestDeliveryPastMaxAttemptsAnswersWithoutRunning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A proxy killed on its last attempt leaves the task unsettled; the next delivery (4th)
	// must answer it, not run it again. Simulate three lost attempts by fetching without acking.
	id := e.publish("hello")
	cons, err := e.js.Consumer(t.Context(), contract.TasksStream, testWorker)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range b.Messages() {
			if err := m.Nak(); err != nil {
				t.Fatal(err)
			}
		}
	}
	var prompts int
	e.runProxy(e.config(startAgent(t, refagent.Options{OnPrompt: func(string, time.Time) { prompts++ }})))
	res, _ := e.result(id, 10*time.Second)
	if res.Status.State != contract.StateFailed || res.Metadata.Attempt != 4 || !strings.Contains(res.Metadata.Error, "no answer after 3 attempts") {
		t.Fatalf("result = %+v", res)
	}
	if prompts != 0 {
		t.Errorf("agent prompted %d times on the delivery past the limit", prompts)
	}
	e.settled(3 * time.Second)
}

func TestRedeliveryOfAnsweredTaskIsAckedNotRerun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var prompts atomic.Int32
	addr := startAgent(t, refagent.Options{OnPrompt: func(string, time.Time) { prompts.Add(1) }})
	id := e.publish("once only")
	// An earlier delivery stored the result, then its ack was lost (the proxy died): take the
	// delivery, store a result for it, and hand it back unacked.
	cons, err := e.js.Consumer(t.Context(), contract.TasksStream, testWorker)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range b.Messages() {
		stored := &nats.Msg{Subject: contract.ResultSubject(id), Data: []byte(`{"kind":"task","id":"` + id + `","status":{"state":"completed"}}`)}
		if err := publishRetrying(t.Context(), e.js, stored, id); err != nil {
			t.Fatal(err)
		}
		if err := m.Nak(); err != nil {
			t.Fatal(err)
		}
	}
	e.runProxy(e.config(addr)).wait(t, 10*time.Second)
	if ci := e.settled(3 * time.Second); ci.Delivered.Consumer != 2 {
		t.Errorf("delivered %d times, want 2", ci.Delivered.Consumer)
	}
	if n := prompts.Load(); n != 0 {
		t.Errorf("agent prompted %d times for a task already answered", n)
	}
	if n := e.count(contract.ResultsStream, contract.ResultSubject(id)); n != 1 {
		t.Errorf("%d results, want 1", n)
	}
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there afterwards
	return addr
}

// A task that runs for longer than the ack wait (2 s here) must not be redelivered to a second
// proxy while the first still works on it: the heartbeats (InProgress) keep it.
func TestHeartbeatsKeepALongTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var prompts atomic.Int32
	addr := startAgent(t, refagent.Options{OnPrompt: func(string, time.Time) { prompts.Add(1) }})
	id := e.publish("@chunks 5\n@sleep 5s\nlonger than the ack wait")
	first := e.config(addr)
	e.runProxy(first)
	time.Sleep(300 * time.Millisecond)
	second := e.config(addr) // waits with an open pull the whole time
	second.Mode = ModeService
	e.runProxy(second)
	res, _ := e.result(id, 15*time.Second)
	if res.Status.State != contract.StateCompleted || res.Metadata.Attempt != 1 {
		t.Fatalf("result = %+v, want completed on attempt 1", res)
	}
	if ci := e.settled(3 * time.Second); ci.Delivered.Consumer != 1 {
		t.Errorf("delivered %d times, want once", ci.Delivered.Consumer)
	}
	if n := prompts.Load(); n != 1 {
		t.Errorf("agent prompted %d times, want 1", n)
	}
}

// An idle proxy's open pull ends on SIGTERM: Run returns long before the pull's own wait
// (fetchWait, 5 s) would have run out. Scale-down and back-to-zero wait on this.
func TestIdleProxyStopsAtOnceOnShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config(startAgent(t, refagent.Options{}))
	cfg.Mode = ModeService
	p := e.runProxy(cfg)
	time.Sleep(500 * time.Millisecond) // the pull is open
	p.cancel()
	if err := p.wait(t, fetchWait/2); err != nil {
		t.Fatalf("Run returned %v after shutdown, want nil", err)
	}
}

func TestDialBackoffCap(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]time.Duration{
		"127.0.0.1:3000": 50 * time.Millisecond, "[::1]:3000": 50 * time.Millisecond, "localhost:3000": 50 * time.Millisecond,
		"agent.example:3000": time.Second, "10.0.0.7:3000": time.Second, "no-port": time.Second,
	} {
		if got := dialBackoffCap(addr); got != want {
			t.Errorf("dialBackoffCap(%q) = %s, want %s", addr, got, want)
		}
	}
}
