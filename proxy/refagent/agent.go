package refagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	acp "github.com/coder/acp-go-sdk"

	"github.com/daedalus-dev/daedalus/internal/lib/acpconn"
	"github.com/daedalus-dev/daedalus/internal/lib/bytesize"
)

// Options shape every connection an agent serves.
type Options struct {
	// CrashRate is the probability, per prompt, that the agent crashes mid-prompt as if
	// the prompt said @crash. Chaos tests set it.
	CrashRate float64
	// Latency adds a uniformly random delay in [0, Latency) before each answer.
	Latency time.Duration
	// Crash is what a crash does. Nil drops the connection (in-process agents); the
	// standalone binary exits the process.
	Crash func()
	// AuthMethods are advertised in initialize; when any are, session/new answers
	// "authentication required" until authenticate names one of them.
	AuthMethods []acp.AuthMethod
	// Modes are the session modes offered, the first current; set_mode switches.
	Modes []string
	// Models are offered as the session's model config option, the first current.
	Models []string
	// OnPrompt, when set, is called as each session/prompt arrives.
	OnPrompt func(text string, at time.Time)
	Log      *slog.Logger
}

func (o Options) logger() *slog.Logger {
	if o.Log != nil {
		return o.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Serve runs ACP on one connection until the peer closes it or ctx ends; then it closes rwc.
func Serve(ctx context.Context, rwc io.ReadWriteCloser, opts Options) {
	a := &agent{opts: opts, sessions: map[acp.SessionId]*sessionState{}}
	a.crash = opts.Crash
	if a.crash == nil {
		a.crash = func() { _ = rwc.Close() }
	}
	conn, start := acpconn.Agent(a, rwc, rwc, opts.logger())
	a.conn = conn
	start()
	select {
	case <-a.conn.Done():
	case <-ctx.Done():
	}
	_ = rwc.Close()
}

// ListenAndServe accepts ACP connections on ln until ctx ends, serving each concurrently.
// With once set it returns after the first connection ends, which is how the agent container
// of a Job exits when its proxy is done.
func ListenAndServe(ctx context.Context, ln net.Listener, once bool, opts Options) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accepting ACP connections: %w", err)
		}
		if once {
			Serve(ctx, c, opts)
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			Serve(ctx, c, opts)
		}()
	}
}

type agent struct {
	conn  *acp.AgentSideConnection
	opts  Options
	crash func()

	mu            sync.Mutex
	sessions      map[acp.SessionId]*sessionState // the sessions this connection created
	next          int
	authenticated bool
}

// sessionState is what a session was set up with.
type sessionState struct {
	mode, model string
	mcp         []string // the MCP servers' names
}

func (a *agent) Initialize(_ context.Context, p acp.InitializeRequest) (acp.InitializeResponse, error) {
	return acp.InitializeResponse{
		ProtocolVersion:   acp.ProtocolVersionNumber,
		AgentCapabilities: acp.AgentCapabilities{},
		AgentInfo:         &acp.Implementation{Name: "daedalus-refagent", Version: "1"},
		AuthMethods:       append([]acp.AuthMethod{}, a.opts.AuthMethods...),
	}, nil
}

func (a *agent) Authenticate(_ context.Context, p acp.AuthenticateRequest) (acp.AuthenticateResponse, error) {
	for _, m := range a.opts.AuthMethods {
		if (m.EnvVar != nil && m.EnvVar.Id == p.MethodId) || (m.Agent != nil && m.Agent.Id == p.MethodId) {
			a.mu.Lock()
			a.authenticated = true
			a.mu.Unlock()
			return acp.AuthenticateResponse{}, nil
		}
	}
	return acp.AuthenticateResponse{}, acp.NewInvalidParams(map[string]any{"error": "unknown auth method " + p.MethodId})
}

func (a *agent) NewSession(_ context.Context, p acp.NewSessionRequest) (acp.NewSessionResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.opts.AuthMethods) > 0 && !a.authenticated {
		return acp.NewSessionResponse{}, acp.NewAuthRequired(nil)
	}
	a.next++
	id := acp.SessionId("ref-" + strconv.Itoa(a.next))
	st := &sessionState{}
	for _, m := range p.McpServers {
		if m.Stdio != nil {
			st.mcp = append(st.mcp, m.Stdio.Name)
		}
	}
	a.sessions[id] = st
	resp := acp.NewSessionResponse{SessionId: id}
	if len(a.opts.Modes) > 0 {
		st.mode = a.opts.Modes[0]
		modes := &acp.SessionModeState{CurrentModeId: acp.SessionModeId(st.mode)}
		for _, m := range a.opts.Modes {
			modes.AvailableModes = append(modes.AvailableModes, acp.SessionMode{Id: acp.SessionModeId(m), Name: m})
		}
		resp.Modes = modes
	}
	if len(a.opts.Models) > 0 {
		st.model = a.opts.Models[0]
		opts := acp.SessionConfigSelectOptionsUngrouped{}
		for _, m := range a.opts.Models {
			opts = append(opts, acp.SessionConfigSelectOption{Value: acp.SessionConfigValueId(m), Name: m})
		}
		category := acp.SessionConfigOptionCategoryModel
		resp.ConfigOptions = []acp.SessionConfigOption{{Select: &acp.SessionConfigOptionSelect{
			Id: "model", Name: "Model", Type: "select", Category: &category,
			CurrentValue: acp.SessionConfigValueId(st.model), Options: acp.SessionConfigSelectOptions{Ungrouped: &opts},
		}}}
	}
	return resp, nil
}

// Cancel needs no work of its own: the SDK has already cancelled the prompt's context.
func (a *agent) Cancel(context.Context, acp.CancelNotification) error { return nil }

func (a *agent) CloseSession(_ context.Context, p acp.CloseSessionRequest) (acp.CloseSessionResponse, error) {
	a.mu.Lock()
	delete(a.sessions, p.SessionId)
	a.mu.Unlock()
	return acp.CloseSessionResponse{}, nil
}

func (a *agent) ListSessions(context.Context, acp.ListSessionsRequest) (acp.ListSessionsResponse, error) {
	return acp.ListSessionsResponse{}, acp.NewMethodNotFound(acp.AgentMethodSessionList)
}

func (a *agent) ResumeSession(context.Context, acp.ResumeSessionRequest) (acp.ResumeSessionResponse, error) {
	return acp.ResumeSessionResponse{}, acp.NewMethodNotFound(acp.AgentMethodSessionResume)
}

func (a *agent) SetSessionConfigOption(_ context.Context, p acp.SetSessionConfigOptionRequest) (acp.SetSessionConfigOptionResponse, error) {
	v := p.ValueId
	if v == nil || v.ConfigId != "model" || !slices.Contains(a.opts.Models, string(v.Value)) {
		return acp.SetSessionConfigOptionResponse{}, acp.NewInvalidParams(map[string]any{"error": "no such config option or value"})
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.sessions[v.SessionId]
	if !ok {
		return acp.SetSessionConfigOptionResponse{}, acp.NewInvalidParams(map[string]any{"error": "unknown session " + string(v.SessionId)})
	}
	st.model = string(v.Value)
	return acp.SetSessionConfigOptionResponse{}, nil
}

func (a *agent) SetSessionMode(_ context.Context, p acp.SetSessionModeRequest) (acp.SetSessionModeResponse, error) {
	if !slices.Contains(a.opts.Modes, string(p.ModeId)) {
		return acp.SetSessionModeResponse{}, acp.NewInvalidParams(map[string]any{"error": "unknown mode " + string(p.ModeId)})
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	st, ok := a.sessions[p.SessionId]
	if !ok {
		return acp.SetSessionModeResponse{}, acp.NewInvalidParams(map[string]any{"error": "unknown session " + string(p.SessionId)})
	}
	st.mode = string(p.ModeId)
	return acp.SetSessionModeResponse{}, nil
}

// Prompt runs the prompt's script.
func (a *agent) Prompt(ctx context.Context, p acp.PromptRequest) (acp.PromptResponse, error) {
	var text []string
	for _, b := range p.Prompt {
		if b.Text != nil {
			text = append(text, b.Text.Text)
		}
	}
	prompt := strings.Join(text, "\n")
	if a.opts.OnPrompt != nil {
		a.opts.OnPrompt(prompt, time.Now())
	}
	a.mu.Lock()
	st, known := a.sessions[p.SessionId]
	var setup string
	if known {
		setup = fmt.Sprintf(" (mode: %s, model: %s, mcp: %s)", st.mode, st.model, strings.Join(st.mcp, ","))
	}
	a.mu.Unlock()
	if !known {
		return acp.PromptResponse{}, acp.NewInvalidParams(map[string]any{"error": "unknown session " + string(p.SessionId)})
	}
	sc, err := parseScript(prompt)
	if err != nil {
		return acp.PromptResponse{}, acp.NewInvalidParams(map[string]any{"error": err.Error()})
	}
	if a.opts.CrashRate > 0 && rand.Float64() < a.opts.CrashRate {
		sc.crash = true
	}
	if a.opts.Latency > 0 {
		sc.sleep += rand.N(a.opts.Latency)
	}
	if sc.setup {
		sc.text += setup
	}
	return a.run(ctx, p.SessionId, sc)
}

// run plays the script. ctx ending means the client cancelled the turn: the agent then
// answers stopReason cancelled, as ACP requires, unless the script ignores cancellation.
func (a *agent) run(ctx context.Context, id acp.SessionId, sc script) (acp.PromptResponse, error) {
	cancelled := ctx.Done()
	if sc.ignoreCancel {
		cancelled = nil
	}
	ctx = context.WithoutCancel(ctx)
	answer := "echo: " + sc.text
	for i := range sc.tools {
		tid := acp.ToolCallId(fmt.Sprintf("tool-many-%d", i+1))
		if err := a.update(ctx, id, acp.StartToolCall(tid, fmt.Sprintf("Step %d", i+1),
			acp.WithStartKind(acp.ToolKindOther), acp.WithStartStatus(acp.ToolCallStatusInProgress))); err != nil {
			return acp.PromptResponse{}, err
		}
		if err := a.update(ctx, id, acp.UpdateToolCall(tid, acp.WithUpdateStatus(acp.ToolCallStatusCompleted))); err != nil {
			return acp.PromptResponse{}, err
		}
	}
	if sc.tool {
		if err := a.update(ctx, id, acp.StartToolCall("tool-1", "Read the workspace",
			acp.WithStartKind(acp.ToolKindRead), acp.WithStartStatus(acp.ToolCallStatusInProgress))); err != nil {
			return acp.PromptResponse{}, err
		}
		if err := a.update(ctx, id, acp.UpdateToolCall("tool-1", acp.WithUpdateStatus(acp.ToolCallStatusCompleted))); err != nil {
			return acp.PromptResponse{}, err
		}
	}
	if sc.permission {
		title, kind := "Edit README.md", acp.ToolKindEdit
		if sc.permissionTitle != "" {
			title, kind = sc.permissionTitle, sc.permissionKind
		}
		opts := []acp.PermissionOption{
			{OptionId: "yes", Name: "Allow once", Kind: acp.PermissionOptionKindAllowOnce},
			{OptionId: "always", Name: "Always allow", Kind: acp.PermissionOptionKindAllowAlways},
			{OptionId: "no", Name: "Reject", Kind: acp.PermissionOptionKindRejectOnce},
		}
		if sc.permissionKinds != nil {
			opts = nil
			for _, k := range sc.permissionKinds {
				opts = append(opts, acp.PermissionOption{OptionId: acp.PermissionOptionId(k), Name: k, Kind: acp.PermissionOptionKind(k)})
			}
		}
		resp, err := a.conn.RequestPermission(ctx, acp.RequestPermissionRequest{
			SessionId: id,
			ToolCall:  acp.ToolCallUpdate{ToolCallId: "perm-1", Title: &title, Kind: &kind},
			Options:   opts,
		})
		if err != nil {
			return acp.PromptResponse{}, err
		}
		switch o := resp.Outcome; {
		case o.Cancelled != nil:
			return acp.PromptResponse{StopReason: acp.StopReasonCancelled}, nil
		case o.Selected != nil:
			answer += " (permission: " + string(o.Selected.OptionId) + ")"
		}
	}
	if sc.env {
		answer = environment()
	}
	if sc.floodTotal > 0 {
		return a.flood(ctx, id, sc, cancelled)
	}
	chunks := splitChunks(answer, sc.chunks)
	if sc.crash {
		_ = a.update(ctx, id, acp.UpdateAgentMessageText(chunks[0]))
		a.crash()
		return acp.PromptResponse{}, errors.New("crashed")
	}
	// Work: the sleep is spread between the chunks.
	step := sc.sleep / time.Duration(len(chunks))
	for _, c := range chunks {
		if step > 0 {
			t := time.NewTimer(step)
			select {
			case <-cancelled:
				t.Stop()
				return acp.PromptResponse{StopReason: acp.StopReasonCancelled}, nil
			case <-t.C:
			}
		}
		if err := a.update(ctx, id, acp.UpdateAgentMessageText(c)); err != nil {
			return acp.PromptResponse{}, err
		}
	}
	if sc.errCode != 0 {
		return acp.PromptResponse{}, &acp.RequestError{Code: sc.errCode, Message: sc.errMsg}
	}
	select {
	case <-cancelled:
		return acp.PromptResponse{StopReason: acp.StopReasonCancelled}, nil
	default:
	}
	return acp.PromptResponse{StopReason: sc.stop}, nil
}

// flood streams the script's flood as the answer, chunk by chunk, as fast as the client reads.
func (a *agent) flood(ctx context.Context, id acp.SessionId, sc script, cancelled <-chan struct{}) (acp.PromptResponse, error) {
	var err error
	Flood(sc.floodTotal, sc.floodChunk, func(c string) bool {
		select {
		case <-cancelled:
			err = context.Canceled
			return false
		default:
		}
		err = a.update(ctx, id, acp.UpdateAgentMessageText(c))
		return err == nil
	})
	switch {
	case errors.Is(err, context.Canceled):
		return acp.PromptResponse{StopReason: acp.StopReasonCancelled}, nil
	case err != nil:
		return acp.PromptResponse{}, err
	}
	return acp.PromptResponse{StopReason: sc.stop}, nil
}

// Flood yields the text of "@flood total chunk" in chunks of at most chunk bytes: chunk i
// repeats the letter 'a'+i%26, so any stretch of it can be checked. It stops early when
// yield returns false.
func Flood(total, chunk int64, yield func(string) bool) {
	chunk = max(1, chunk)
	for i := int64(0); total > 0; i++ {
		n := min(chunk, total)
		if !yield(strings.Repeat(string(rune('a'+i%26)), int(n))) {
			return
		}
		total -= n
	}
}

// environment is the "@env" answer: the agent's environment, one KEY=value a line, sorted,
// then whether the process that spawned it lets it read that process's environment.
func environment() string {
	env := slices.Sorted(slices.Values(os.Environ()))
	parent := "parent-environ: unreadable"
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", os.Getppid())); err == nil {
		parent = "parent-environ: readable\n" + strings.ReplaceAll(string(b), "\x00", "\n")
	}
	return strings.Join(env, "\n") + "\n" + parent
}

func (a *agent) update(ctx context.Context, id acp.SessionId, u acp.SessionUpdate) error {
	return a.conn.SessionUpdate(ctx, acp.SessionNotification{SessionId: id, Update: u})
}

// script is a parsed prompt.
type script struct {
	text       string
	chunks     int
	sleep      time.Duration
	tool       bool
	permission bool
	// permissionKinds, when set, are the option kinds offered (each option's id is its kind).
	permissionKinds []string
	permissionTitle string
	permissionKind  acp.ToolKind
	setup           bool // answer with the session's mode, model and MCP servers
	env             bool
	tools           int
	floodTotal      int64
	floodChunk      int64
	ignoreCancel    bool
	crash           bool
	errCode         int
	errMsg          string
	stop            acp.StopReason
}

func parseScript(prompt string) (script, error) {
	sc := script{chunks: 1, stop: acp.StopReasonEndTurn}
	var text []string
	for _, line := range strings.Split(prompt, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "@") {
			text = append(text, line)
			continue
		}
		arg := func() (string, error) {
			if len(f) < 2 {
				return "", fmt.Errorf("%s needs an argument", f[0])
			}
			return f[1], nil
		}
		switch f[0] {
		case "@chunks":
			v, err := arg()
			if err != nil {
				return sc, err
			}
			if sc.chunks, err = strconv.Atoi(v); err != nil || sc.chunks < 1 {
				return sc, fmt.Errorf("@chunks %q: want a positive number", v)
			}
		case "@sleep":
			v, err := arg()
			if err != nil {
				return sc, err
			}
			if sc.sleep, err = time.ParseDuration(v); err != nil {
				return sc, fmt.Errorf("@sleep: %w", err)
			}
		case "@tool":
			sc.tool = true
		case "@permission":
			// @permission [kinds [tool-kind title…]]: the option kinds offered, comma-separated,
			// and the tool call asked about.
			sc.permission = true
			if len(f) > 1 {
				sc.permissionKinds = strings.Split(f[1], ",")
			}
			if len(f) > 3 {
				sc.permissionKind, sc.permissionTitle = acp.ToolKind(f[2]), strings.Join(f[3:], " ")
			}
		case "@env":
			sc.env = true
		case "@tools":
			v, err := arg()
			if err != nil {
				return sc, err
			}
			if sc.tools, err = strconv.Atoi(v); err != nil || sc.tools < 1 {
				return sc, fmt.Errorf("@tools %q: want a positive number", v)
			}
		case "@flood":
			// @flood total [chunk]: answer with total bytes in chunks (default 1MiB).
			v, err := arg()
			if err != nil {
				return sc, err
			}
			if sc.floodTotal, err = bytesize.Parse(v); err != nil {
				return sc, fmt.Errorf("@flood: %w", err)
			}
			sc.floodChunk = 1 << 20
			if len(f) > 2 {
				if sc.floodChunk, err = bytesize.Parse(f[2]); err != nil || sc.floodChunk == 0 {
					return sc, fmt.Errorf("@flood chunk %q: want a positive byte count", f[2])
				}
			}
		case "@setup":
			sc.setup = true
		case "@ignore-cancel":
			sc.ignoreCancel = true
		case "@crash":
			sc.crash = true
		case "@error":
			v, err := arg()
			if err != nil {
				return sc, err
			}
			if sc.errCode, err = strconv.Atoi(v); err != nil || sc.errCode == 0 {
				return sc, fmt.Errorf("@error %q: want a non-zero JSON-RPC code", v)
			}
			sc.errMsg = strings.Join(f[2:], " ")
		case "@stop":
			v, err := arg()
			if err != nil {
				return sc, err
			}
			sc.stop = acp.StopReason(v)
		default:
			return sc, fmt.Errorf("unknown directive %s", f[0])
		}
	}
	sc.text = strings.TrimSpace(strings.Join(text, "\n"))
	return sc, nil
}

// splitChunks splits s into n non-empty pieces (fewer when s is shorter).
func splitChunks(s string, n int) []string {
	r := []rune(s)
	n = max(1, min(n, len(r)))
	out := make([]string, 0, n)
	for i := range n {
		out = append(out, string(r[i*len(r)/n:(i+1)*len(r)/n]))
	}
	return out
}
