package agenttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Turn is one model response, played in answer to one request. Its parts are emitted in
// this order: the text, then the patch or the command (a tool call ends the response, and the
// agent calls again with the tool's output).
type Turn struct {
	// Text is an assistant message, streamed as deltas and then as a done item.
	Text string
	// Patch, when set, is an apply_patch call (codex's freeform tool) with this patch.
	Patch string
	// Command, when set, is an exec_command call that asks to run outside the sandbox
	// (sandbox_permissions "require_escalated"), so the agent must ask for permission.
	Command string
}

// Responses is the stand-in server. Requests beyond the script are answered with a short
// final message (so the agent ends its turn instead of retrying) and recorded; the test checks
// the count.
type Responses struct {
	srv    *httptest.Server
	script script[Turn]
}

// NewResponses starts the stand-in with its script; it stops when the test ends.
func NewResponses(t testing.TB, turns ...Turn) *Responses {
	r := &Responses{script: script[Turn]{turns: turns, closing: Turn{Text: "(no more scripted turns)"}}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/responses", r.respond)
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		t.Errorf("model API stand-in: unexpected %s %s", req.Method, req.URL.Path)
		http.NotFound(w, req)
	})
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

// BaseURL is the provider base URL an agent is configured with (ends in /v1).
func (r *Responses) BaseURL() string { return r.srv.URL + "/v1" }

// Requests returns the requests received so far.
func (r *Responses) Requests() []Request { return r.script.recorded() }

func (r *Responses) respond(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Model  string            `json:"model"`
		Stream bool              `json:"stream"`
		Input  []json.RawMessage `json:"input"`
	}
	if !decode(w, req, &body) {
		return
	}
	turn, n := r.script.next(Request{Authorization: req.Header.Get("Authorization"), Model: body.Model, LastInput: last(body.Input)})
	if !body.Stream {
		http.Error(w, "the stand-in answers streaming requests only", http.StatusBadRequest)
		return
	}
	stream(w, events(fmt.Sprintf("resp_%d", n), turn))
}

// events is one turn as the Responses API streams it.
func events(id string, t Turn) []event {
	evs := []event{{"type": "response.created", "response": event{"id": id}}}
	index := 0
	if t.Text != "" {
		msgID := id + "_msg"
		evs = append(evs,
			event{"type": "response.output_item.added", "output_index": index,
				"item": event{"type": "message", "role": "assistant", "id": msgID, "content": []event{}}})
		for _, w := range strings.SplitAfter(t.Text, " ") {
			evs = append(evs, event{"type": "response.output_text.delta", "item_id": msgID, "output_index": index,
				"content_index": 0, "delta": w})
		}
		evs = append(evs, event{"type": "response.output_item.done", "output_index": index,
			"item": event{"type": "message", "role": "assistant", "id": msgID,
				"content": []event{{"type": "output_text", "text": t.Text}}}})
		index++
	}
	switch {
	case t.Patch != "":
		evs = append(evs, event{"type": "response.output_item.done", "output_index": index,
			"item": event{"type": "custom_tool_call", "id": id + "_patch", "call_id": id + "_call",
				"name": "apply_patch", "input": t.Patch, "status": "completed"}})
	case t.Command != "":
		args, _ := json.Marshal(event{"cmd": t.Command, "sandbox_permissions": "require_escalated",
			"justification": "the task asks for it"})
		evs = append(evs, event{"type": "response.output_item.done", "output_index": index,
			"item": event{"type": "function_call", "id": id + "_exec", "call_id": id + "_call",
				"name": "exec_command", "arguments": string(args)}})
	}
	return append(evs, event{"type": "response.completed", "response": event{"id": id,
		"usage": event{"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}})
}

// CodexFlags are the codex-acp flags that point it at the stand-in: a model provider named
// daedalus-test, with the key read from OPENAI_API_KEY, on the Responses wire API.
func (r *Responses) CodexFlags() []string {
	return []string{
		"-c", "model_provider=daedalus-test",
		"-c", fmt.Sprintf(`model_providers.daedalus-test={name="daedalus-test",base_url=%q,env_key="OPENAI_API_KEY",wire_api="responses"}`, r.BaseURL()),
		"-c", "check_for_update_on_startup=false",
	}
}
