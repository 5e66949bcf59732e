package proxy

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/daedalus-dev/daedalus/proxy/contract"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// statusPublisher turns the agent's updates into throttled A2A status-update events on
// agent.status.<taskId>: text chunks are coalesced and tool calls collapsed to their latest
// state, and at most one event goes out per interval. What it holds between two events is
// bounded by Limits (StatusBuffer bytes of text, MaxToolCalls tool calls); an event that had
// to leave text out says how much in metadata.droppedBytes. Status is progress, not the answer:
// an event that cannot be published is logged and dropped, never retried at the task's cost.
type statusPublisher struct {
	js       jetstream.JetStream
	task     contract.Task
	header   nats.Header
	interval time.Duration
	log      *slog.Logger
	meta     map[string]any

	mu           sync.Mutex
	text         cappedText
	tools        []ToolEvent
	maxTools     int
	droppedTools int
	plan         []string
	dirty        bool

	started atomic.Bool
	stop    chan struct{}
	done    chan struct{}
}

func newStatusPublisher(js jetstream.JetStream, task contract.Task, tc traceContext, interval time.Duration,
	lim Limits, meta map[string]any, log *slog.Logger) *statusPublisher {
	return &statusPublisher{
		js: js, task: task, header: tc.header(), interval: interval, log: log, meta: meta,
		text: cappedText{limit: lim.StatusBuffer}, maxTools: lim.MaxToolCalls,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// start starts the flusher, which first publishes a working event carrying note. Nothing here
// waits on the network: status never delays the task.
func (p *statusPublisher) start(ctx context.Context, note string) {
	p.started.Store(true)
	go func() {
		defer close(p.done)
		p.publish(ctx, contract.StateWorking, note, nil, false)
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.flush(ctx)
			}
		}
	}()
}

// add records one update; it never blocks on the network.
func (p *statusPublisher) add(u Update) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dirty = true
	p.text.write(u.Text)
	if u.Tool != nil {
		ev := clipTool(*u.Tool)
		u.Tool = &ev
	}
	if u.Plan != nil {
		p.plan = clipPlan(u.Plan)
	}
	if u.Tool != nil {
		for i := range p.tools {
			if p.tools[i].ID == u.Tool.ID {
				merged := p.tools[i]
				if u.Tool.Title != "" {
					merged.Title = u.Tool.Title
				}
				if u.Tool.Kind != "" {
					merged.Kind = u.Tool.Kind
				}
				if u.Tool.Status != "" {
					merged.Status = u.Tool.Status
				}
				p.tools[i] = merged
				return
			}
		}
		if len(p.tools) >= p.maxTools {
			p.droppedTools++
			return
		}
		p.tools = append(p.tools, *u.Tool)
	}
}

// flush publishes what accumulated since the last event, if anything.
func (p *statusPublisher) flush(ctx context.Context) {
	p.mu.Lock()
	if !p.dirty {
		p.mu.Unlock()
		return
	}
	text := p.text.String()
	extra := map[string]any{}
	if p.text.dropped > 0 {
		extra["droppedBytes"] = p.text.dropped
	}
	p.text.reset()
	if p.droppedTools > 0 {
		extra["droppedToolCalls"] = p.droppedTools
		p.droppedTools = 0
	}
	if len(p.tools) > 0 {
		extra["toolCalls"] = p.tools
		p.tools = nil
	}
	if p.plan != nil {
		extra["plan"] = p.plan
		p.plan = nil
	}
	p.dirty = false
	p.mu.Unlock()
	p.publish(ctx, contract.StateWorking, text, extra, false)
}

// close stops the flusher, if it started, and publishes what is left.
func (p *statusPublisher) close(ctx context.Context) {
	if !p.started.Load() {
		return
	}
	close(p.stop)
	<-p.done
	p.flush(ctx)
}

// final publishes the closing event of the stream of events: the task's final state.
func (p *statusPublisher) final(ctx context.Context, state, note string) {
	p.publish(ctx, state, note, nil, true)
}

func (p *statusPublisher) publish(ctx context.Context, state, text string, extra map[string]any, final bool) {
	ev := contract.StatusEvent{
		Kind: "status-update", TaskID: p.task.ID, ContextID: p.task.ContextID, Final: final,
		Status: contract.TaskStatus{State: state, Timestamp: time.Now().UTC()},
	}
	if text != "" {
		ev.Status.Message = textMessage(p.task.ID, p.task.ContextID, text)
	}
	if len(extra) > 0 || len(p.meta) > 0 {
		ev.Metadata = map[string]any{}
		for k, v := range p.meta {
			ev.Metadata[k] = v
		}
		for k, v := range extra {
			ev.Metadata[k] = v
		}
	}
	data, err := json.Marshal(ev)
	if err != nil {
		p.log.Error("encoding status event", "err", err)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	msg := &nats.Msg{Subject: contract.StatusSubject(p.task.ID), Data: data, Header: maps.Clone(p.header)}
	if _, err := p.js.PublishMsg(pctx, msg, jetstream.WithExpectStream(contract.StatusStream)); err != nil {
		p.log.Warn("status event dropped", "state", state, "err", err)
	}
}

// textMessage builds an agent message holding one text part.
func textMessage(taskID, contextID, text string) *contract.Message {
	return &contract.Message{
		Kind: "message", Role: "agent", MessageID: taskID + "-status",
		TaskID: taskID, ContextID: contextID, Parts: []contract.Part{{Kind: "text", Text: text}},
	}
}
