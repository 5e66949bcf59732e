package proxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	acp "github.com/coder/acp-go-sdk"
)

// AuthNone turns authentication off: the proxy never calls authenticate, whatever the agent
// offers.
const AuthNone = "none"

// JSON-RPC error codes the proxy tells apart: ACP's "authenticate first", and the internal
// error the SDK also uses for a request whose connection dropped.
const (
	codeAuthRequired  = -32000
	codeInternalError = -32603
)

// AgentSetup says how the proxy sets a session up for headless work, after initialize.
type AgentSetup struct {
	// AuthMethod is the id of the ACP auth method to authenticate with; empty picks the first
	// env_var method whose variables the agent has, AuthNone never authenticates.
	AuthMethod string
	// Mode, when set, is the session mode switched to with session/set_mode (e.g. codex's
	// "auto", which edits the workspace without asking).
	Mode string
	// Model, when set, is the model chosen through the agent's model config option.
	Model string
	// MCPServers are passed to session/new.
	MCPServers []acp.McpServer
}

// SetupError is the agent's own answer to a set-up call (initialize, authenticate,
// session/new, session/set_mode, the model choice), or a set-up the agent cannot satisfy: a
// method or mode it does not offer, a variable it lacks. Running the task again would meet
// the same answer, so it is final: the task fails on its first attempt with this message.
type SetupError struct {
	Step string // the ACP call or set-up stage
	Err  error
	Hint string // what to change, when the proxy knows

	authRequired bool // the agent answered "authentication required"
}

func (e *SetupError) Error() string {
	msg := e.Step + ": " + e.Err.Error()
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

func (e *SetupError) Unwrap() error { return e.Err }

// setupErr classifies the error of a set-up call. The call's context ending (the startup
// timeout, shutdown) and a dropped connection are kept as they are, to be retried; an answer
// from the agent becomes a final *SetupError.
func (s *session) setupErr(ctx context.Context, step string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", step, context.Cause(ctx))
	}
	err = s.rpcErr(err)
	var re *acp.RequestError
	if errors.Is(err, errAgentGone) || !errors.As(err, &re) {
		return fmt.Errorf("%s: %w", step, err)
	}
	if re.Code == codeAuthRequired {
		return &SetupError{Step: step, Err: fmt.Errorf("the agent requires authentication (JSON-RPC error %d: %s)", re.Code, re.Message),
			authRequired: true}
	}
	return &SetupError{Step: step, Err: fmt.Errorf("the agent answered with JSON-RPC error %d: %s", re.Code, re.Message)}
}

// envLookup reports whether a variable is set for the agent; nil when the proxy cannot see
// the agent's environment (an agent in its own container).
type envLookup func(name string) bool

// chooseAuth picks the auth method to call authenticate with; "" means call none.
func chooseAuth(methods []acp.AuthMethod, configured string, has envLookup) (string, error) {
	if configured == AuthNone || (configured == "" && len(methods) == 0) {
		return "", nil
	}
	if configured != "" {
		m, ok := findAuth(methods, configured)
		if !ok {
			return "", &SetupError{Step: "authenticate", Err: fmt.Errorf("the agent does not offer auth method %q", configured),
				Hint: "set DAEDALUS_AUTH_METHOD to one it offers: " + describeAuth(methods)}
		}
		if missing := missingVars(m, has); len(missing) > 0 {
			return "", &SetupError{Step: "authenticate", Err: fmt.Errorf("auth method %q needs %s, which the agent's environment lacks",
				configured, strings.Join(missing, ", ")), Hint: "set it in the agent's secret"}
		}
		return configured, nil
	}
	if has == nil {
		return "", nil // nothing to choose by: session/new tells whether auth is needed
	}
	for _, m := range methods {
		if m.EnvVar != nil && len(missingVars(m, has)) == 0 {
			return m.EnvVar.Id, nil
		}
	}
	return "", nil
}

func findAuth(methods []acp.AuthMethod, id string) (acp.AuthMethod, bool) {
	for _, m := range methods {
		if authID(m) == id {
			return m, true
		}
	}
	return acp.AuthMethod{}, false
}

func authID(m acp.AuthMethod) string {
	switch {
	case m.EnvVar != nil:
		return m.EnvVar.Id
	case m.Terminal != nil:
		return m.Terminal.Id
	case m.Agent != nil:
		return m.Agent.Id
	}
	return ""
}

// missingVars lists the required variables of an env_var method that the agent lacks; none
// when the method is of another kind or the environment cannot be seen.
func missingVars(m acp.AuthMethod, has envLookup) []string {
	if m.EnvVar == nil || has == nil {
		return nil
	}
	var missing []string
	for _, v := range m.EnvVar.Vars {
		if !v.Optional && !has(v.Name) {
			missing = append(missing, v.Name)
		}
	}
	return missing
}

// describeAuth names each method with what it needs, e.g.
// `chatgpt (interactive login), openai-api-key (env OPENAI_API_KEY)`.
func describeAuth(methods []acp.AuthMethod) string {
	if len(methods) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(methods))
	for _, m := range methods {
		switch {
		case m.EnvVar != nil:
			var names []string
			for _, v := range m.EnvVar.Vars {
				names = append(names, v.Name)
			}
			parts = append(parts, fmt.Sprintf("%s (env %s)", m.EnvVar.Id, strings.Join(names, ", ")))
		case m.Terminal != nil:
			parts = append(parts, m.Terminal.Id+" (terminal login)")
		case m.Agent != nil:
			parts = append(parts, m.Agent.Id+" (interactive login)")
		}
	}
	return strings.Join(parts, ", ")
}

// authHint says what to set when session/new asks for authentication the proxy did not give.
func authHint(methods []acp.AuthMethod, chosen string) string {
	if chosen != "" {
		return fmt.Sprintf("authenticate with %q was accepted but the agent still wants authentication: check the key", chosen)
	}
	return "set one of these in the agent's secret and DAEDALUS_AUTH_METHOD to its id: " + describeAuth(methods)
}

// setMode switches the new session to mode unless it is already there.
func (s *session) setMode(ctx context.Context, ns acp.NewSessionResponse, mode string) error {
	var offered []string
	current := ""
	if ns.Modes != nil {
		current = string(ns.Modes.CurrentModeId)
		for _, m := range ns.Modes.AvailableModes {
			offered = append(offered, string(m.Id))
		}
	}
	if !slices.Contains(offered, mode) {
		return &SetupError{Step: "session/set_mode", Err: fmt.Errorf("the agent does not offer mode %q", mode),
			Hint: "set DAEDALUS_SESSION_MODE to one it offers: " + listOrNone(offered)}
	}
	if mode == current {
		return nil
	}
	_, err := s.conn.SetSessionMode(ctx, acp.SetSessionModeRequest{SessionId: ns.SessionId, ModeId: acp.SessionModeId(mode)})
	if err != nil {
		return s.setupErr(ctx, "session/set_mode", err)
	}
	return nil
}

// setModel chooses model through the session's model config option, or else through the
// agent's model list (session/set_model).
func (s *session) setModel(ctx context.Context, ns acp.NewSessionResponse, model string) error {
	for _, o := range ns.ConfigOptions {
		sel := o.Select
		if sel == nil || sel.Category == nil || *sel.Category != acp.SessionConfigOptionCategoryModel {
			continue
		}
		values := selectValues(sel.Options)
		if !slices.Contains(values, model) {
			return &SetupError{Step: "session/set_config_option", Err: fmt.Errorf("the agent does not offer model %q", model),
				Hint: "set DAEDALUS_MODEL to one it offers: " + listOrNone(values)}
		}
		if string(sel.CurrentValue) == model {
			return nil
		}
		_, err := s.conn.SetSessionConfigOption(ctx, acp.SetSessionConfigOptionRequest{ValueId: &acp.SetSessionConfigOptionValueId{
			SessionId: ns.SessionId, ConfigId: sel.Id, Value: acp.SessionConfigValueId(model)}})
		if err != nil {
			return s.setupErr(ctx, "session/set_config_option", err)
		}
		return nil
	}
	if ns.Models != nil {
		var values []string
		for _, m := range ns.Models.AvailableModels {
			values = append(values, string(m.ModelId))
		}
		if !slices.Contains(values, model) {
			return &SetupError{Step: "session/set_model", Err: fmt.Errorf("the agent does not offer model %q", model),
				Hint: "set DAEDALUS_MODEL to one it offers: " + listOrNone(values)}
		}
		if string(ns.Models.CurrentModelId) == model {
			return nil
		}
		_, err := s.conn.UnstableSetSessionModel(ctx, acp.UnstableSetSessionModelRequest{
			SessionId: ns.SessionId, ModelId: acp.UnstableModelId(model)})
		if err != nil {
			return s.setupErr(ctx, "session/set_model", err)
		}
		return nil
	}
	return &SetupError{Step: "session/new", Err: fmt.Errorf("the agent offers no model choice, so model %q cannot be set", model),
		Hint: "unset DAEDALUS_MODEL or configure the model in the agent itself"}
}

func selectValues(o acp.SessionConfigSelectOptions) []string {
	var out []string
	if o.Ungrouped != nil {
		for _, v := range *o.Ungrouped {
			out = append(out, string(v.Value))
		}
	}
	if o.Grouped != nil {
		for _, g := range *o.Grouped {
			for _, v := range g.Options {
				out = append(out, string(v.Value))
			}
		}
	}
	return out
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}
