package agenttest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Request is what the agent sent for one turn.
type Request struct {
	// Authorization is the credential the request carried (the Authorization header, or
	// Anthropic's X-Api-Key).
	Authorization string
	Model         string
	// LastInput is the last item of the request's input or messages: the user's prompt on
	// the first turn, the previous tool call's result after that.
	LastInput json.RawMessage
}

// script plays its turns in order, one per request, and records the requests. A request
// beyond the script gets a short closing text, so the agent ends its turn instead of
// retrying; the test sees it in the count.
type script[T any] struct {
	mu       sync.Mutex
	turns    []T
	requests []Request
	closing  T
}

// next records rec and returns the turn it plays and its number, from 1.
func (s *script[T]) next(rec Request) (T, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, rec)
	n := len(s.requests)
	if n <= len(s.turns) {
		return s.turns[n-1], n
	}
	return s.closing, n
}

func (s *script[T]) recorded() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// decode reads a JSON request body into v, answering 400 when it is not JSON.
func decode(w http.ResponseWriter, req *http.Request, v any) bool {
	if err := json.NewDecoder(io.LimitReader(req.Body, 16<<20)).Decode(v); err != nil {
		http.Error(w, "request body is not JSON: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func last(items []json.RawMessage) json.RawMessage {
	if len(items) == 0 {
		return nil
	}
	return items[len(items)-1]
}

// event is one server-sent event's data; its "type" is also the event's name.
type event = map[string]any

// stream writes events as server-sent events, flushing each.
func stream(w http.ResponseWriter, evs []event) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	for _, ev := range evs {
		data, err := json.Marshal(ev)
		if err != nil {
			panic(err) // maps of strings, numbers and test literals always encode
		}
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev["type"], data)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
