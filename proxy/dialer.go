package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// AgentConn is one live connection to an ACP agent: newline-delimited JSON-RPC 2.0 is written
// to it and read from it. Close ends the connection; for a spawned agent it also ends the process.
type AgentConn interface {
	io.Reader
	io.Writer
	io.Closer
}

// Dialer connects to an agent. Dial keeps trying until ctx ends, because the agent container
// starts at the same moment as the proxy; the caller bounds ctx with the startup timeout.
type Dialer interface {
	Dial(ctx context.Context) (AgentConn, error)
	// String names the agent for logs.
	String() string
}

// NewDialer returns the dialer a Config asks for: the agent command over stdio when set (run
// in the workspace, with the environment AgentEnvironment builds from getenv, its stderr to
// stderr), else TCP.
func NewDialer(cfg Config, getenv func(string) string, stderr io.Writer) Dialer {
	if len(cfg.AgentCommand) > 0 {
		return CommandDialer{Args: cfg.AgentCommand, Dir: cfg.Workspace, Stderr: stderr, Env: AgentEnvironment(getenv, cfg.AgentEnv)}
	}
	return TCPDialer{Addr: cfg.AgentAddr}
}

// TCPDialer reaches an agent listening on a TCP address (the agent container on :3000).
type TCPDialer struct {
	Addr string
}

func (d TCPDialer) String() string { return "tcp://" + d.Addr }

// Dial connects with exponential backoff until ctx ends: from 10 ms doubling to
// dialBackoffCap, so a prompt goes out soon after the agent starts listening.
func (d TCPDialer) Dial(ctx context.Context) (AgentConn, error) {
	var nd net.Dialer
	limit := dialBackoffCap(d.Addr)
	wait := min(10*time.Millisecond, limit)
	for {
		c, err := nd.DialContext(ctx, "tcp", d.Addr)
		if err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetNoDelay(true)
			}
			return c, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("agent at %s did not come up: %w (last error: %v)", d.Addr, context.Cause(ctx), err)
		case <-t.C:
		}
		wait = min(wait*2, limit)
	}
}

// dialBackoffCap is the longest wait between two dials of addr: 50 ms on loopback (the agent
// container beside the proxy), where a refused dial costs nothing, and 1 s elsewhere.
func dialBackoffCap(addr string) time.Duration {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return time.Second
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return 50 * time.Millisecond
	}
	return time.Second
}

// CommandDialer spawns the agent as a child process per connection and speaks ACP over its
// stdin and stdout, which is how most ACP agents run. The child's stderr goes to Stderr.
type CommandDialer struct {
	Args []string
	Dir  string
	// Env is the agent's whole environment; nil gives it an empty one, never the proxy's.
	Env    []string
	Stderr io.Writer
}

func (d CommandDialer) String() string { return fmt.Sprintf("stdio://%q", d.Args) }

// Dial starts the process. It does not retry: a command that cannot start will not start later.
func (d CommandDialer) Dial(ctx context.Context) (AgentConn, error) {
	if len(d.Args) == 0 {
		return nil, errors.New("agent command is empty")
	}
	cmd := exec.Command(d.Args[0], d.Args[1:]...)
	cmd.Dir, cmd.Env, cmd.Stderr = d.Dir, append([]string{}, d.Env...), d.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("agent command stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("agent command stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting agent command %q: %w", d.Args[0], err)
	}
	return &processConn{cmd: cmd, stdin: stdin, stdout: stdout}, nil
}

// processConn is a spawned agent's stdio.
type processConn struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	once   sync.Once
	err    error
}

func (p *processConn) Read(b []byte) (int, error)  { return p.stdout.Read(b) }
func (p *processConn) Write(b []byte) (int, error) { return p.stdin.Write(b) }

// processExitWait is how long a spawned agent gets to exit after its stdin closes.
const processExitWait = 2 * time.Second

// Close closes the agent's stdin, which tells an ACP agent to exit, then waits for it; an agent
// still running after processExitWait gets SIGTERM, and SIGKILL after as long again. Whatever
// the agent left running in its process group (an npm launcher's native binary, a tool's
// background job) is killed once the agent has exited: nothing it started outlives it or
// writes into the workspace after the task is settled.
func (p *processConn) Close() error {
	p.once.Do(func() {
		_ = p.stdin.Close()
		group := -p.cmd.Process.Pid
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		for _, sig := range []syscall.Signal{0, syscall.SIGTERM, syscall.SIGKILL} {
			if sig != 0 {
				_ = syscall.Kill(group, sig)
			}
			select {
			case err := <-done:
				var ee *exec.ExitError
				if err != nil && !errors.As(err, &ee) {
					p.err = err
				}
				_ = syscall.Kill(group, syscall.SIGKILL) // ESRCH when the group is already empty
				return
			case <-time.After(processExitWait):
			}
		}
		p.err = fmt.Errorf("agent process %d did not exit", p.cmd.Process.Pid)
	})
	return p.err
}

// agentEnviron is implemented by dialers that know the agent's environment, so the proxy can
// pick an auth method whose variables the agent has. A TCP agent runs in its own container,
// whose environment the proxy cannot see.
type agentEnviron interface {
	HasAgentEnv(name string) bool
}

// HasAgentEnv reports whether the spawned agent gets a non-empty name.
func (d CommandDialer) HasAgentEnv(name string) bool {
	for _, kv := range d.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name && v != "" {
			return true
		}
	}
	return false
}
