package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
)

// Most ACP agents (codex-acp, claude-code-acp) speak ACP only on the stdio of a process they
// are spawned as. In a worker pod the agent runs in its own container, beside the proxy's, so
// that the agent never holds the proxy's NATS credentials. The bridge joins the two: it runs
// in the agent's container (the chart copies the proxy binary there with `proxy install`),
// listens on the ACP port, and spawns the agent command once per connection, joining the
// connection to the process's stdin and stdout. The agent inherits the bridge's environment:
// the agent container's, which holds the agent's key and nothing of the proxy's.

// Bridge serves ACP on ln by spawning args per connection, one connection at a time (a
// worker's proxy holds one session, opening the next only after it is done with the last).
// It returns when ctx ends, after the running agent is stopped.
func Bridge(ctx context.Context, ln net.Listener, args []string, env []string, stderr io.Writer, log *slog.Logger) error {
	d := CommandDialer{Args: args, Env: env, Stderr: stderr}
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("accepting ACP connections: %w", err)
		}
		log.Info("connection: starting the agent", "remote", c.RemoteAddr().String(), "agent", d.String())
		if err := bridgeOne(ctx, c, d); err != nil {
			log.Warn("agent connection ended", "err", err)
		}
	}
}

// bridgeOne joins c to a freshly spawned agent until either side ends, then ends both.
func bridgeOne(ctx context.Context, c net.Conn, d CommandDialer) error {
	defer c.Close()
	p, err := d.Dial(ctx)
	if err != nil {
		return err
	}
	var once sync.Once
	end := func() {
		once.Do(func() {
			_ = c.Close()
			_ = p.Close() // closes stdin, waits, then signals
		})
	}
	stop := context.AfterFunc(ctx, end)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _, _ = io.Copy(p, c); end() }()
	go func() { defer wg.Done(); _, _ = io.Copy(c, p); end() }()
	wg.Wait()
	return p.Close()
}

// mainBridge is `proxy bridge [--listen addr] -- command args…`.
// The agent gets the bridge's environment (os.Environ, as NewDialer gives a spawned agent).
func mainBridge(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	e := newEnvFlags("bridge", stderr)
	var listen string
	e.str(&listen, "listen", "DAEDALUS_BRIDGE_LISTEN", "127.0.0.1:3000", "address to serve ACP on (keep it on loopback: only the pod's proxy dials it)")
	cmd := []string(nil)
	for i, a := range args {
		if a == "--" {
			args, cmd = args[:i], args[i+1:]
			break
		}
	}
	if err := e.parse(args, getenv); err != nil {
		return usageErr(err)
	}
	if len(cmd) == 0 {
		return usageErr(errors.New("bridge: name the agent command after --, e.g. `proxy bridge -- codex-acp`"))
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return usageErr(fmt.Errorf("DAEDALUS_BRIDGE_LISTEN (--listen) %q is not host:port: %w", listen, err))
	}
	log := newLogger(stderr, slog.LevelInfo).With("component", "bridge")
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("bridge: listening on %s: %w", listen, err)
	}
	log.Info("serving ACP", "addr", ln.Addr().String(), "agent", cmd)
	return Bridge(ctx, ln, cmd, os.Environ(), stderr, log)
}

// mainInstall is `proxy install DIR`: it copies the running binary to DIR/proxy, so an init
// container of the (shell-less) proxy image can hand the bridge to the agent's container.
func mainInstall(args []string) error {
	if len(args) != 1 {
		return usageErr(errors.New("install: want one argument, the folder to copy the proxy binary into"))
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("install: locating the running binary: %w", err)
	}
	src, err := os.Open(self)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer src.Close()
	dst := filepath.Join(args[0], "proxy")
	tmp, err := os.CreateTemp(args[0], ".proxy-*")
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return fmt.Errorf("install: copying to %s: %w", dst, err)
	}
	if err := tmp.Chmod(0o555); err != nil {
		tmp.Close()
		return fmt.Errorf("install: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	return nil
}
