package proxy

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/bytesize"
)

// Mode says whether a proxy handles one task (a KEDA Job) or loops (a Deployment).
type Mode string

// The proxy's modes.
const (
	// ModeJob handles exactly one task and returns, so the Kubernetes Job completes and the
	// namespace scales back to zero. It also returns when no task arrives within the idle timeout.
	ModeJob Mode = "job"
	// ModeService loops until shut down and serves /healthz and /metrics.
	ModeService Mode = "service"
)

// NATSConfig says how to reach NATS. Password and Token are secrets.
type NATSConfig struct {
	URL       string
	User      string
	Password  string
	Token     string
	CredsFile string
	CAFile    string
}

// LogValue redacts the secrets.
func (c NATSConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", c.URL),
		slog.String("user", c.User),
		slog.Bool("password", c.Password != ""),
		slog.Bool("token", c.Token != ""),
		slog.String("creds_file", c.CredsFile),
		slog.String("ca_file", c.CAFile),
	)
}

// Validate checks the NATS settings.
func (c NATSConfig) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("NATS_URL (--nats-url) is empty: set it to the NATS server, e.g. nats://nats:4222"))
	}
	n := 0
	for _, set := range []bool{c.User != "" || c.Password != "", c.Token != "", c.CredsFile != ""} {
		if set {
			n++
		}
	}
	if n > 1 {
		errs = append(errs, errors.New("NATS credentials: set only one of NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_CREDS"))
	}
	if (c.User == "") != (c.Password == "") {
		errs = append(errs, errors.New("NATS_USER and NATS_PASSWORD go together: set both or neither"))
	}
	return errors.Join(errs...)
}

// Config is the proxy's configuration, built by ParseConfig from flags and the environment.
type Config struct {
	NATS NATSConfig
	// Worker names the agent kind: the proxy reads agent.tasks.<Worker> through the durable
	// consumer named Worker.
	Worker string
	Mode   Mode
	// AgentAddr is the agent's TCP address; used unless AgentCommand is set.
	AgentAddr string
	// AgentCommand, when set, is spawned once per task and spoken to over its stdio.
	AgentCommand []string
	// AgentEnv names the variables of the proxy's environment that a spawned agent also gets,
	// besides the basic ones (see AgentEnvironment). NATS_* can never be passed.
	AgentEnv []string
	// StartupTimeout bounds how long the proxy waits for the agent to come up and initialize.
	StartupTimeout time.Duration
	// IdleTimeout: in job mode, how long to wait for a task before exiting 0.
	IdleTimeout time.Duration
	// TaskTimeout bounds one prompt turn; a turn that runs longer is cancelled and failed.
	TaskTimeout time.Duration
	// DrainTimeout: on shutdown, how long the agent gets to finish after session/cancel.
	DrainTimeout time.Duration
	// GracePeriod is the pod's terminationGracePeriodSeconds; the proxy exits inside it.
	GracePeriod time.Duration
	// Agent says how a session is set up: auth method, mode, model, MCP servers.
	Agent AgentSetup
	// PermissionPolicy is PolicyAllow, PolicyReject or PolicyAllowlist.
	PermissionPolicy string
	// PermissionAllowlist are the allowlist's entries (see ParseAllowRules).
	PermissionAllowlist []string
	// Workspace is the session's working directory, shared with the agent.
	Workspace string
	// Listen is the address of /healthz and /metrics; empty serves nothing.
	Listen string
	// StatusInterval throttles status events: at most one per interval per task.
	StatusInterval time.Duration
	// SettleTimeout bounds publishing a task's result (and storing a large answer): a result
	// not stored by then is given up and the task nak'd, so a delivery is never held forever.
	SettleTimeout time.Duration
	Limits        Limits
	LogLevel      slog.Level
}

// LogValue logs the configuration with secrets redacted.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("nats", c.NATS),
		slog.String("worker", c.Worker),
		slog.String("mode", string(c.Mode)),
		slog.String("agent_addr", c.AgentAddr),
		slog.Any("agent_command", c.AgentCommand),
		slog.Any("agent_env", c.AgentEnv),
		slog.Duration("startup_timeout", c.StartupTimeout),
		slog.Duration("idle_timeout", c.IdleTimeout),
		slog.Duration("task_timeout", c.TaskTimeout),
		slog.Duration("drain_timeout", c.DrainTimeout),
		slog.Duration("grace_period", c.GracePeriod),
		slog.String("auth_method", c.Agent.AuthMethod),
		slog.String("session_mode", c.Agent.Mode),
		slog.String("model", c.Agent.Model),
		slog.Int("mcp_servers", len(c.Agent.MCPServers)),
		slog.String("permission_policy", c.PermissionPolicy),
		slog.Any("permission_allowlist", c.PermissionAllowlist),
		slog.String("workspace", c.Workspace),
		slog.String("listen", c.Listen),
		slog.Duration("settle_timeout", c.SettleTimeout),
		slog.Int64("max_output", c.Limits.MaxOutput),
		slog.Int64("status_buffer", c.Limits.StatusBuffer),
		slog.Int("max_tool_calls", c.Limits.MaxToolCalls),
	)
}

// minShutdownReserve is the time a shutdown keeps after the drain for publishing and acking.
const minShutdownReserve = 2 * time.Second

// Validate checks every setting and reports all problems at once, each naming the variable
// (and flag) to fix.
func (c Config) Validate() error {
	errs := []error{c.NATS.Validate()}
	if err := validToken(c.Worker); err != nil {
		errs = append(errs, fmt.Errorf("DAEDALUS_WORKER (--worker): %w; use the worker's name, e.g. copilot", err))
	}
	if c.Mode != ModeJob && c.Mode != ModeService {
		errs = append(errs, fmt.Errorf("DAEDALUS_MODE (--mode) is %q: use job or service", c.Mode))
	}
	if len(c.AgentCommand) == 0 {
		if _, _, err := net.SplitHostPort(c.AgentAddr); err != nil {
			errs = append(errs, fmt.Errorf("DAEDALUS_AGENT_ADDR (--agent-addr) %q is not host:port: %w", c.AgentAddr, err))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"DAEDALUS_STARTUP_TIMEOUT (--startup-timeout)", c.StartupTimeout},
		{"DAEDALUS_IDLE_TIMEOUT (--idle-timeout)", c.IdleTimeout},
		{"DAEDALUS_TASK_TIMEOUT (--task-timeout)", c.TaskTimeout},
		{"DAEDALUS_DRAIN_TIMEOUT (--drain-timeout)", c.DrainTimeout},
		{"DAEDALUS_GRACE_PERIOD (--grace-period)", c.GracePeriod},
		{"DAEDALUS_STATUS_INTERVAL (--status-interval)", c.StatusInterval},
		{"DAEDALUS_SETTLE_TIMEOUT (--settle-timeout)", c.SettleTimeout},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", d.name, d.v))
		}
	}
	if c.DrainTimeout > 0 && c.GracePeriod > 0 && c.GracePeriod-c.DrainTimeout < minShutdownReserve {
		errs = append(errs, fmt.Errorf("DAEDALUS_DRAIN_TIMEOUT (%s) must be at least %s below DAEDALUS_GRACE_PERIOD (%s), "+
			"the pod's terminationGracePeriodSeconds, so the result can be published or the task nak'd before the kill; "+
			"lower the drain or raise the grace", c.DrainTimeout, minShutdownReserve, c.GracePeriod))
	}
	switch c.PermissionPolicy {
	case PolicyAllow, PolicyReject:
		if len(c.PermissionAllowlist) > 0 {
			errs = append(errs, fmt.Errorf("DAEDALUS_PERMISSION_ALLOWLIST (--permission-allowlist) is set but the policy is %q: "+
				"set DAEDALUS_PERMISSION_POLICY=allowlist, or clear the list", c.PermissionPolicy))
		}
	case PolicyAllowlist:
		if len(c.PermissionAllowlist) == 0 {
			errs = append(errs, errors.New("DAEDALUS_PERMISSION_ALLOWLIST (--permission-allowlist) is empty under the allowlist policy: "+
				"list tool kinds or title:<pattern> entries, e.g. read,search, or use the reject policy"))
		}
		if _, err := ParseAllowRules(c.PermissionAllowlist); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("DAEDALUS_PERMISSION_POLICY (--permission-policy) is %q: use allow, reject or allowlist", c.PermissionPolicy))
	}
	for _, name := range c.AgentEnv {
		if err := validAgentEnvName(name); err != nil {
			errs = append(errs, fmt.Errorf("DAEDALUS_AGENT_ENV (--agent-env): %w", err))
		}
	}
	errs = append(errs, c.Limits.validate()...)
	if c.Workspace == "" {
		errs = append(errs, errors.New("DAEDALUS_WORKSPACE (--workspace) is empty: set the directory shared with the agent"))
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("DAEDALUS_LISTEN (--listen) %q is not host:port: %w", c.Listen, err))
		}
	}
	return errors.Join(errs...)
}

// validToken checks that s can stand as one NATS subject token and a consumer name.
func validToken(s string) error {
	if s == "" {
		return errors.New("is empty")
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("%q may hold only letters, digits, '-' and '_'", s)
		}
	}
	return nil
}

// envFlags binds flags to environment variables: a flag not given on the command line takes
// its variable's value when that is set. Errors name both.
type envFlags struct {
	fs  *flag.FlagSet
	env map[string]string // flag name → variable
}

func newEnvFlags(name string, out io.Writer) *envFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return &envFlags{fs: fs, env: map[string]string{}}
}

func (e *envFlags) bind(name, env string) { e.env[name] = env }

func (e *envFlags) str(p *string, name, env, def, usage string) {
	e.fs.StringVar(p, name, def, usage+" (env "+env+")")
	e.bind(name, env)
}

func (e *envFlags) dur(p *time.Duration, name, env string, def time.Duration, usage string) {
	e.fs.DurationVar(p, name, def, usage+" (env "+env+")")
	e.bind(name, env)
}

func (e *envFlags) size(p *int64, name, env string, def int64, usage string) {
	*p = def
	e.fs.Var(bytesize.Value{P: p}, name, usage+" (env "+env+")")
	e.bind(name, env)
}

// list binds a comma-separated list; blank entries are dropped.
func (e *envFlags) list(p *[]string, name, env, usage string) {
	e.fs.Func(name, usage+" (env "+env+")", func(v string) error {
		*p = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*p = append(*p, s)
			}
		}
		return nil
	})
	e.bind(name, env)
}

func (e *envFlags) int(p *int, name, env string, def int, usage string) {
	e.fs.IntVar(p, name, def, usage+" (env "+env+")")
	e.bind(name, env)
}

// parse parses args, then fills every flag not given from its variable.
func (e *envFlags) parse(args []string, getenv func(string) string) error {
	if err := e.fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	e.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	e.fs.VisitAll(func(f *flag.Flag) {
		env, ok := e.env[f.Name]
		if !ok || given[f.Name] {
			return
		}
		if v := getenv(env); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
			}
		}
	})
	if e.fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", e.fs.Args()))
	}
	return errors.Join(errs...)
}

func (e *envFlags) natsFlags(c *NATSConfig) {
	e.str(&c.URL, "nats-url", "NATS_URL", "nats://127.0.0.1:4222", "NATS server URL")
	e.str(&c.User, "nats-user", "NATS_USER", "", "NATS user")
	e.str(&c.Password, "nats-password", "NATS_PASSWORD", "", "NATS password")
	e.str(&c.Token, "nats-token", "NATS_TOKEN", "", "NATS token")
	e.str(&c.CredsFile, "nats-creds", "NATS_CREDS", "", "NATS credentials file")
	e.str(&c.CAFile, "nats-ca-file", "NATS_CA_FILE", "", "CA bundle for NATS TLS")
}

// ParseConfig builds a Config from command-line args (without the program name) and the
// environment read through getenv; flags win over variables. It sets defaults but does not
// validate: call Validate.
func ParseConfig(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	var c Config
	var mode, agentCmd, level, mcp string
	e := newEnvFlags("proxy", usage)
	e.natsFlags(&c.NATS)
	e.str(&c.Worker, "worker", "DAEDALUS_WORKER", "", "worker name: reads agent.tasks.<worker> through the consumer <worker>")
	e.str(&mode, "mode", "DAEDALUS_MODE", string(ModeJob), "job (one task, then exit) or service (loop)")
	e.str(&c.AgentAddr, "agent-addr", "DAEDALUS_AGENT_ADDR", "127.0.0.1:3000", "agent's ACP TCP address")
	e.str(&agentCmd, "agent-cmd", "DAEDALUS_AGENT_CMD", "", "agent command to spawn per task, spoken to over stdio (space-separated; overrides --agent-addr)")
	e.list(&c.AgentEnv, "agent-env", "DAEDALUS_AGENT_ENV", "comma-separated variables a spawned agent gets besides PATH, HOME, locale, proxy and CA settings (never NATS_*)")
	e.dur(&c.StartupTimeout, "startup-timeout", "DAEDALUS_STARTUP_TIMEOUT", 60*time.Second, "how long to wait for the agent to come up")
	e.dur(&c.IdleTimeout, "idle-timeout", "DAEDALUS_IDLE_TIMEOUT", 30*time.Second, "job mode: exit 0 when no task arrives within this")
	e.dur(&c.TaskTimeout, "task-timeout", "DAEDALUS_TASK_TIMEOUT", 30*time.Minute, "longest prompt turn before it is cancelled and failed")
	e.dur(&c.DrainTimeout, "drain-timeout", "DAEDALUS_DRAIN_TIMEOUT", 30*time.Second, "on SIGTERM, how long the agent gets to finish after session/cancel")
	e.dur(&c.GracePeriod, "grace-period", "DAEDALUS_GRACE_PERIOD", 35*time.Second, "the pod's terminationGracePeriodSeconds")
	e.str(&c.Agent.AuthMethod, "auth-method", "DAEDALUS_AUTH_METHOD", "", "ACP auth method id to authenticate with (empty: the first env_var method whose variables the agent has; none: never)")
	e.str(&c.Agent.Mode, "session-mode", "DAEDALUS_SESSION_MODE", "", "session mode to switch to with session/set_mode (empty: the agent's default)")
	e.str(&c.Agent.Model, "model", "DAEDALUS_MODEL", "", "model to choose where the agent offers a choice (empty: the agent's default)")
	e.str(&mcp, "mcp-servers", "DAEDALUS_MCP_SERVERS", "", "JSON array of ACP MCP server configurations passed to session/new")
	e.str(&c.PermissionPolicy, "permission-policy", "DAEDALUS_PERMISSION_POLICY", PolicyAllow, "answer to permission requests: allow, reject or allowlist")
	e.list(&c.PermissionAllowlist, "permission-allowlist", "DAEDALUS_PERMISSION_ALLOWLIST", "allowlist policy: comma-separated tool kinds (read, edit, execute, …) and title:<pattern> entries allowed")
	e.str(&c.Workspace, "workspace", "DAEDALUS_WORKSPACE", "/workspace", "session working directory shared with the agent")
	e.str(&c.Listen, "listen", "DAEDALUS_LISTEN", "", "address for /healthz and /metrics (service mode default :8080)")
	e.dur(&c.StatusInterval, "status-interval", "DAEDALUS_STATUS_INTERVAL", 500*time.Millisecond, "at most one status event per task per interval")
	e.dur(&c.SettleTimeout, "settle-timeout", "DAEDALUS_SETTLE_TIMEOUT", time.Minute, "longest time to store a result before the task is nak'd")
	def := DefaultLimits()
	e.size(&c.Limits.MaxOutput, "max-output", "DAEDALUS_MAX_OUTPUT", def.MaxOutput, "bytes of the agent's answer kept per task; the rest is dropped")
	e.size(&c.Limits.StatusBuffer, "status-buffer", "DAEDALUS_STATUS_BUFFER", def.StatusBuffer, "bytes of streamed text held between two status events")
	e.int(&c.Limits.MaxToolCalls, "max-tool-calls", "DAEDALUS_MAX_TOOL_CALLS", def.MaxToolCalls, "distinct tool calls tracked per task")
	e.str(&level, "log-level", "DAEDALUS_LOG_LEVEL", "info", "debug, info, warn or error")
	if err := e.parse(args, getenv); err != nil {
		return c, err
	}
	c.Mode = Mode(mode)
	c.AgentCommand = strings.Fields(agentCmd)
	if c.Listen == "" && c.Mode == ModeService {
		c.Listen = ":8080"
	}
	if mcp != "" {
		if err := json.Unmarshal([]byte(mcp), &c.Agent.MCPServers); err != nil {
			return c, fmt.Errorf("DAEDALUS_MCP_SERVERS (--mcp-servers) is not a JSON array of ACP MCP servers "+
				`(e.g. [{"name":"fs","command":"/bin/mcp-fs","args":[],"env":[]}]): %w`, err)
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		return c, fmt.Errorf("DAEDALUS_LOG_LEVEL (--log-level) %q: use debug, info, warn or error", level)
	}
	return c, nil
}
