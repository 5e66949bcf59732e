package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/daedalus-dev/daedalus/internal/test/embednats"
	"github.com/daedalus-dev/daedalus/proxy/contract"
	"github.com/daedalus-dev/daedalus/proxy/refagent"
)

// The tests run against a real nats-server with JetStream, embedded, and the reference ACP
// agent speaking real ACP over loopback TCP (or stdio of the refagent binary).

const testWorker = "copilot"

type env struct {
	t   testing.TB
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	dir string
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() && os.Getenv("DAEDALUS_TEST_LOGS") != "" {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testBootstrap is the bootstrap the tests use: short ack wait so lost deliveries come back fast.
func testBootstrap() BootstrapConfig {
	return BootstrapConfig{
		Workers: []string{testWorker}, AckWait: 2 * time.Second, MaxAttempts: 3, Replicas: 1,
		TaskMaxAge: time.Hour, ResultMaxAge: time.Hour, StatusMaxAge: time.Hour, DuplicateWindow: time.Hour,
	}
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	e.start(0)
	if err := Bootstrap(t.Context(), e.js, testBootstrap(), testLogger(t)); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	return e
}

// start (re)starts the server on port (0: any) with the env's store directory, and connects.
func (e *env) start(port int) {
	e.t.Helper()
	srv := embednats.Run(e.t, embednats.Options{StoreDir: e.dir, Port: port})
	e.srv = srv
	if e.nc == nil {
		// Reconnecting as the proxy does, so the test's view survives a server restart.
		e.nc, e.js = embednats.Connect(e.t, srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	}
}

// agent starts the reference agent on loopback TCP and returns its address.
func startAgent(t testing.TB, opts refagent.Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = refagent.ListenAndServe(ctx, ln, false, opts)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// config is a proxy config for tests: job mode against addr, short timeouts.
func (e *env) config(addr string) Config {
	return Config{
		NATS: NATSConfig{URL: e.srv.ClientURL()}, Worker: testWorker, Mode: ModeJob,
		AgentAddr: addr, StartupTimeout: 5 * time.Second, IdleTimeout: 20 * time.Second,
		TaskTimeout: time.Minute, DrainTimeout: 3 * time.Second, GracePeriod: 6 * time.Second,
		PermissionPolicy: PolicyAllow, Workspace: e.dir, StatusInterval: 50 * time.Millisecond,
		SettleTimeout: 10 * time.Second, Limits: DefaultLimits(),
	}
}

// proxyRun is one running Runner.
type proxyRun struct {
	runner *Runner
	cancel context.CancelFunc // SIGTERM
	done   chan struct{}
	err    error
}

func (e *env) runProxy(cfg Config) *proxyRun {
	e.t.Helper()
	if err := cfg.Validate(); err != nil {
		e.t.Fatalf("test config invalid: %v", err)
	}
	var d Dialer = TCPDialer{Addr: cfg.AgentAddr}
	if len(cfg.AgentCommand) > 0 {
		d = CommandDialer{Args: cfg.AgentCommand, Stderr: io.Discard}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &proxyRun{runner: NewRunner(cfg, e.js, d, testLogger(e.t)), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = p.runner.Run(ctx)
	}()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-p.done:
		case <-time.After(cfg.GracePeriod + 5*time.Second):
			e.t.Errorf("proxy did not return within its grace period after shutdown")
		}
	})
	return p
}

// wait waits for Run to return and returns its error.
func (p *proxyRun) wait(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(limit):
		t.Fatalf("proxy still running after %s", limit)
		return nil
	}
}

var taskSeq atomic.Int64

// publish publishes a task the way smoke and demo do: a JSON-RPC 2.0 message/send
// envelope on agent.tasks.<worker>. It returns the task id.
func (e *env) publish(prompt string) string {
	e.t.Helper()
	id := fmt.Sprintf("task-%d-%d", time.Now().UnixNano(), taskSeq.Add(1))
	e.publishRaw(envelope(id, prompt), nil)
	return id
}

func envelope(id, prompt string) []byte { return contract.NewRequest(id, "ctx-"+id, prompt) }

func (e *env) publishRaw(data []byte, h nats.Header) {
	e.t.Helper()
	if _, err := e.js.PublishMsg(e.t.Context(), &nats.Msg{Subject: contract.TaskSubject(testWorker), Data: data, Header: h}); err != nil {
		e.t.Fatalf("publishing task: %v", err)
	}
}

// result waits for the task's final result and returns it with its raw message.
func (e *env) result(id string, limit time.Duration) (contract.Result, *jetstream.RawStreamMsg) {
	e.t.Helper()
	s, err := e.js.Stream(e.t.Context(), contract.ResultsStream)
	if err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(limit)
	for {
		m, err := s.GetLastMsgForSubject(e.t.Context(), contract.ResultSubject(id))
		if err == nil {
			var r contract.Result
			if err := json.Unmarshal(m.Data, &r); err != nil {
				e.t.Fatalf("result is not an A2A Task: %v\n%s", err, m.Data)
			}
			return r, m
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no result for %s within %s (last read: %v)", id, limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// count returns how many messages a stream holds on subject.
func (e *env) count(stream, subject string) uint64 {
	e.t.Helper()
	s, err := e.js.Stream(e.t.Context(), stream)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := s.Info(e.t.Context(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		e.t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// statuses returns the task's status events in order.
func (e *env) statuses(id string) []contract.StatusEvent {
	e.t.Helper()
	c, err := e.js.OrderedConsumer(e.t.Context(), contract.StatusStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{contract.StatusSubject(id)}})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []contract.StatusEvent
	for {
		b, err := c.Fetch(100, jetstream.FetchMaxWait(300*time.Millisecond))
		if err != nil {
			e.t.Fatal(err)
		}
		n := 0
		for m := range b.Messages() {
			n++
			var ev contract.StatusEvent
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				e.t.Fatalf("status event: %v", err)
			}
			out = append(out, ev)
		}
		if n == 0 {
			return out
		}
	}
}

// settled waits until the worker's consumer has nothing pending or unacknowledged: every
// task was acked or terminated.
func (e *env) settled(limit time.Duration) *jetstream.ConsumerInfo {
	e.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ci, err := e.consumerInfo()
		if err == nil && ci.NumPending == 0 && ci.NumAckPending == 0 && ci.NumRedelivered == 0 {
			return ci
		}
		if time.Now().After(deadline) {
			if err != nil {
				e.t.Fatalf("consumer not settled after %s: %v", limit, err)
			}
			e.t.Fatalf("consumer not settled after %s: pending %d, ack pending %d, redelivered %d",
				limit, ci.NumPending, ci.NumAckPending, ci.NumRedelivered)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) consumerInfo() (*jetstream.ConsumerInfo, error) {
	c, err := e.js.Consumer(e.t.Context(), contract.TasksStream, testWorker)
	if err != nil {
		return nil, err
	}
	return c.Info(e.t.Context())
}
