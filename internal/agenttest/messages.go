package agenttest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// ToolUse is a tool call the scripted model makes, by the agent's tool name and input (for
// Claude Code e.g. Write {file_path, content} or Bash {command, description}).
type ToolUse struct {
	Name  string
	Input map[string]any
}

// MessagesTurn is one streamed model response: the text, then the tool call if any (which
// ends the response; the agent calls again with the tool's result).
type MessagesTurn struct {
	Text string
	Tool *ToolUse
}

// Messages is the Anthropic Messages API stand-in. Only the agent loop's requests (streamed,
// with tools) play the script; the agent's side requests (token counts, calls without tools
// that title a session or read a command's output) get a minimal valid answer and are not
// counted as turns.
type Messages struct {
	srv *httptest.Server

	mu    sync.Mutex
	turns []MessagesTurn
	calls []Request // the streaming requests, in order
}

// NewMessages starts the stand-in with its script; it stops when the test ends.
func NewMessages(t testing.TB, turns ...MessagesTurn) *Messages {
	m := &Messages{turns: turns}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages/count_tokens", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"input_tokens": 1})
	})
	mux.HandleFunc("POST /v1/messages", m.respond)
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		t.Logf("Messages API stand-in: %s %s answered 404", req.Method, req.URL.Path)
		http.NotFound(w, req)
	})
	m.srv = httptest.NewServer(mux)
	t.Cleanup(m.srv.Close)
	return m
}

// BaseURL is what ANTHROPIC_BASE_URL is set to.
func (m *Messages) BaseURL() string { return m.srv.URL }

// Requests returns the streaming requests received so far.
func (m *Messages) Requests() []Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Request(nil), m.calls...)
}

func (m *Messages) respond(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Model    string            `json:"model"`
		Stream   bool              `json:"stream"`
		Messages []json.RawMessage `json:"messages"`
		Tools    []json.RawMessage `json:"tools"`
	}
	if err := json.NewDecoder(io.LimitReader(req.Body, 16<<20)).Decode(&body); err != nil {
		http.Error(w, "request body is not JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	msg := map[string]any{"id": "msg_side", "type": "message", "role": "assistant", "model": body.Model,
		"stop_reason": "end_turn", "stop_sequence": nil, "usage": map[string]any{"input_tokens": 1, "output_tokens": 1}}
	if !body.Stream || len(body.Tools) == 0 {
		msg["content"] = []map[string]any{{"type": "text", "text": "ok"}}
		if !body.Stream {
			writeJSON(w, msg)
			return
		}
		streamEvents(w, msg, MessagesTurn{Text: "ok"})
		return
	}
	rec := Request{Authorization: req.Header.Get("X-Api-Key"), Model: body.Model}
	if n := len(body.Messages); n > 0 {
		rec.LastInput = body.Messages[n-1]
	}
	m.mu.Lock()
	n := len(m.calls)
	m.calls = append(m.calls, rec)
	turn := MessagesTurn{Text: "(no more scripted turns)"}
	if n < len(m.turns) {
		turn = m.turns[n]
	}
	m.mu.Unlock()

	msg["id"] = fmt.Sprintf("msg_%d", n+1)
	streamEvents(w, msg, turn)
}

// streamEvents streams one response: message_start, the text block, the tool_use block, and
// message_delta with the stop reason.
func streamEvents(w http.ResponseWriter, msg map[string]any, turn MessagesTurn) {
	msg["content"], msg["stop_reason"] = []any{}, nil
	evs := []map[string]any{{"type": "message_start", "message": msg}}
	index, stop := 0, "end_turn"
	if turn.Text != "" {
		evs = append(evs,
			map[string]any{"type": "content_block_start", "index": index, "content_block": map[string]any{"type": "text", "text": ""}},
			map[string]any{"type": "content_block_delta", "index": index, "delta": map[string]any{"type": "text_delta", "text": turn.Text}},
			map[string]any{"type": "content_block_stop", "index": index})
		index++
	}
	if turn.Tool != nil {
		input, err := json.Marshal(turn.Tool.Input)
		if err != nil {
			panic(err) // a test's literal map
		}
		evs = append(evs,
			map[string]any{"type": "content_block_start", "index": index, "content_block": map[string]any{
				"type": "tool_use", "id": msg["id"].(string) + "_tool", "name": turn.Tool.Name, "input": map[string]any{}}},
			map[string]any{"type": "content_block_delta", "index": index, "delta": map[string]any{"type": "input_json_delta", "partial_json": string(input)}},
			map[string]any{"type": "content_block_stop", "index": index})
		stop = "tool_use"
	}
	evs = append(evs,
		map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
			"usage": map[string]any{"output_tokens": 1}},
		map[string]any{"type": "message_stop"})
	w.Header().Set("Content-Type", "text/event-stream")
	for _, ev := range evs {
		data, _ := json.Marshal(ev)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev["type"], data)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
