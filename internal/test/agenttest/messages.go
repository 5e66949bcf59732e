package agenttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	srv    *httptest.Server
	script script[MessagesTurn] // the agent loop's requests
}

// NewMessages starts the stand-in with its script; it stops when the test ends.
func NewMessages(t testing.TB, turns ...MessagesTurn) *Messages {
	m := &Messages{script: script[MessagesTurn]{turns: turns, closing: MessagesTurn{Text: "(no more scripted turns)"}}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/messages/count_tokens", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, event{"input_tokens": 1})
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
func (m *Messages) Requests() []Request { return m.script.recorded() }

func (m *Messages) respond(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Model    string            `json:"model"`
		Stream   bool              `json:"stream"`
		Messages []json.RawMessage `json:"messages"`
		Tools    []json.RawMessage `json:"tools"`
	}
	if !decode(w, req, &body) {
		return
	}
	msg := event{"id": "msg_side", "type": "message", "role": "assistant", "model": body.Model,
		"stop_reason": "end_turn", "stop_sequence": nil, "usage": event{"input_tokens": 1, "output_tokens": 1}}
	if !body.Stream {
		msg["content"] = []event{{"type": "text", "text": "ok"}}
		writeJSON(w, msg)
		return
	}
	turn := MessagesTurn{Text: "ok"}
	if len(body.Tools) > 0 {
		var n int
		turn, n = m.script.next(Request{Authorization: req.Header.Get("X-Api-Key"), Model: body.Model, LastInput: last(body.Messages)})
		msg["id"] = fmt.Sprintf("msg_%d", n)
	}
	stream(w, messageEvents(msg, turn))
}

// messageEvents is one streamed response: message_start, the text block, the tool_use
// block, and message_delta with the stop reason.
func messageEvents(msg event, turn MessagesTurn) []event {
	msg["content"], msg["stop_reason"] = []any{}, nil
	evs := []event{{"type": "message_start", "message": msg}}
	index, stop := 0, "end_turn"
	if turn.Text != "" {
		evs = append(evs,
			event{"type": "content_block_start", "index": index, "content_block": event{"type": "text", "text": ""}},
			event{"type": "content_block_delta", "index": index, "delta": event{"type": "text_delta", "text": turn.Text}},
			event{"type": "content_block_stop", "index": index})
		index++
	}
	if turn.Tool != nil {
		input, err := json.Marshal(turn.Tool.Input)
		if err != nil {
			panic(err) // a test's literal map always encodes
		}
		evs = append(evs,
			event{"type": "content_block_start", "index": index, "content_block": event{
				"type": "tool_use", "id": msg["id"].(string) + "_tool", "name": turn.Tool.Name, "input": event{}}},
			event{"type": "content_block_delta", "index": index, "delta": event{"type": "input_json_delta", "partial_json": string(input)}},
			event{"type": "content_block_stop", "index": index})
		stop = "tool_use"
	}
	evs = append(evs,
		event{"type": "message_delta", "delta": event{"stop_reason": stop, "stop_sequence": nil},
			"usage": event{"output_tokens": 1}},
		event{"type": "message_stop"})
	return evs
}
