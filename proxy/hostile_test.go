package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	acp "github.com/coder/acp-go-sdk"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/daedalus-dev/daedalus/proxy/contract"
	"github.com/daedalus-dev/daedalus/proxy/refagent"
)

// Hostile or careless agents and requesters: answers larger than NATS's max payload, floods of
// text and tool calls, results that cannot be stored, permission requests the policy must not
// allow.

// floodText is what "@flood total chunk" answers.
func floodText(total, chunk int64) string {
	var b strings.Builder
	refagent.Flood(total, chunk, func(c string) bool { b.WriteString(c); return true })
	return b.String()
}

// The attack: a 600 KB answer was put in the result twice (artifact and status message) plus
// the task, making a message over NATS's 1 MiB max payload; the proxy retried the publish
// until shutdown while its heartbeats held the task. A 600 KB answer must now travel inline,
// once, and a 1.5 MB one through the outputs object store, with an excerpt and a reference.
func TestLargeAnswerSettles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		total, chunk int64
		stored       bool
	}{
		{"600KB inline", 600_000, 100_000, false},
		{"1.5MB in the object store", 1_500_000, 100_000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			id := e.publish(fmt.Sprintf("@flood %d %d\nbig", tc.total, tc.chunk))
			p := e.runProxy(e.config(startAgent(t, refagent.Options{})))
			res, raw := e.result(id, 20*time.Second)
			if err := p.wait(t, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			e.settled(3 * time.Second)
			if max := e.nc.MaxPayload(); int64(len(raw.Data)+len(raw.Header)) > max {
				t.Errorf("result is %d bytes, over the max payload %d", len(raw.Data), max)
			}
			want := floodText(tc.total, tc.chunk)
			if res.Status.State != contract.StateCompleted || len(res.Artifacts) != 1 {
				t.Fatalf("result = %+v", res.Metadata)
			}
			parts := res.Artifacts[0].Parts
			if !tc.stored {
				if len(parts) != 1 || parts[0].Text != want || res.Metadata.Output != nil {
					t.Fatalf("answer not inline and whole: %d parts, output %+v", len(parts), res.Metadata.Output)
				}
				if n := len(res.Status.Message.Parts[0].Text); n > maxExcerpt+64 {
					t.Errorf("status message repeats the answer: %d bytes", n)
				}
				return
			}
			o := res.Metadata.Output
			if o == nil || o.Object == nil || len(parts) != 2 || parts[1].File == nil {
				t.Fatalf("no object reference: output %+v, parts %d", o, len(parts))
			}
			if parts[0].Text != want[:o.ExcerptBytes] || o.ExcerptBytes == 0 || o.ExcerptBytes > maxExcerpt {
				t.Errorf("excerpt of %d bytes does not begin the answer", o.ExcerptBytes)
			}
			ref := *o.Object
			sum := sha256.Sum256([]byte(want))
			if ref.Bucket != contract.OutputsBucket || ref.Name != id+"/attempt-1" || ref.Size != tc.total ||
				ref.Digest != "SHA-256="+base64.URLEncoding.EncodeToString(sum[:]) || parts[1].File.URI != ref.URI ||
				ref.URI != "nats-object://AGENT_OUTPUTS/"+ref.Name {
				t.Errorf("reference = %+v", ref)
			}
			got, err := contract.ReadOutput(t.Context(), e.js, ref)
			if err != nil || string(got) != want {
				t.Fatalf("ReadOutput: %d bytes, %v; want the whole answer", len(got), err)
			}
		})
	}
}

// A task message near the max payload cannot also travel back as the result's history: the
// result leaves it out and says so, and keeps its small answer inline.
func TestHugeTaskIsLeftOutOfTheResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.publish("@flood 10\n" + strings.Repeat("x", 1_047_900)) // the task message just fits the 1 MiB max payload
	e.runProxy(e.config(startAgent(t, refagent.Options{})))
	res, raw := e.result(id, 20*time.Second)
	if res.Status.State != contract.StateCompleted || !res.Metadata.HistoryOmitted || res.History != nil ||
		res.Metadata.Output != nil || res.Artifacts[0].Parts[0].Text != "aaaaaaaaaa" {
		t.Fatalf("result (%d bytes) = %+v, history %d bytes", len(raw.Data), res.Metadata, len(res.History))
	}
	e.settled(3 * time.Second)
}

// Bootstrap gives the outputs object store the results' max age, so a stored answer lives as
// long as its result.
func TestBootstrapCreatesTheOutputsBucket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	obs, err := e.js.ObjectStore(t.Context(), contract.OutputsBucket)
	if err != nil {
		t.Fatal(err)
	}
	st, err := obs.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != testBootstrap().ResultMaxAge || st.Storage() != jetstream.FileStorage {
		t.Errorf("bucket TTL %s, storage %v; want the results' max age, file storage", st.TTL(), st.Storage())
	}
}

// The attack: a result that could never be stored (here: the results stream was deleted) was
// retried until shutdown while the heartbeats held the delivery. Settling now has a deadline,
// after which the task is handed back.
func TestUnstorableResultIsNakdAtTheSettleDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.publish("@sleep 500ms\nanswer nobody can store")
	cfg := e.config(startAgent(t, refagent.Options{}))
	cfg.SettleTimeout = time.Second
	p := e.runProxy(cfg)
	e.waitDelivered(1)
	if err := e.js.DeleteStream(t.Context(), contract.ResultsStream); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	// Handed back: the next fetch gets the task again, as its second delivery.
	cons, err := e.js.Consumer(t.Context(), contract.TasksStream, testWorker)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range b.Messages() {
		n++
		md, _ := m.Metadata()
		if task, _ := contract.DecodeTask(m.Data()); task.ID != id || md.NumDelivered != 2 {
			t.Errorf("redelivered %q as delivery %d, want %q as delivery 2", task.ID, md.NumDelivered, id)
		}
	}
	if n != 1 {
		t.Fatalf("the task was not handed back (%d messages fetched)", n)
	}
}

// A publish that fails for a reason retrying cannot mend returns at once, whatever time is
// left; a transient one is retried until the deadline.
func TestPublishRetryingStopsOnPermanentErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	big := &nats.Msg{Subject: contract.ResultSubject("too-big"), Data: make([]byte, e.nc.MaxPayload()+1)}
	err := publishRetrying(ctx, e.js, big, "too-big")
	if !isPermanent(err) || !errors.Is(err, nats.ErrMaxPayload) || ctx.Err() != nil {
		t.Fatalf("err = %v (ctx %v), want the max payload error at once", err, ctx.Err())
	}
	if err := e.js.DeleteStream(t.Context(), contract.ResultsStream); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	err = publishRetrying(short, e.js, &nats.Msg{Subject: contract.ResultSubject("nowhere"), Data: []byte("{}")}, "nowhere")
	if err == nil || short.Err() == nil {
		t.Fatalf("err = %v, want a failure at the deadline", err)
	}
}

// The attack: 200 × 1 MB of text took the proxy's heap to 607 MiB. The answer, the status
// buffer and the tool calls are now held only up to their limits, and the result says what
// was dropped.
func TestFloodIsHeldWithinTheLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const total, chunk, kept = 8 << 20, 512 << 10, 64 << 10
	id := e.publish(fmt.Sprintf("@tools 300\n@flood %d %d\nflood", total, chunk))
	cfg := e.config(startAgent(t, refagent.Options{}))
	cfg.Limits = Limits{MaxOutput: kept, StatusBuffer: 4 << 10, MaxToolCalls: 20}
	cfg.StatusInterval = 200 * time.Millisecond
	e.runProxy(cfg)
	res, _ := e.result(id, 60*time.Second)
	if res.Status.State != contract.StateCompleted {
		t.Fatalf("state %q: %s", res.Status.State, res.Metadata.Error)
	}
	o := res.Metadata.Output
	if o == nil || o.Bytes != kept || o.DroppedBytes != total-kept {
		t.Fatalf("output = %+v, want 64 KiB kept and the rest counted as dropped", o)
	}
	if got := res.Artifacts[0].Parts[0].Text; got != floodText(total, chunk)[:kept] {
		t.Errorf("kept answer (%d bytes) is not the first 64 KiB", len(got))
	}
	if res.Metadata.ToolCalls != 300 {
		t.Errorf("toolCalls = %d, want all 300 counted", res.Metadata.ToolCalls)
	}
	dropped := false
	for i, ev := range e.statuses(id) {
		if ev.Status.Message != nil && len(ev.Status.Message.Parts[0].Text) > 4<<10 && !ev.Final {
			t.Errorf("status event %d holds %d bytes of text, over the 4 KiB buffer", i, len(ev.Status.Message.Parts[0].Text))
		}
		if tools, ok := ev.Metadata["toolCalls"].([]any); ok && len(tools) > 20 {
			t.Errorf("status event %d holds %d tool calls, over the limit of 20", i, len(tools))
		}
		if ev.Metadata["droppedBytes"] != nil {
			dropped = true
		}
	}
	if !dropped {
		t.Error("no status event says it dropped text")
	}
	e.settled(3 * time.Second)
}

func TestCappedText(t *testing.T) {
	t.Parallel()
	c := cappedText{limit: 10}
	for _, s := range []string{"héllo", " wörld", "!!"} {
		c.write(s)
	}
	if c.String() != "héllo wö" || c.dropped != 5 || cap(c.buf) > 10 {
		t.Errorf("kept %q (cap %d), dropped %d", c.String(), cap(c.buf), c.dropped)
	}
	c.reset()
	c.write("ok")
	if c.String() != "ok" || c.dropped != 0 {
		t.Errorf("after reset: %q, dropped %d", c.String(), c.dropped)
	}
}

// The attack: under the reject policy, an agent offering only allow_always (or an option of a
// kind ACP does not define) got it picked, so the tool call was allowed. End to end through
// the reference agent: reject answers cancelled, and the allowlist allows only what it lists.
func TestPermissionPolicyEndToEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, policy string
		allow        []string
		prompt       string
		state, want  string
	}{
		{"reject, only allow_always", PolicyReject, nil, "@permission allow_always\nx", contract.StateCanceled, ""},
		{"reject, unknown kind", PolicyReject, nil, "@permission custom,allow_once\nx", contract.StateCanceled, ""},
		{"allowlist, listed title", PolicyAllowlist, []string{"title:Edit *.md"}, "@permission\nx", contract.StateCompleted, "echo: x (permission: yes)"},
		{"allowlist, unlisted kind", PolicyAllowlist, []string{"read"}, "@permission\nx", contract.StateCompleted, "echo: x (permission: no)"},
		{"allowlist, listed kind", PolicyAllowlist, []string{"execute"}, "@permission allow_once,reject_once execute Run make test\nx", contract.StateCompleted, "echo: x (permission: allow_once)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			cfg := e.config(startAgent(t, refagent.Options{}))
			cfg.PermissionPolicy, cfg.PermissionAllowlist = tc.policy, tc.allow
			id := e.publish(tc.prompt)
			e.runProxy(cfg)
			res, _ := e.result(id, 10*time.Second)
			got := ""
			if len(res.Artifacts) > 0 {
				got = res.Artifacts[0].Parts[0].Text
			}
			if res.Status.State != tc.state || got != tc.want {
				t.Fatalf("state %q, answer %q; want %q, %q", res.Status.State, got, tc.state, tc.want)
			}
		})
	}
}

// A permission request may name its tool call only by id; the allowlist then matches the kind
// and title the agent reported for that call earlier in the session, and the session
// remembers no more calls than its limit.
func TestAllowlistMatchesACallKnownByID(t *testing.T) {
	t.Parallel()
	rules, _ := ParseAllowRules([]string{"read"})
	s := &session{policy: PermissionPolicy{Mode: PolicyAllowlist, Allow: rules}, tools: toolLog{limit: 1}, log: testLogger(t)}
	s.update(Update{Tool: &ToolEvent{ID: "t1", Kind: "read", Title: "Read go.mod"}})
	s.update(Update{Tool: &ToolEvent{ID: "t2", Kind: "read", Title: "Read main.go"}}) // past the limit
	opts := []acp.PermissionOption{{OptionId: "y", Kind: acp.PermissionOptionKindAllowOnce}, {OptionId: "n", Kind: acp.PermissionOptionKindRejectOnce}}
	for call, want := range map[string]string{"t1": "y", "t2": "n"} {
		resp, err := s.RequestPermission(t.Context(), acp.RequestPermissionRequest{ToolCall: acp.ToolCallUpdate{ToolCallId: acp.ToolCallId(call)}, Options: opts})
		if err != nil || resp.Outcome.Selected == nil || string(resp.Outcome.Selected.OptionId) != want {
			t.Errorf("%s: outcome %+v, err %v; want %q", call, resp.Outcome, err, want)
		}
	}
}

// waitDelivered waits until the worker's consumer has delivered n messages.
func (e *env) waitDelivered(n uint64) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ci, err := e.consumerInfo()
		if err == nil && ci.Delivered.Consumer >= n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("consumer did not deliver %d messages: %+v, %v", n, ci, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
