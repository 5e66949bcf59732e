package contract

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecodeTask(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in            string
		id, prompt, context string
		reject              string // substring of the reason; "" = accepted
		rejectID            string
	}{
		{name: "json-rpc envelope (as smoke and demo publish it)", in: `{"jsonrpc":"2.0","id":"1","method":"message/send","params":{"message":{"role":"user","messageId":"m1","parts":[{"kind":"text","text":"hi"}]}}}`, id: "m1", prompt: "hi"},
		{name: "bare params", in: `{"message":{"role":"user","messageId":"m2","contextId":"c","parts":[{"kind":"text","text":"a"},{"kind":"text","text":"b"}]}}`, id: "m2", prompt: "a\nb", context: "c"},
		{name: "taskId wins over messageId", in: `{"message":{"taskId":"t","messageId":"m","parts":[{"kind":"text","text":"x"}]}}`, id: "t", prompt: "x"},
		{name: "parts without kind (A2A v1)", in: `{"message":{"messageId":"m","parts":[{"text":"x"}]}}`, id: "m", prompt: "x"},
		{name: "non-text parts skipped", in: `{"message":{"messageId":"m","parts":[{"kind":"file","file":{}},{"kind":"text","text":"y"}]}}`, id: "m", prompt: "y"},
		{name: "not json", in: `nope`, reject: "not a JSON object"},
		{name: "array", in: `[1]`, reject: "not a JSON object"},
		{name: "jsonrpc 1.0", in: `{"jsonrpc":"1.0","method":"message/send","params":{}}`, reject: `jsonrpc must be "2.0"`},
		{name: "other method", in: `{"jsonrpc":"2.0","method":"tasks/cancel","params":{}}`, reject: "tasks/cancel"},
		{name: "envelope without params", in: `{"jsonrpc":"2.0","method":"message/send"}`, reject: "params must be an object"},
		{name: "no message", in: `{"foo":1}`, reject: "no message"},
		{name: "null message", in: `{"message":null}`, reject: "no message"},
		{name: "message not an object", in: `{"message":"hi"}`, reject: "malformed"},
		{name: "no ids", in: `{"message":{"parts":[{"kind":"text","text":"x"}]}}`, reject: "neither taskId nor messageId"},
		{name: "id with a dot", in: `{"message":{"messageId":"a.b","parts":[{"kind":"text","text":"x"}]}}`, reject: "NATS subject"},
		{name: "id with a space", in: `{"message":{"messageId":"a b","parts":[{"kind":"text","text":"x"}]}}`, reject: "NATS subject"},
		{name: "id with a wildcard", in: `{"message":{"messageId":"a>","parts":[{"kind":"text","text":"x"}]}}`, reject: "NATS subject"},
		{name: "id too long", in: `{"message":{"messageId":"` + strings.Repeat("a", 300) + `","parts":[{"kind":"text","text":"x"}]}}`, reject: "longer than"},
		{name: "blank text only", in: `{"message":{"messageId":"m","parts":[{"kind":"text","text":"  "}]}}`, reject: "no text parts", rejectID: "m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			task, err := DecodeTask([]byte(tc.in))
			if tc.reject != "" {
				var rej *RejectError
				if !errors.As(err, &rej) || !strings.Contains(rej.Reason, tc.reject) {
					t.Fatalf("err = %v, want a RejectError mentioning %q", err, tc.reject)
				}
				if rej.TaskID != tc.rejectID {
					t.Errorf("rejected task id = %q, want %q", rej.TaskID, tc.rejectID)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if task.ID != tc.id || task.Prompt != tc.prompt || task.ContextID != tc.context {
				t.Errorf("task = %+v, want id %q prompt %q context %q", task, tc.id, tc.prompt, tc.context)
			}
			if !json.Valid(task.Message) {
				t.Errorf("kept message is not JSON: %s", task.Message)
			}
		})
	}
}

// FuzzDecodeTask: the decoder never panics, every error is a RejectError, and an accepted
// task has a subject-safe id and a non-empty prompt.
func FuzzDecodeTask(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":"1","method":"message/send","params":{"message":{"messageId":"m1","parts":[{"kind":"text","text":"hi"}]}}}`,
		`{"message":{"taskId":"t","parts":[{"text":"x"}]}}`,
		`{"jsonrpc":"2.0"}`, `null`, `{}`, `{"message":{"messageId":"a.b"}}`, "\x00", `{"params":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		task, err := DecodeTask(data)
		if err != nil {
			var rej *RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("error %v is not a RejectError", err)
			}
			if rej.TaskID != "" && validTaskID(rej.TaskID) != nil {
				t.Fatalf("rejection names unsafe id %q", rej.TaskID)
			}
			return
		}
		if err := validTaskID(task.ID); err != nil {
			t.Fatalf("accepted unsafe id: %v", err)
		}
		if strings.TrimSpace(task.Prompt) == "" {
			t.Fatal("accepted an empty prompt")
		}
		if !json.Valid(task.Message) {
			t.Fatal("kept message is not JSON")
		}
	})
}
