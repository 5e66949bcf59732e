package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// settle publishes the task's final result and then acks (completed) or terminates (every
// other final state) the delivery. A result that cannot be stored before ctx ends is never
// acked: the delivery is nak'd and a later one answers.
func (r *Runner) settle(ctx context.Context, d delivery, task Task, out outcome, log *slog.Logger) {
	res := r.buildResult(d, task, out)
	data, err := json.Marshal(res)
	if err != nil { // the Result type always encodes; this guards against future fields
		log.Error("encoding result", "err", err)
		r.nak(d.msg, 0, "result could not be encoded", log)
		return
	}
	msg := &nats.Msg{Subject: ResultSubject(task.ID), Data: data, Header: d.trace.header()}
	if err := publishRetrying(ctx, r.js, msg, task.ID); err != nil {
		log.Error("result not stored; handing the task back", "state", out.state, "err", err)
		r.nak(d.msg, 0, "result not stored", log)
		return
	}
	r.metrics.outcomes.WithLabelValues(out.state).Inc()
	log.Info("result stored", "state", out.state, "reason", out.reason, "stop_reason", out.stopReason,
		"total", time.Since(d.published))
	if out.state == StateCompleted {
		r.ack(ctx, d, "completed", log)
	} else {
		if err := d.msg.TermWithReason(out.state + ": " + out.reason); err != nil {
			log.Error("terminating the delivery", "err", err)
		}
		r.metrics.tasks.WithLabelValues("term").Inc()
		r.metrics.duration.WithLabelValues("term").Observe(time.Since(d.received).Seconds())
	}
	if task.Message != nil { // the closing event of the task's status stream
		st := newStatusPublisher(r.js, task, d.trace, r.cfg.StatusInterval, nil, log)
		st.final(ctx, out.state, out.reason)
	}
}

// ack acks and waits for the server to confirm, retrying until ctx ends. An ack that is lost
// anyway only causes a redelivery, which finds the stored result and acks again.
func (r *Runner) ack(ctx context.Context, d delivery, action string, log *slog.Logger) {
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := d.msg.DoubleAck(actx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			log.Error("ack not confirmed; the task will be redelivered and acked then", "err", err)
			break
		}
		log.Warn("ack not confirmed; retrying", "err", err)
		sleep(ctx, 250*time.Millisecond)
	}
	r.metrics.tasks.WithLabelValues(action).Inc()
	r.metrics.duration.WithLabelValues(action).Observe(time.Since(d.received).Seconds())
}

// nak hands the delivery back for redelivery after delay.
func (r *Runner) nak(msg jetstream.Msg, delay time.Duration, reason string, log *slog.Logger) {
	var err error
	if delay > 0 {
		err = msg.NakWithDelay(delay)
	} else {
		err = msg.Nak()
	}
	if err != nil {
		log.Error("nak not sent; the task is redelivered after the ack wait", "err", err)
	} else {
		log.Info("task handed back for redelivery", "reason", reason, "delay", delay)
	}
	r.metrics.tasks.WithLabelValues("nak").Inc()
}

// publishRetrying stores msg in AGENT_RESULTS with Nats-Msg-Id = taskID, retrying through
// NATS outages until ctx ends. The message id makes a retried or repeated publish a no-op.
func publishRetrying(ctx context.Context, js jetstream.JetStream, msg *nats.Msg, taskID string) error {
	wait := 100 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := js.PublishMsg(pctx, msg, jetstream.WithMsgID(taskID), jetstream.WithExpectStream(ResultsStream))
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("publishing result %s: %w", taskID, err)
		}
		sleep(ctx, wait)
		wait = min(wait*2, 2*time.Second)
	}
}

// buildResult is the final A2A Task.
func (r *Runner) buildResult(d delivery, task Task, out outcome) Result {
	now := time.Now()
	res := Result{
		Kind: "task", ID: task.ID, ContextID: task.ContextID,
		Status: TaskStatus{State: out.state, Timestamp: now.UTC()},
		Metadata: ResultMetadata{
			Worker: r.cfg.Worker, Attempt: d.attempt, StopReason: string(out.stopReason),
			ToolCalls: out.toolCalls, Agent: out.agent, AuthMethod: out.authMethod,
		},
	}
	if out.state != StateCompleted {
		res.Metadata.Error = out.reason
	}
	if task.Message != nil {
		res.History = json.RawMessage("[" + string(task.Message) + "]")
	}
	if out.text != "" {
		res.Artifacts = []Artifact{{ArtifactID: task.ID + "-answer", Name: "answer", Parts: []Part{{Kind: "text", Text: out.text}}}}
	}
	note := out.reason
	if out.state == StateCompleted {
		note = out.text
	}
	if note != "" {
		res.Status.Message = textMessage(task.ID, task.ContextID, note)
	}
	if !out.promptAt.IsZero() {
		ms := func(a, b time.Time) float64 { return float64(b.Sub(a).Microseconds()) / 1000 }
		res.Metadata.Timings = &Timings{
			QueuedMs:    ms(d.published, d.received),
			DispatchMs:  ms(d.published, out.promptAt),
			ExecutionMs: ms(out.promptAt, out.answeredAt),
			TotalMs:     ms(d.published, now),
		}
	}
	return res
}
