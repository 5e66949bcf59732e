package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	acp "github.com/coder/acp-go-sdk"

	"github.com/daedalus-dev/daedalus/internal/lib/acpconn"
)

// Update is what the proxy reports of one session/update notification.
type Update struct {
	// Text is a chunk of the agent's answer (agent_message_chunk).
	Text string
	// Tool is set for tool_call and tool_call_update.
	Tool *ToolEvent
	// Plan holds the plan's entries when the agent sent one.
	Plan []string
}

// ToolEvent is a tool call the agent started or updated.
type ToolEvent struct {
	ID     string `json:"id"`
	Title  string `json:"title,omitempty"`
	Kind   string `json:"kind,omitempty"`
	Status string `json:"status,omitempty"`
	// Started marks the tool_call that announced the call, as opposed to its updates.
	Started bool `json:"-"`
}

// session is the client side of one ACP connection: it answers the agent's requests and
// forwards its updates. It implements acp.Client.
type session struct {
	conn       *acp.ClientSideConnection
	agent      AgentConn
	id         acp.SessionId
	policy     PermissionPolicy
	tools      toolLog
	flow       *flowReader
	log        *slog.Logger
	agentName  string // from initialize's agentInfo: name and version
	authMethod string // the auth method authenticated with, if any
	onUpdate   atomic.Pointer[func(Update)]
	cancelling atomic.Bool
	closeOnce  sync.Once
}

// errAgentGone means the agent's connection ended before it answered: the agent crashed or
// exited. It is an infrastructure failure, retried on another delivery.
var errAgentGone = errors.New("agent connection closed before it answered")

// openSession connects to the agent, initializes the connection (protocol version 1),
// authenticates and creates a session in workspace set up as setup asks. The caller bounds
// ctx with the startup timeout. Updates are dropped until the session is bound to a task with
// setOnUpdate. An answer the agent gives to any of these calls is a *SetupError (final); a
// connection that drops is not.
func openSession(ctx context.Context, d Dialer, workspace string, policy PermissionPolicy, setup AgentSetup, meta map[string]any,
	log *slog.Logger) (*session, error) {
	ac, err := d.Dial(ctx)
	if err != nil {
		return nil, err
	}
	s := &session{agent: ac, policy: policy, tools: toolLog{limit: policy.MaxTools}, log: log,
		flow: newFlowReader(ac, flowWindow, flowMarkEvery)}
	conn, start := acpconn.Client(s, ac, s.flow, log)
	s.conn = conn
	go func() { <-conn.Done(); s.flow.stop() }()
	start()
	stop := context.AfterFunc(ctx, func() { _ = ac.Close() }) // an agent that never answers
	defer stop()
	if err := s.setUp(ctx, d, workspace, setup, meta); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// setUp runs initialize, authenticate, session/new and the mode and model choices.
func (s *session) setUp(ctx context.Context, d Dialer, workspace string, setup AgentSetup, meta map[string]any) error {
	init, err := s.conn.Initialize(ctx, acp.InitializeRequest{
		ProtocolVersion:    acp.ProtocolVersionNumber,
		ClientInfo:         &acp.Implementation{Name: "daedalus-proxy", Version: "1"},
		ClientCapabilities: acp.ClientCapabilities{},
		Meta:               meta,
	})
	if err != nil {
		return s.setupErr(ctx, "initialize", err)
	}
	if init.ProtocolVersion != acp.ProtocolVersionNumber {
		return &SetupError{Step: "initialize", Err: fmt.Errorf("agent speaks ACP protocol version %d, the proxy speaks %d",
			init.ProtocolVersion, acp.ProtocolVersionNumber)}
	}
	if init.AgentInfo != nil {
		s.agentName = strings.TrimSpace(init.AgentInfo.Name + " " + init.AgentInfo.Version)
	}
	var has envLookup
	if e, ok := d.(agentEnviron); ok {
		has = e.HasAgentEnv
	}
	method, err := chooseAuth(init.AuthMethods, setup.AuthMethod, has)
	if err != nil {
		return err
	}
	if method != "" {
		if _, err := s.conn.Authenticate(ctx, acp.AuthenticateRequest{MethodId: method}); err != nil {
			return s.setupErr(ctx, "authenticate", err)
		}
		s.authMethod = method
	}
	mcp := setup.MCPServers
	if mcp == nil {
		mcp = []acp.McpServer{}
	}
	ns, err := s.conn.NewSession(ctx, acp.NewSessionRequest{Cwd: workspace, McpServers: mcp, Meta: meta})
	if err != nil {
		err = s.setupErr(ctx, "session/new", err)
		if se := (*SetupError)(nil); errors.As(err, &se) && se.authRequired {
			se.Hint = authHint(init.AuthMethods, method)
		}
		return err
	}
	s.id = ns.SessionId
	if setup.Mode != "" {
		if err := s.setMode(ctx, ns, setup.Mode); err != nil {
			return err
		}
	}
	if setup.Model != "" {
		if err := s.setModel(ctx, ns, setup.Model); err != nil {
			return err
		}
	}
	return nil
}

// rpcErr turns a call's error into errAgentGone when the connection dropped, and keeps the
// agent's own JSON-RPC error otherwise. An error the agent answered with is the agent's even
// when it hung up right after; the SDK's internal error is a drop when the connection is gone.
func (s *session) rpcErr(err error) error {
	var re *acp.RequestError
	if errors.As(err, &re) && re.Code != codeInternalError {
		return err
	}
	select {
	case <-s.conn.Done():
		return fmt.Errorf("%w: %v", errAgentGone, err)
	default:
		return err
	}
}

// prompt runs one prompt turn. ctx ends the wait (and the turn) only when the proxy gives up.
func (s *session) prompt(ctx context.Context, text string, meta map[string]any) (acp.StopReason, error) {
	resp, err := s.conn.Prompt(ctx, acp.PromptRequest{
		SessionId: s.id,
		Prompt:    []acp.ContentBlock{acp.TextBlock(text)},
		Meta:      meta,
	})
	if err != nil {
		return "", s.rpcErr(err)
	}
	return resp.StopReason, nil
}

// cancel sends session/cancel, a notification, and from then on answers permission
// requests with the cancelled outcome.
func (s *session) cancel() {
	if s.cancelling.Swap(true) {
		return
	}
	if err := s.conn.Cancel(context.Background(), acp.CancelNotification{SessionId: s.id}); err != nil {
		s.log.Warn("sending session/cancel", "err", err)
	}
}

// setOnUpdate binds the session's updates to a task.
func (s *session) setOnUpdate(f func(Update)) { s.onUpdate.Store(&f) }

func (s *session) update(u Update) {
	if u.Tool != nil {
		s.tools.observe(*u.Tool)
	}
	if f := s.onUpdate.Load(); f != nil {
		(*f)(u)
	}
}

// done is closed when the agent's connection ends.
func (s *session) done() <-chan struct{} { return s.conn.Done() }

func (s *session) close() {
	s.closeOnce.Do(func() {
		if err := s.agent.Close(); err != nil {
			s.log.Warn("closing agent connection", "err", err)
		}
	})
}

// RequestPermission answers with an option chosen under the policy (see
// PermissionPolicy.choose), or cancelled while the turn is being cancelled or when the policy
// finds no option it may pick.
func (s *session) RequestPermission(_ context.Context, p acp.RequestPermissionRequest) (acp.RequestPermissionResponse, error) {
	if s.cancelling.Load() {
		return acp.RequestPermissionResponse{Outcome: acp.NewRequestPermissionOutcomeCancelled()}, nil
	}
	kind, title := s.tools.describe(p.ToolCall)
	log := s.log.With("tool_call", clip(string(p.ToolCall.ToolCallId), maxToolFieldBytes), "title", clip(title, maxToolFieldBytes),
		"tool_kind", clip(kind, maxToolFieldBytes), "policy", s.policy.Mode)
	opt := s.policy.choose(kind, title, p.Options)
	if opt == nil {
		log.Info("permission answered cancelled: no option the policy may pick", "options", len(p.Options))
		return acp.RequestPermissionResponse{Outcome: acp.NewRequestPermissionOutcomeCancelled()}, nil
	}
	log.Info("permission answered", "option", opt.OptionId, "kind", opt.Kind)
	return acp.RequestPermissionResponse{Outcome: acp.NewRequestPermissionOutcomeSelected(opt.OptionId)}, nil
}

// SessionUpdate forwards the agent's progress.
func (s *session) SessionUpdate(_ context.Context, n acp.SessionNotification) error {
	u := n.Update
	switch {
	case u.AgentMessageChunk != nil:
		if t := u.AgentMessageChunk.Content.Text; t != nil {
			s.update(Update{Text: t.Text})
		}
	case u.ToolCall != nil:
		s.update(Update{Tool: &ToolEvent{
			ID: string(u.ToolCall.ToolCallId), Title: u.ToolCall.Title,
			Kind: string(u.ToolCall.Kind), Status: string(u.ToolCall.Status), Started: true,
		}})
	case u.ToolCallUpdate != nil:
		ev := &ToolEvent{ID: string(u.ToolCallUpdate.ToolCallId)}
		if u.ToolCallUpdate.Title != nil {
			ev.Title = *u.ToolCallUpdate.Title
		}
		if u.ToolCallUpdate.Kind != nil {
			ev.Kind = string(*u.ToolCallUpdate.Kind)
		}
		if u.ToolCallUpdate.Status != nil {
			ev.Status = string(*u.ToolCallUpdate.Status)
		}
		s.update(Update{Tool: ev})
	case u.Plan != nil:
		var entries []string
		for _, e := range u.Plan.Entries {
			entries = append(entries, fmt.Sprintf("[%s] %s", e.Status, strings.TrimSpace(e.Content)))
		}
		s.update(Update{Plan: entries})
	}
	return nil
}

// The proxy advertises no file-system or terminal capabilities, so a well-behaved agent never
// calls these; one that does gets method-not-found.

func (s *session) ReadTextFile(context.Context, acp.ReadTextFileRequest) (acp.ReadTextFileResponse, error) {
	return acp.ReadTextFileResponse{}, acp.NewMethodNotFound(acp.ClientMethodFsReadTextFile)
}

func (s *session) WriteTextFile(context.Context, acp.WriteTextFileRequest) (acp.WriteTextFileResponse, error) {
	return acp.WriteTextFileResponse{}, acp.NewMethodNotFound(acp.ClientMethodFsWriteTextFile)
}

func (s *session) CreateTerminal(context.Context, acp.CreateTerminalRequest) (acp.CreateTerminalResponse, error) {
	return acp.CreateTerminalResponse{}, acp.NewMethodNotFound(acp.ClientMethodTerminalCreate)
}

func (s *session) KillTerminal(context.Context, acp.KillTerminalRequest) (acp.KillTerminalResponse, error) {
	return acp.KillTerminalResponse{}, acp.NewMethodNotFound(acp.ClientMethodTerminalKill)
}

func (s *session) TerminalOutput(context.Context, acp.TerminalOutputRequest) (acp.TerminalOutputResponse, error) {
	return acp.TerminalOutputResponse{}, acp.NewMethodNotFound(acp.ClientMethodTerminalOutput)
}

func (s *session) ReleaseTerminal(context.Context, acp.ReleaseTerminalRequest) (acp.ReleaseTerminalResponse, error) {
	return acp.ReleaseTerminalResponse{}, acp.NewMethodNotFound(acp.ClientMethodTerminalRelease)
}

func (s *session) WaitForTerminalExit(context.Context, acp.WaitForTerminalExitRequest) (acp.WaitForTerminalExitResponse, error) {
	return acp.WaitForTerminalExitResponse{}, acp.NewMethodNotFound(acp.ClientMethodTerminalWaitForExit)
}
