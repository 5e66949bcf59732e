package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	acp "github.com/coder/acp-go-sdk"
	"github.com/daedalus-dev/daedalus/proxy/contract"
	"github.com/nats-io/nats.go/jetstream"
)

// Runner takes tasks from a worker's durable consumer and drives the agent through each one.
type Runner struct {
	cfg     Config
	js      jetstream.JetStream
	dialer  Dialer
	log     *slog.Logger
	metrics *Metrics
	perms   PermissionPolicy

	// Read from the consumer when Run starts.
	attempts  int
	heartbeat time.Duration
	results   jetstream.Stream

	agents sync.WaitGroup // warm sessions being discarded; Run waits for them
}

// NewRunner returns a Runner for a validated Config.
func NewRunner(cfg Config, js jetstream.JetStream, d Dialer, log *slog.Logger) *Runner {
	rules, _ := ParseAllowRules(cfg.PermissionAllowlist) // checked by Validate
	return &Runner{cfg: cfg, js: js, dialer: d, log: log, metrics: NewMetrics(cfg.Worker),
		perms: PermissionPolicy{Mode: cfg.PermissionPolicy, Allow: rules, MaxTools: cfg.Limits.MaxToolCalls}}
}

// Metrics returns the runner's metrics.
func (r *Runner) Metrics() *Metrics { return r.metrics }

// fetchWait bounds one pull request, so that the idle timeout and the warm session's health
// are looked at regularly; shutdown ends a pull at once.
const fetchWait = 5 * time.Second

// Run takes tasks until ctx ends (shutdown: SIGTERM) or, in job mode, until one task has been
// handled or none arrived within the idle timeout. When ctx ends mid-task, the task is drained
// (see execute) and settled before Run returns, inside the grace period. Run returns an error
// only when it cannot start: the consumer is missing or NATS is unreachable.
func (r *Runner) Run(ctx context.Context) error {
	cons, err := r.js.Consumer(ctx, contract.TasksStream, r.cfg.Worker)
	if err != nil {
		return fmt.Errorf("consumer %q on stream %s: %w (create it with `proxy bootstrap --workers %s`)",
			r.cfg.Worker, contract.TasksStream, err, r.cfg.Worker)
	}
	ci := cons.CachedInfo()
	r.attempts = maxAttempts(ci)
	r.heartbeat = max(ci.Config.AckWait/3, 100*time.Millisecond)
	if r.results, err = r.js.Stream(ctx, contract.ResultsStream); err != nil {
		return fmt.Errorf("stream %s: %w (create it with `proxy bootstrap`)", contract.ResultsStream, err)
	}
	r.log.Info("taking tasks", "consumer", r.cfg.Worker, "subject", ci.Config.FilterSubject,
		"mode", r.cfg.Mode, "agent", r.dialer.String(), "ack_wait", ci.Config.AckWait,
		"heartbeat", r.heartbeat, "max_attempts", r.attempts)

	idleSince := time.Now()
	var warm *warmSession
	defer r.agents.Wait() // after the discard below: no agent outlives Run
	defer func() {
		if warm != nil {
			warm.discard(&r.agents)
		}
	}()
	for ctx.Err() == nil {
		if warm == nil || warm.failed() {
			warm = r.prewarm(ctx)
		}
		wait := fetchWait
		if r.cfg.Mode == ModeJob {
			left := r.cfg.IdleTimeout - time.Since(idleSince)
			if left <= 0 {
				r.log.Info("no task arrived within the idle timeout; exiting", "idle_timeout", r.cfg.IdleTimeout)
				return nil
			}
			wait = min(wait, left)
		}
		// The pull ends with the wait or at once on shutdown: an idle proxy exits on SIGTERM
		// without sitting out its open pull request.
		fctx, endFetch := context.WithTimeout(ctx, wait)
		batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			endFetch()
			r.log.Warn("fetching a task", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		got := false
		for msg := range batch.Messages() {
			got = true
			if ctx.Err() != nil {
				// Shutdown began while the pull was open: hand the task straight back.
				r.nak(msg, 0, "proxy shutting down before starting it", r.log)
				continue
			}
			r.handle(ctx, msg, warm)
			warm = nil
		}
		endFetch()
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) &&
			!errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			r.log.Warn("fetching a task", "err", err)
		}
		if got {
			if r.cfg.Mode == ModeJob {
				return nil
			}
			idleSince = time.Now()
		}
	}
	r.log.Info("shut down: taking no more tasks")
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// delivery is one delivery of a task message.
type delivery struct {
	msg       jetstream.Msg
	attempt   int
	seq       uint64
	published time.Time
	received  time.Time
	trace     traceContext
}

// outcome is how one run of the agent ended.
type outcome struct {
	state      string // a final A2A state; empty with retry or requeue
	retry      bool   // infrastructure failure: run again on another delivery, if attempts remain
	requeue    bool   // interrupted by shutdown: hand back for redelivery now
	duplicate  bool   // the task's result is already stored: ack, do not run
	reason     string
	stopReason acp.StopReason
	answer     []byte // the agent's answer, at most Limits.MaxOutput bytes
	dropped    int64  // bytes of the answer past Limits.MaxOutput
	toolCalls  int
	promptAt   time.Time
	answeredAt time.Time
	agent      string // the agent's name and version, from initialize
	authMethod string // the ACP auth method the session authenticated with
}

// handle settles one delivery: exactly one of publish-then-ack, publish-then-term, or nak.
// warm is a session opened ahead of the task, or nil; handle owns it.
func (r *Runner) handle(ctx context.Context, msg jetstream.Msg, warm *warmSession) {
	d := delivery{msg: msg, attempt: 1, received: time.Now(), trace: newTraceContext(msg.Headers())}
	used := false
	defer func() {
		if warm != nil && !used {
			warm.discard(&r.agents)
		}
	}()
	d.published = d.received
	if md, err := msg.Metadata(); err == nil {
		d.attempt, d.seq, d.published = int(md.NumDelivered), md.Sequence.Stream, md.Timestamp
	}
	log := r.log.With("seq", d.seq, "attempt", d.attempt, "trace_id", d.trace.TraceID)
	r.metrics.inFlight.Inc()
	defer r.metrics.inFlight.Dec()
	stopHeartbeat := r.startHeartbeat(msg, log)
	defer stopHeartbeat()

	// Settling outlives shutdown, but only until the grace period is nearly over.
	sctx, cancel := r.settleContext(ctx)
	defer cancel()

	task, err := contract.DecodeTask(msg.Data())
	if err != nil {
		var rej *contract.RejectError
		errors.As(err, &rej)
		task = contract.Task{ID: rej.TaskID}
		if task.ID == "" {
			task.ID = fmt.Sprintf("seq-%d", d.seq)
		}
		log.Warn("task rejected", "task_id", task.ID, "reason", rej.Reason)
		r.settle(sctx, d, task, outcome{state: contract.StateRejected, reason: rej.Reason}, log)
		return
	}
	log = log.With("task_id", task.ID)
	if d.attempt > r.attempts {
		r.settle(sctx, d, task, outcome{state: contract.StateFailed, reason: fmt.Sprintf(
			"no answer after %d attempts: the last attempt ended without settling the task (its proxy was killed or lost NATS)",
			r.attempts)}, log)
		return
	}
	log.Info("task received", "queued", d.received.Sub(d.published))
	used = true
	out := r.execute(ctx, sctx, task, d, warm, log)
	if out.duplicate {
		log.Info("result already stored by an earlier delivery; acking without running the agent")
		r.ack(sctx, d, "duplicate", log)
		return
	}
	switch {
	case out.requeue:
		r.nak(msg, 0, out.reason, log)
	case out.retry && d.attempt < r.attempts:
		r.nak(msg, retryDelay(d.attempt), out.reason, log)
	default:
		if out.retry {
			out.state = contract.StateFailed
			out.reason = fmt.Sprintf("attempt %d of %d failed: %s", d.attempt, r.attempts, out.reason)
		}
		r.settle(sctx, d, task, out, log)
	}
}

// retryDelay is the nak delay before attempt n+1: 500 ms doubling, at most 15 s.
func retryDelay(attempt int) time.Duration {
	return min(500*time.Millisecond<<min(attempt-1, 5), 15*time.Second)
}

// settleContext lives until ctx ends plus the grace period less a safety second, so the
// proxy settles its task and exits before the kubelet's SIGKILL.
func (r *Runner) settleContext(ctx context.Context) (context.Context, context.CancelFunc) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(r.cfg.GracePeriod-time.Second, cancel)
		context.AfterFunc(sctx, func() { t.Stop() })
	})
	return sctx, func() { stop(); cancel() }
}

func (r *Runner) startHeartbeat(msg jetstream.Msg, log *slog.Logger) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(r.heartbeat)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					log.Warn("heartbeat (in progress) not sent", "err", err)
				}
			}
		}
	}()
	return func() { close(stop); wg.Wait() }
}

// resultStored reports whether AGENT_RESULTS already holds this task's result, so a task
// redelivered after its result was stored (and its ack lost) is acked, not run again.
func (r *Runner) resultStored(ctx context.Context, taskID string) bool {
	_, err := r.results.GetLastMsgForSubject(ctx, contract.ResultSubject(taskID))
	return err == nil
}

// execute runs the task on the agent. ctx ending means shutdown: the turn is cancelled with
// session/cancel and given the drain timeout to end; a turn that completes in that time is
// published, any other is requeued.
func (r *Runner) execute(ctx, sctx context.Context, task contract.Task, d delivery, warm *warmSession, log *slog.Logger) outcome {
	meta := map[string]any{"worker": r.cfg.Worker, "attempt": d.attempt}
	status := newStatusPublisher(r.js, task, d.trace, r.cfg.StatusInterval, r.cfg.Limits, meta, log)
	// The answer and the tool calls are kept up to their limits: a flood costs the proxy no
	// more than Limits allow, and the result says what was dropped.
	var mu sync.Mutex
	answer := cappedText{limit: r.cfg.Limits.MaxOutput}
	tools := map[string]bool{}
	untracked := 0 // tool calls announced past MaxToolCalls
	onUpdate := func(u Update) {
		mu.Lock()
		answer.write(u.Text)
		if u.Tool != nil {
			if id := clip(u.Tool.ID, maxToolFieldBytes); !tools[id] {
				if len(tools) < r.cfg.Limits.MaxToolCalls {
					tools[id] = true
				} else if u.Tool.Started {
					untracked++
				}
			}
		}
		mu.Unlock()
		status.add(u)
	}
	defer status.close(sctx)
	var sess *session
	collect := func(o outcome) outcome {
		mu.Lock()
		defer mu.Unlock()
		// Taken, not copied: the answer is the largest thing a task holds.
		o.answer, o.dropped, o.toolCalls = answer.take(), answer.dropped, len(tools)+untracked
		if o.dropped > 0 {
			log.Warn("the agent's answer exceeded the output limit; the rest was dropped",
				"max_output", r.cfg.Limits.MaxOutput, "dropped_bytes", o.dropped)
		}
		o.agent, o.authMethod = sess.agentName, sess.authMethod
		return o
	}

	// On a redelivery, whether an earlier delivery already stored the result (and lost its
	// ack) is asked while the agent starts, and answered before it is prompted. A first
	// delivery cannot have one: a task published twice is deduplicated at publish time by its
	// Nats-Msg-Id, and a result stored twice by the results stream's.
	stored := make(chan bool, 1)
	go func() {
		dup := d.attempt > 1 && r.resultStored(sctx, task.ID)
		if !dup {
			status.start(sctx, fmt.Sprintf("attempt %d of %d: starting the agent", d.attempt, r.attempts))
		}
		stored <- dup
	}()
	sess, err := r.session(ctx, warm, d.received)
	if <-stored {
		if err == nil {
			sess.close()
		}
		return outcome{duplicate: true}
	}
	if err != nil {
		var se *SetupError
		switch {
		case errors.As(err, &se):
			log.Warn("the agent refused the session set-up", "err", err)
			return outcome{state: contract.StateFailed, reason: "setting up the agent session: " + err.Error()}
		case ctx.Err() != nil:
			return outcome{requeue: true, reason: "proxy shut down while the agent was starting"}
		}
		return outcome{retry: true, reason: "starting the agent: " + err.Error()}
	}
	defer sess.close()
	sess.setOnUpdate(onUpdate)

	type answerT struct {
		stop acp.StopReason
		err  error
	}
	promptCtx, cancelPrompt := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelPrompt()
	answered := make(chan answerT, 1)
	promptAt := time.Now()
	r.metrics.dispatch.Observe(promptAt.Sub(d.published).Seconds())
	go func() {
		stop, err := sess.prompt(promptCtx, task.Prompt, d.trace.meta())
		answered <- answerT{stop, err}
	}()
	await := func(limit time.Duration) (answerT, bool) {
		t := time.NewTimer(limit)
		defer t.Stop()
		select {
		case a := <-answered:
			return a, true
		case <-t.C:
			cancelPrompt()
			return answerT{}, false
		}
	}

	timeout := time.NewTimer(r.cfg.TaskTimeout)
	defer timeout.Stop()
	var a answerT
	select {
	case a = <-answered:
	case <-ctx.Done():
		log.Info("shutting down: cancelling the turn", "drain_timeout", r.cfg.DrainTimeout)
		sess.cancel()
		var ok bool
		if a, ok = await(r.cfg.DrainTimeout); !ok {
			return collect(outcome{requeue: true, reason: "proxy shut down and the agent did not finish within the drain timeout"})
		}
		out := classify(a.stop, a.err)
		if out.state != contract.StateCompleted {
			return collect(outcome{requeue: true, reason: "proxy shut down; the agent stopped with " + describe(a.stop, a.err)})
		}
		log.Info("the agent finished inside the drain")
		out.promptAt, out.answeredAt = promptAt, time.Now()
		return collect(out)
	case <-timeout.C:
		log.Warn("task timeout: cancelling the turn", "task_timeout", r.cfg.TaskTimeout)
		sess.cancel()
		await(min(r.cfg.DrainTimeout, 10*time.Second))
		return collect(outcome{state: contract.StateFailed, reason: fmt.Sprintf("the agent did not finish within the task timeout (%s)", r.cfg.TaskTimeout),
			promptAt: promptAt, answeredAt: time.Now()})
	}
	out := classify(a.stop, a.err)
	out.promptAt, out.answeredAt = promptAt, time.Now()
	return collect(out)
}

// classify maps the end of a prompt turn to an outcome. A JSON-RPC error from the agent is a
// final failure; a dropped connection is an infrastructure failure, retried.
func classify(stop acp.StopReason, err error) outcome {
	if err != nil {
		if errors.Is(err, errAgentGone) {
			return outcome{retry: true, reason: "the agent crashed or exited mid-prompt: " + err.Error()}
		}
		var re *acp.RequestError
		if errors.As(err, &re) {
			return outcome{state: contract.StateFailed, reason: fmt.Sprintf("the agent answered session/prompt with JSON-RPC error %d: %s", re.Code, re.Message)}
		}
		return outcome{retry: true, reason: "session/prompt: " + err.Error()}
	}
	o := outcome{stopReason: stop}
	switch stop {
	case acp.StopReasonEndTurn:
		o.state = contract.StateCompleted
	case acp.StopReasonRefusal:
		o.state, o.reason = contract.StateRejected, "the agent refused the task"
	case acp.StopReasonCancelled:
		o.state, o.reason = contract.StateCanceled, "the agent cancelled the turn"
	case acp.StopReasonMaxTokens, acp.StopReasonMaxTurnRequests:
		o.state, o.reason = contract.StateFailed, "the agent stopped early: "+string(stop)
	default:
		o.state, o.reason = contract.StateFailed, fmt.Sprintf("the agent ended the turn with unknown stop reason %q", stop)
	}
	return o
}

func describe(stop acp.StopReason, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return "stop reason " + string(stop)
}
