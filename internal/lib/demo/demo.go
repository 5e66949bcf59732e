// Package demo is `make demo`: the Daedalus task path end to end on one machine. It starts an
// embedded NATS JetStream (or uses a real one), bootstraps the streams and the worker's
// consumer, starts the reference ACP agent (or points at a real agent), runs the proxy, and
// publishes tasks as JSON-RPC 2.0 message/send requests, printing each result with its timings.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/daedalus-dev/daedalus/internal/test/embednats"
	"github.com/daedalus-dev/daedalus/proxy"
	"github.com/daedalus-dev/daedalus/proxy/contract"
	"github.com/daedalus-dev/daedalus/proxy/refagent"
)

// Config of a demo run.
type Config struct {
	// NATSURL, when set, is a real NATS server to use instead of the embedded one.
	NATSURL string
	// AgentAddr or AgentCommand, when set, is a real ACP agent to use instead of the reference agent.
	AgentAddr    string
	AgentCommand string
	// Agent is how the proxy sets the agent's session up (auth method, mode, model).
	Agent proxy.AgentSetup
	// AgentEnv names the variables a spawned agent gets besides the basic ones: its keys.
	AgentEnv []string
	Worker   string
	// Prompts are the tasks to publish; empty means the reference agent's showcase.
	Prompts []string
	Timeout time.Duration
	// Logs receives the proxy's JSON logs; nil discards them.
	Logs io.Writer
	// Getenv reads the environment a spawned agent (AgentCommand) may get some of; nil
	// gives it an empty environment.
	Getenv func(string) string
}

// showcase exercises the reference agent: a plain answer, a streamed one with a tool call,
// a permission request, a longer task, and an answer larger than NATS's max payload, which
// travels in the outputs object store.
var showcase = []string{
	"Summarise the repository in one line.",
	"@tool\n@chunks 5\n@sleep 300ms\nList the open issues.",
	"@permission\nFix the typo in README.md.",
	"@chunks 10\n@sleep 1s\nRefactor the proxy's config parsing.",
	"@flood 3MiB 256KiB\nDump the build log.",
}

// defaultAgentEnv are the API keys of the agents the chart has presets for: on a laptop the
// demo hands a spawned agent the key its user has set (the proxy passes none by default).
var defaultAgentEnv = []string{"OPENAI_API_KEY", "CODEX_API_KEY", "ANTHROPIC_API_KEY"}

// ParseConfig reads the demo's flags.
func ParseConfig(args []string, usage io.Writer) (Config, error) {
	var c Config
	var prompt string
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.StringVar(&c.NATSURL, "nats-url", "", "use this NATS server instead of an embedded one (streams are bootstrapped idempotently)")
	fs.StringVar(&c.AgentAddr, "agent-addr", "", "use the ACP agent listening at host:port instead of the reference agent")
	fs.StringVar(&c.AgentCommand, "agent-cmd", "", "use this ACP agent command (stdio) instead of the reference agent")
	fs.StringVar(&c.Agent.AuthMethod, "auth-method", "", "ACP auth method to authenticate with (empty: the first env_var method whose variables are set)")
	fs.StringVar(&c.Agent.Mode, "session-mode", "", "session mode to switch the agent to (e.g. auto for codex-acp)")
	fs.StringVar(&c.Agent.Model, "model", "", "model to choose where the agent offers a choice")
	agentEnv := fs.String("agent-env", strings.Join(defaultAgentEnv, ","), "variables a spawned agent (--agent-cmd) gets besides PATH, HOME and the like: its API keys")
	fs.StringVar(&c.Worker, "worker", "copilot", "worker name")
	fs.StringVar(&prompt, "prompt", "", "publish this one prompt instead of the showcase")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Minute, "give up when the results have not all arrived by then")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if prompt != "" {
		c.Prompts = []string{prompt}
	}
	for _, name := range strings.Split(*agentEnv, ",") {
		if name = strings.TrimSpace(name); name != "" {
			c.AgentEnv = append(c.AgentEnv, name)
		}
	}
	if c.AgentAddr != "" && c.AgentCommand != "" {
		return c, errors.New("--agent-addr and --agent-cmd: give at most one")
	}
	return c, nil
}

// Run runs the demo and writes its report to out. It returns an error unless every task
// completed.
func Run(ctx context.Context, c Config, out io.Writer) error {
	logs := c.Logs
	if logs == nil {
		logs = io.Discard
	}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()

	url := c.NATSURL
	if url == "" {
		dir, err := os.MkdirTemp("", "daedalus-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		srv, err := embednats.Start(embednats.Options{StoreDir: dir})
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		url = srv.ClientURL()
		fmt.Fprintf(out, "NATS JetStream   embedded at %s (store %s)\n", url, dir)
	} else {
		fmt.Fprintf(out, "NATS JetStream   %s\n", url)
	}
	nc, js, err := proxy.Connect(proxy.NATSConfig{URL: url}, "daedalus-demo", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	bc := proxy.BootstrapConfig{
		Workers: []string{c.Worker}, AckWait: time.Minute, MaxAttempts: 3, Replicas: 1,
		TaskMaxAge: time.Hour, ResultMaxAge: 24 * time.Hour, StatusMaxAge: time.Hour, DuplicateWindow: time.Hour,
	}
	if err := proxy.Bootstrap(ctx, js, bc, log); err != nil {
		return err
	}
	fmt.Fprintf(out, "Bootstrap        streams %s, %s, %s; consumer %q on %s\n",
		contract.TasksStream, contract.ResultsStream, contract.StatusStream, c.Worker, contract.TaskSubject(c.Worker))

	workspace, err := os.MkdirTemp("", "daedalus-workspace-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(workspace)
	pc := proxy.Config{
		NATS: proxy.NATSConfig{URL: url}, Worker: c.Worker, Mode: proxy.ModeService,
		AgentAddr: c.AgentAddr, AgentCommand: strings.Fields(c.AgentCommand),
		StartupTimeout: 30 * time.Second, IdleTimeout: time.Minute, TaskTimeout: c.Timeout,
		DrainTimeout: 5 * time.Second, GracePeriod: 10 * time.Second, PermissionPolicy: proxy.PolicyAllow,
		Workspace: workspace, StatusInterval: 100 * time.Millisecond, SettleTimeout: time.Minute,
		Limits: proxy.DefaultLimits(), Agent: c.Agent, AgentEnv: c.AgentEnv,
	}
	prompts := c.Prompts
	switch {
	case c.AgentAddr != "":
		fmt.Fprintf(out, "ACP agent        %s\n", c.AgentAddr)
	case c.AgentCommand != "":
		fmt.Fprintf(out, "ACP agent        %s (stdio)\n", c.AgentCommand)
	default:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		actx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- refagent.ListenAndServe(actx, ln, false, refagent.Options{Log: log}) }()
		defer func() { stop(); <-done }()
		pc.AgentAddr = ln.Addr().String()
		fmt.Fprintf(out, "ACP agent        reference agent at %s\n", ln.Addr())
		if len(prompts) == 0 {
			prompts = showcase
		}
	}
	if len(prompts) == 0 {
		prompts = []string{"Say hello and describe what you can do in one sentence."}
	}
	if err := pc.Validate(); err != nil {
		return err
	}
	getenv := c.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	dialer := proxy.NewDialer(pc, getenv, logs)
	pctx, stopProxy := context.WithCancel(context.Background())
	proxyDone := make(chan error, 1)
	go func() { proxyDone <- proxy.NewRunner(pc, js, dialer, log).Run(pctx) }()
	defer func() { stopProxy(); <-proxyDone }()
	fmt.Fprintf(out, "Proxy            worker %q, service mode, workspace %s\n\n", c.Worker, workspace)

	results := make(chan *nats.Msg, len(prompts))
	sub, err := nc.ChanSubscribe(contract.ResultsPrefix+">", results)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	run := time.Now().UnixMilli()
	published := map[string]time.Time{}
	var order []string
	for i, p := range prompts {
		id := fmt.Sprintf("demo-%d-%d", run, i+1)
		if _, err := contract.PublishTask(ctx, js, c.Worker, id, p); err != nil {
			return fmt.Errorf("publishing task %s: %w", id, err)
		}
		published[id] = time.Now()
		order = append(order, id)
		fmt.Fprintf(out, "published %s  %q\n", id, firstLine(p))
	}
	fmt.Fprintln(out)

	got := map[string]contract.Result{}
	for len(got) < len(order) {
		select {
		case m := <-results:
			var r contract.Result
			if err := json.Unmarshal(m.Data, &r); err != nil {
				return fmt.Errorf("result on %s is not an A2A Task: %w", m.Subject, err)
			}
			if _, ours := published[r.ID]; ours {
				got[r.ID] = r
			}
		case <-ctx.Done():
			return fmt.Errorf("%d of %d results arrived within %s", len(got), len(order), c.Timeout)
		}
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tSTATE\tQUEUED\tPUBLISH→PROMPT\tEXECUTION\tPUBLISH→RESULT\tANSWER")
	failed := 0
	var stored []string
	for _, id := range order {
		r := got[id]
		if r.Status.State != contract.StateCompleted {
			failed++
		}
		answer := r.Metadata.Error
		if len(r.Artifacts) > 0 {
			answer = r.Artifacts[0].Parts[0].Text
		}
		if o := r.Metadata.Output; o != nil && o.Object != nil {
			line, err := readStored(ctx, js, id, *o.Object)
			if err != nil {
				return err
			}
			stored = append(stored, line)
			answer = fmt.Sprintf("[%d bytes stored] %s", o.Object.Size, answer)
		}
		t := r.Metadata.Timings
		if t == nil {
			t = &contract.Timings{}
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f ms\t%.1f ms\t%.1f ms\t%.1f ms\t%s\n", id, r.Status.State,
			t.QueuedMs, t.DispatchMs, t.ExecutionMs, t.TotalMs, truncate(firstLine(answer), 60))
	}
	tw.Flush()
	if len(stored) > 0 {
		fmt.Fprintf(out, "\nanswers too large for a NATS message, read back from object store %s:\n", contract.OutputsBucket)
		for _, l := range stored {
			fmt.Fprintln(out, "  "+l)
		}
	}
	if last := got[order[len(order)-1]]; last.Metadata.Agent != "" {
		auth := last.Metadata.AuthMethod
		if auth == "" {
			auth = "none"
		}
		fmt.Fprintf(out, "\nanswered by %s (ACP auth: %s)\n", last.Metadata.Agent, auth)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d tasks did not complete", failed, len(order))
	}
	fmt.Fprintf(out, "\nall %d tasks completed; results are on %s (subjects %s<task id>)\n", len(order), contract.ResultsStream, contract.ResultsPrefix)
	return nil
}

// readStored reads a stored answer back the way a requester does (see the README's task
// contract) and says what it found.
func readStored(ctx context.Context, js jetstream.JetStream, id string, ref contract.OutputRef) (string, error) {
	data, err := contract.ReadOutput(ctx, js, ref)
	if err != nil {
		return "", fmt.Errorf("task %s: %w", id, err)
	}
	return fmt.Sprintf("%s  %s: %d bytes, digest %s verified", id, ref.URI, len(data), ref.Digest), nil
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "@") {
			return l
		}
	}
	return strings.TrimSpace(s)
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
