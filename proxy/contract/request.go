package contract

import (
	"context"
	"encoding/json"

	"github.com/nats-io/nats.go/jetstream"
)

// request is the JSON-RPC 2.0 envelope of an A2A message/send call.
type request struct {
	JSONRPC string `json:"jsonrpc"`
	ID      string `json:"id"`
	Method  string `json:"method"`
	Params  struct {
		Message Message `json:"message"`
	} `json:"params"`
}

// NewRequest is the message/send request of a task: one user message whose messageId is the
// task id and whose one text part is the prompt; contextID may be empty.
func NewRequest(id, contextID, prompt string) []byte {
	r := request{JSONRPC: "2.0", ID: id, Method: "message/send"}
	r.Params.Message = Message{Kind: "message", Role: "user", MessageID: id, ContextID: contextID,
		Parts: []Part{{Kind: "text", Text: prompt}}}
	b, err := json.Marshal(r)
	if err != nil {
		panic("contract: encoding a request of strings: " + err.Error()) // cannot happen
	}
	return b
}

// PublishTask publishes a task for worker with its id as Nats-Msg-Id, so that publishing
// the same task twice within the stream's duplicate window stores it once.
func PublishTask(ctx context.Context, js jetstream.JetStream, worker, id, prompt string) (*jetstream.PubAck, error) {
	return js.Publish(ctx, TaskSubject(worker), NewRequest(id, "", prompt), jetstream.WithMsgID(id))
}
