package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	acp "github.com/coder/acp-go-sdk"

	"github.com/daedalus-dev/daedalus/proxy/contract"
	"github.com/daedalus-dev/daedalus/proxy/refagent"
)

// wireAgent is an ACP agent written against the wire format itself (newline-delimited
// JSON-RPC 2.0), not the SDK, so these tests pin what the proxy actually sends.
type wireAgent struct {
	addr string
	seen chan map[string]any // every message the proxy sent, in order
}

func startWireAgent(t *testing.T, onPrompt func(enc *json.Encoder, id any)) *wireAgent {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	w := &wireAgent{addr: ln.Addr().String(), seen: make(chan map[string]any, 100)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				enc := json.NewEncoder(c)
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					var m map[string]any
					if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
						t.Errorf("proxy sent a line that is not JSON: %q", sc.Text())
						return
					}
					w.seen <- m
					reply := func(result any) {
						_ = enc.Encode(map[string]any{"jsonrpc": "2.0", "id": m["id"], "result": result})
					}
					switch m["method"] {
					case "initialize":
						reply(map[string]any{"protocolVersion": 1, "agentCapabilities": map[string]any{}})
					case "session/new":
						reply(map[string]any{"sessionId": "s1"})
					case "session/prompt":
						onPrompt(enc, m["id"])
					}
				}
			}()
		}
	}()
	return w
}

func TestWireCancelIsANotificationAndPermissionShape(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	agent := startWireAgent(t, func(enc *json.Encoder, id any) {
		// Ask permission, then wait for the cancel before answering the prompt.
		_ = enc.Encode(map[string]any{"jsonrpc": "2.0", "id": "perm-1", "method": "session/request_permission",
			"params": map[string]any{"sessionId": "s1", "toolCall": map[string]any{"toolCallId": "t1", "title": "rm -rf"},
				"options": []map[string]any{
					{"optionId": "no", "name": "No", "kind": "reject_once"},
					{"optionId": "ok", "name": "Yes", "kind": "allow_once"},
				}}})
		go func() {
			time.Sleep(300 * time.Millisecond)
			_ = enc.Encode(map[string]any{"jsonrpc": "2.0", "id": id, "result": map[string]any{"stopReason": "cancelled"}})
		}()
	})
	cfg := e.config(agent.addr)
	e.publish("anything")
	p := e.runProxy(cfg)

	var methods []string
	var perm, cancel map[string]any
	deadline := time.After(10 * time.Second)
	for cancel == nil {
		select {
		case m := <-agent.seen:
			if meth, ok := m["method"].(string); ok {
				methods = append(methods, meth)
			}
			if m["id"] == "perm-1" {
				perm = m
				p.cancel() // SIGTERM while the turn runs
			}
			if m["method"] == "session/cancel" {
				cancel = m
			}
		case <-deadline:
			t.Fatalf("no session/cancel; saw %v", methods)
		}
	}
	if got := strings.Join(methods, ","); got != "initialize,session/new,session/prompt,session/cancel" {
		t.Errorf("methods = %s", got)
	}
	if _, hasID := cancel["id"]; hasID {
		t.Errorf("session/cancel carries an id: %v (it must be a notification)", cancel)
	}
	if cancel["params"].(map[string]any)["sessionId"] != "s1" {
		t.Errorf("session/cancel params = %v", cancel["params"])
	}
	outcome, _ := perm["result"].(map[string]any)["outcome"].(map[string]any)
	if len(outcome) != 2 || outcome["outcome"] != "selected" || outcome["optionId"] != "ok" {
		t.Errorf("permission answer = %v, want outcome {outcome: selected, optionId: ok}", perm["result"])
	}
	if err := p.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestPermissionDuringCancellationIsCancelled(t *testing.T) {
	t.Parallel()
	s := &session{policy: PermissionPolicy{Mode: PolicyAllow}}
	s.cancelling.Store(true)
	resp, err := s.RequestPermission(context.Background(), acp.RequestPermissionRequest{
		Options: []acp.PermissionOption{{OptionId: "ok", Kind: acp.PermissionOptionKindAllowOnce}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(resp)
	if string(b) != `{"outcome":{"outcome":"cancelled"}}` {
		t.Errorf("answer = %s", b)
	}
}

func TestTaskTimeoutFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := e.config(startAgent(t, refagent.Options{}))
	cfg.TaskTimeout = 300 * time.Millisecond
	id := e.publish("@chunks 3\n@sleep 5s\nslow")
	e.runProxy(cfg)
	res, _ := e.result(id, 10*time.Second)
	if res.Status.State != contract.StateFailed || !strings.Contains(res.Metadata.Error, "task timeout") {
		t.Fatalf("result = %+v", res)
	}
	e.settled(3 * time.Second)
}
