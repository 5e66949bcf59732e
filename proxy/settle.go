package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/daedalus-dev/daedalus/proxy/contract"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// settle publishes the task's final result and then acks (completed) or terminates (every
// other final state) the delivery. Settling is bounded by the settle timeout (and by ctx, which
// ends inside the grace period on shutdown): a result that cannot be stored by then, or that
// fails for a reason retrying cannot mend, is never acked; the delivery is nak'd, with the
// reason logged, and a later one answers.
func (r *Runner) settle(ctx context.Context, d delivery, task contract.Task, out outcome, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.SettleTimeout)
	defer cancel()
	msg, err := r.resultMsg(ctx, d, task, out, log)
	if err == nil {
		err = publishRetrying(ctx, r.js, msg, task.ID)
	}
	if err != nil {
		why := "result not stored in time"
		if isPermanent(err) {
			why = "result cannot be stored"
		}
		log.Error(why+"; handing the task back", "state", out.state, "settle_timeout", r.cfg.SettleTimeout, "err", err)
		r.nak(d.msg, retryDelay(d.attempt), why+": "+err.Error(), log)
		return
	}
	r.metrics.outcomes.WithLabelValues(out.state).Inc()
	log.Info("result stored", "state", out.state, "reason", clip(out.reason, 512), "stop_reason", out.stopReason,
		"bytes", len(msg.Data), "total", time.Since(d.published))
	if out.state == contract.StateCompleted {
		r.ack(ctx, d, "completed", log)
	} else {
		if err := d.msg.TermWithReason(clip(out.state+": "+out.reason, 512)); err != nil {
			log.Error("terminating the delivery", "err", err)
		}
		r.metrics.tasks.WithLabelValues("term").Inc()
		r.metrics.duration.WithLabelValues("term").Observe(time.Since(d.received).Seconds())
	}
	if task.Message != nil { // the closing event of the task's status stream
		st := newStatusPublisher(r.js, task, d.trace, r.cfg.StatusInterval, r.cfg.Limits, nil, log)
		st.final(ctx, out.state, clipNote(out.reason, maxExcerpt))
	}
}

// maxExcerpt bounds the answer's excerpt and the error text in a result.
const maxExcerpt = 16 << 10

// resultMsg builds the result message, which always fits the server's max payload. The answer
// travels whole when it fits; otherwise it is stored in the outputs object store and the
// result carries an excerpt and a reference. The task's message (the result's history) is
// left out when even then the result would not fit.
func (r *Runner) resultMsg(ctx context.Context, d delivery, task contract.Task, out outcome, log *slog.Logger) (*nats.Msg, error) {
	msg := &nats.Msg{Subject: contract.ResultSubject(task.ID), Header: d.trace.header()}
	budget := int(r.js.Conn().MaxPayload()) - headerBytes(msg.Header) - resultHeaderReserve
	excerpt := max(min(maxExcerpt, budget/32), 0)
	res := r.buildResult(d, task, out, excerpt)
	var data []byte
	encode := func() (fits bool, err error) {
		data, err = encodeResult(res)
		return len(data) <= budget, err
	}
	fits := false
	var err error
	if len(out.answer) <= budget { // a longer answer cannot fit: no need to copy or encode it
		if len(out.answer) > 0 {
			res.Artifacts = []contract.Artifact{{ArtifactID: task.ID + "-answer", Name: "answer", Parts: []contract.Part{{Kind: "text", Text: string(out.answer)}}}}
		}
		if fits, err = encode(); err != nil {
			return nil, err
		}
	}
	if !fits && len(out.answer) > excerpt { // storing a shorter answer would not shrink the result
		ref, err := r.storeOutput(ctx, outputName(task.ID, d.attempt), out.answer, log)
		if err != nil {
			return nil, fmt.Errorf("storing the %d-byte answer: %w", len(out.answer), err)
		}
		log.Info("answer stored in the object store", "object", ref.URI, "bytes", ref.Size, "digest", ref.Digest)
		head := clip(string(out.answer[:min(len(out.answer), excerpt+1)]), excerpt)
		res.Artifacts = []contract.Artifact{{ArtifactID: task.ID + "-answer", Name: "answer", Parts: []contract.Part{
			{Kind: "text", Text: head},
			{Kind: "file", File: &contract.FileContent{Name: "answer.txt", MimeType: "text/plain; charset=utf-8", URI: ref.URI}},
		}}}
		res.Metadata.Output = &contract.OutputInfo{Bytes: int64(len(out.answer)), DroppedBytes: out.dropped, ExcerptBytes: len(head), Object: ref}
		if fits, err = encode(); err != nil {
			return nil, err
		}
	}
	if !fits && res.History != nil {
		res.History, res.Metadata.HistoryOmitted = nil, true
		if fits, err = encode(); err != nil {
			return nil, err
		}
	}
	if !fits {
		return nil, &permanentError{fmt.Errorf("the result is %d bytes, more than the %d this NATS server accepts", len(data), budget)}
	}
	msg.Data = data
	return msg, nil
}

// resultHeaderReserve is room for the headers a publish adds (Nats-Msg-Id holds the task id,
// at most maxTaskIDLen bytes, and Nats-Expected-Stream).
const resultHeaderReserve = contract.MaxTaskIDLen + 256

// headerBytes is the size of h on the wire.
func headerBytes(h nats.Header) int {
	n := len("NATS/1.0\r\n\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + len(": \r\n")
		}
	}
	return n
}

// encodeResult encodes a result as JSON, leaving <, > and & as they are.
func encodeResult(res contract.Result) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(res); err != nil { // the Result type always encodes; this guards against future fields
		return nil, fmt.Errorf("encoding the result: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
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
// NATS outages until ctx ends; a failure that retrying cannot mend (see isPermanent) returns at
// once. The message id makes a retried or repeated publish a no-op.
func publishRetrying(ctx context.Context, js jetstream.JetStream, msg *nats.Msg, taskID string) error {
	wait := 100 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := js.PublishMsg(pctx, msg, jetstream.WithMsgID(taskID), jetstream.WithExpectStream(contract.ResultsStream))
		cancel()
		if err == nil {
			return nil
		}
		if isPermanent(err) || ctx.Err() != nil {
			return fmt.Errorf("publishing result %s: %w", taskID, err)
		}
		sleep(ctx, wait)
		wait = min(wait*2, 2*time.Second)
	}
}

// buildResult is the final A2A Task but for the answer artifact, which resultMsg adds. The
// status message and the error hold at most excerpt bytes.
func (r *Runner) buildResult(d delivery, task contract.Task, out outcome, excerpt int) contract.Result {
	now := time.Now()
	res := contract.Result{
		Kind: "task", ID: task.ID, ContextID: task.ContextID,
		Status: contract.TaskStatus{State: out.state, Timestamp: now.UTC()},
		Metadata: contract.ResultMetadata{
			Worker: r.cfg.Worker, Attempt: d.attempt, StopReason: string(out.stopReason),
			ToolCalls: out.toolCalls, Agent: out.agent, AuthMethod: out.authMethod,
		},
	}
	if out.state != contract.StateCompleted {
		res.Metadata.Error = clipNote(out.reason, excerpt)
	}
	if out.dropped > 0 {
		res.Metadata.Output = &contract.OutputInfo{Bytes: int64(len(out.answer)), DroppedBytes: out.dropped}
	}
	if task.Message != nil {
		res.History = json.RawMessage("[" + string(task.Message) + "]")
	}
	note := clipNote(out.reason, excerpt)
	if out.state == contract.StateCompleted {
		note = clipBytesNote(out.answer, excerpt)
	}
	if note != "" {
		res.Status.Message = textMessage(task.ID, task.ContextID, note)
	}
	if !out.promptAt.IsZero() {
		ms := func(a, b time.Time) float64 { return float64(b.Sub(a).Microseconds()) / 1000 }
		res.Metadata.Timings = &contract.Timings{
			QueuedMs:    ms(d.published, d.received),
			DispatchMs:  ms(d.published, out.promptAt),
			ExecutionMs: ms(out.promptAt, out.answeredAt),
			TotalMs:     ms(d.published, now),
		}
	}
	return res
}
