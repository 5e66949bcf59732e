package proxy

import (
	"net"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/proxy/contract"
	"github.com/daedalus-dev/daedalus/proxy/refagent"
)

// SIGTERM mid-task: the Runner's context ending is what signal.NotifyContext does on SIGTERM;
// the binary-level path is exercised by the chaos test.

func TestShutdownAgentFinishesInsideDrain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	started := make(chan struct{}, 1)
	addr := startAgent(t, refagent.Options{OnPrompt: func(string, time.Time) { started <- struct{}{} }})
	id := e.publish("@ignore-cancel\n@sleep 800ms\nfinish me")
	p := e.runProxy(e.config(addr))
	<-started
	time.Sleep(200 * time.Millisecond)
	sigterm := time.Now()
	p.cancel()
	if err := p.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(sigterm); d > 3*time.Second {
		t.Errorf("shutdown took %s, more than the drain timeout", d)
	}
	res, _ := e.result(id, time.Second)
	if res.Status.State != contract.StateCompleted || res.Metadata.Attempt != 1 {
		t.Fatalf("result = %+v, want completed on attempt 1", res)
	}
	e.settled(2 * time.Second) // acked
}

func TestShutdownCancelledTurnIsRequeuedAndCompletedLater(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, prompt string
		drain        time.Duration
	}{
		// The agent honours session/cancel and answers stopReason cancelled at once.
		{"agent honours cancel", "@sleep 3s\nlong job", 3 * time.Second},
		// The agent ignores the cancel and outlasts the drain.
		{"agent too slow", "@ignore-cancel\n@sleep 3s\nlong job", 400 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			started := make(chan struct{}, 2)
			addr := startAgent(t, refagent.Options{OnPrompt: func(string, time.Time) { started <- struct{}{} }})
			id := e.publish(tc.prompt)
			cfg := e.config(addr)
			cfg.DrainTimeout = tc.drain
			cfg.GracePeriod = tc.drain + 3*time.Second
			p := e.runProxy(cfg)
			<-started
			time.Sleep(200 * time.Millisecond)
			sigterm := time.Now()
			p.cancel()
			if err := p.wait(t, cfg.GracePeriod); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(sigterm); d > cfg.GracePeriod {
				t.Errorf("shutdown took %s, beyond the %s grace", d, cfg.GracePeriod)
			}
			if n := e.count(contract.ResultsStream, contract.ResultSubject(id)); n != 0 {
				t.Fatalf("%d results after an interrupted turn, want none (requeued)", n)
			}
			// The nak makes the task available at once; a new Job completes it.
			e.runProxy(e.config(addr))
			res, _ := e.result(id, 15*time.Second)
			if res.Status.State != contract.StateCompleted || res.Metadata.Attempt != 2 {
				t.Fatalf("result = %+v, want completed on attempt 2", res)
			}
			e.settled(3 * time.Second)
		})
	}
}

func TestNATSRestartMidTask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := startAgent(t, refagent.Options{})
	id := e.publish("@chunks 4\n@sleep 2s\nsurvives a restart")
	cfg := e.config(addr)
	p := e.runProxy(cfg)
	time.Sleep(500 * time.Millisecond)
	tcpPort := e.srv.Addr().(*net.TCPAddr).Port
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	time.Sleep(700 * time.Millisecond)
	e.start(tcpPort)
	if err := p.wait(t, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	res, _ := e.result(id, 5*time.Second)
	if res.Status.State != contract.StateCompleted || res.Metadata.Attempt != 1 {
		t.Fatalf("result = %+v, want completed on the first attempt", res)
	}
	e.settled(5 * time.Second)
	if n := e.count(contract.ResultsStream, contract.ResultSubject(id)); n != 1 {
		t.Errorf("%d results, want 1", n)
	}
}
