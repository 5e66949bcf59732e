package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A2A task states used in results and status events.
const (
	StateWorking   = "working"
	StateCompleted = "completed"
	StateFailed    = "failed"
	StateCanceled  = "canceled"
	StateRejected  = "rejected"
)

// Message is an A2A message. Only the fields Daedalus reads or writes are modelled; the
// original task message is kept verbatim in results as Raw.
type Message struct {
	Kind      string         `json:"kind"`
	Role      string         `json:"role"`
	MessageID string         `json:"messageId"`
	TaskID    string         `json:"taskId,omitempty"`
	ContextID string         `json:"contextId,omitempty"`
	Parts     []Part         `json:"parts"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

// Part is an A2A message part. Text parts are the only ones the proxy turns into a prompt;
// a result's answer may also hold a file part that refers to the whole answer by URI.
type Part struct {
	Kind string       `json:"kind"`
	Text string       `json:"text,omitempty"`
	File *FileContent `json:"file,omitempty"`
}

// FileContent is an A2A file part's file, given by URI.
type FileContent struct {
	Name     string `json:"name,omitempty"`
	MimeType string `json:"mimeType,omitempty"`
	URI      string `json:"uri"`
}

// TaskStatus is an A2A task status.
type TaskStatus struct {
	State     string    `json:"state"`
	Message   *Message  `json:"message,omitempty"`
	Timestamp time.Time `json:"timestamp"`
}

// Artifact is an A2A artifact: the agent's whole answer.
type Artifact struct {
	ArtifactID string `json:"artifactId"`
	Name       string `json:"name,omitempty"`
	Parts      []Part `json:"parts"`
}

// Result is the final A2A Task published to agent.results.<taskId>.
type Result struct {
	Kind      string          `json:"kind"`
	ID        string          `json:"id"`
	ContextID string          `json:"contextId,omitempty"`
	Status    TaskStatus      `json:"status"`
	Artifacts []Artifact      `json:"artifacts,omitempty"`
	History   json.RawMessage `json:"history,omitempty"`
	Metadata  ResultMetadata  `json:"metadata"`
}

// ResultMetadata says how the result came about. It lives under the A2A Task's metadata.
type ResultMetadata struct {
	Worker  string `json:"worker"`
	Attempt int    `json:"attempt"`
	// Agent is the agent's name and version as it gave them in initialize.
	Agent string `json:"agent,omitempty"`
	// AuthMethod is the ACP auth method the session authenticated with.
	AuthMethod string   `json:"authMethod,omitempty"`
	StopReason string   `json:"stopReason,omitempty"`
	Error      string   `json:"error,omitempty"`
	ToolCalls  int      `json:"toolCalls,omitempty"`
	Timings    *Timings `json:"timings,omitempty"`
	// Output is set when the answer did not travel whole in the result: stored in the
	// outputs object store, or cut at the output limit.
	Output *OutputInfo `json:"output,omitempty"`
	// HistoryOmitted says the task's message was left out of history to make the result fit.
	HistoryOmitted bool `json:"historyOmitted,omitempty"`
}

// Timings of one task, in milliseconds, from the task's publish time in JetStream.
type Timings struct {
	// QueuedMs is publish → the proxy received the task.
	QueuedMs float64 `json:"queuedMs"`
	// DispatchMs is publish → the prompt was sent to the agent.
	DispatchMs float64 `json:"dispatchMs"`
	// ExecutionMs is prompt sent → the agent's answer.
	ExecutionMs float64 `json:"executionMs"`
	// TotalMs is publish → the result was built.
	TotalMs float64 `json:"totalMs"`
}

// StatusEvent is an A2A TaskStatusUpdateEvent published to agent.status.<taskId>.
type StatusEvent struct {
	Kind      string         `json:"kind"`
	TaskID    string         `json:"taskId"`
	ContextID string         `json:"contextId,omitempty"`
	Status    TaskStatus     `json:"status"`
	Final     bool           `json:"final"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

// Task is a decoded task message.
type Task struct {
	ID        string
	ContextID string
	Prompt    string
	// Message is the A2A message as it arrived, kept for the result's history.
	Message json.RawMessage
}

// RejectError says why a task message can never be run. Such a task is answered with a
// rejected result and terminated, never redelivered.
type RejectError struct {
	Reason string
	// TaskID is the task id when one could be read, so the rejection reaches the requester.
	TaskID string
}

func (e *RejectError) Error() string { return "task rejected: " + e.Reason }

// MaxTaskIDLen bounds a task id, which becomes a NATS subject token.
const MaxTaskIDLen = 256

// DecodeTask decodes a task: an A2A message/send request, either the JSON-RPC 2.0 envelope
// ({"jsonrpc":"2.0","method":"message/send","params":{"message":…}}) or the bare params object
// ({"message":…}). The task id is message.taskId, else message.messageId; the prompt is the
// message's text parts in order, joined by newlines. Every error is a *RejectError.
func DecodeTask(data []byte) (Task, error) {
	var probe struct {
		JSONRPC string          `json:"jsonrpc"`
		Method  *string         `json:"method"`
		Params  json.RawMessage `json:"params"`
		Message json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return Task{}, &RejectError{Reason: "task is not a JSON object: " + err.Error()}
	}
	raw := probe.Message
	if probe.Method != nil || probe.JSONRPC != "" {
		if probe.JSONRPC != "2.0" {
			return Task{}, &RejectError{Reason: fmt.Sprintf("jsonrpc must be \"2.0\", got %q", probe.JSONRPC)}
		}
		if probe.Method == nil || *probe.Method != "message/send" {
			m := "<none>"
			if probe.Method != nil {
				m = *probe.Method
			}
			return Task{}, &RejectError{Reason: "method must be \"message/send\", got " + m}
		}
		var params struct {
			Message json.RawMessage `json:"message"`
		}
		if len(probe.Params) == 0 || json.Unmarshal(probe.Params, &params) != nil {
			return Task{}, &RejectError{Reason: "params must be an object holding the message"}
		}
		raw = params.Message
	}
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return Task{}, &RejectError{Reason: "no message: expected params.message (or message in a bare params object)"}
	}
	var msg Message
	if err := json.Unmarshal(raw, &msg); err != nil {
		return Task{}, &RejectError{Reason: "message is malformed: " + err.Error()}
	}
	id := msg.TaskID
	if id == "" {
		id = msg.MessageID
	}
	if err := validTaskID(id); err != nil {
		return Task{}, &RejectError{Reason: err.Error()}
	}
	if len(msg.ContextID) > MaxTaskIDLen {
		return Task{}, &RejectError{Reason: fmt.Sprintf("contextId is longer than %d bytes", MaxTaskIDLen), TaskID: id}
	}
	var texts []string
	for _, p := range msg.Parts {
		if (p.Kind == "" || p.Kind == "text") && strings.TrimSpace(p.Text) != "" {
			texts = append(texts, p.Text)
		}
	}
	if len(texts) == 0 {
		return Task{}, &RejectError{Reason: "message has no text parts to prompt the agent with", TaskID: id}
	}
	return Task{ID: id, ContextID: msg.ContextID, Prompt: strings.Join(texts, "\n"), Message: raw}, nil
}

// validTaskID checks that id can stand as one NATS subject token.
func validTaskID(id string) error {
	switch {
	case id == "":
		return errors.New("message has neither taskId nor messageId")
	case len(id) > MaxTaskIDLen:
		return fmt.Errorf("task id is longer than %d bytes", MaxTaskIDLen)
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r == '.' || r == '*' || r == '>' {
			return fmt.Errorf("task id %q contains %q, which cannot stand in a NATS subject token", id, r)
		}
	}
	return nil
}
