// Command refagent is the Daedalus reference ACP agent (see package refagent): it listens on
// TCP (--listen) or speaks ACP on its stdin and stdout (--stdio).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/daedalus-dev/daedalus/proxy/refagent"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := realMain(ctx)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "refagent:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	fs := flag.NewFlagSet("refagent", flag.ContinueOnError)
	// The chart sets DAEDALUS_AGENT_LISTEN to loopback, where the proxy in the same pod dials.
	defaultListen := ":3000"
	if v := os.Getenv("DAEDALUS_AGENT_LISTEN"); v != "" {
		defaultListen = v
	}
	listen := fs.String("listen", defaultListen, "TCP address to serve ACP on (default $DAEDALUS_AGENT_LISTEN, else :3000)")
	stdio := fs.Bool("stdio", false, "speak ACP on stdin/stdout instead of listening")
	once := fs.Bool("once", false, "exit after the first connection closes (an agent container in a Job)")
	crashRate := fs.Float64("crash-rate", 0, "probability that a prompt crashes the agent")
	latency := fs.Duration("latency", 0, "random extra work per prompt, up to this")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	if *crashRate < 0 || *crashRate > 1 {
		return fmt.Errorf("--crash-rate %v: want a probability from 0 to 1", *crashRate)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	opts := refagent.Options{
		CrashRate: *crashRate,
		Latency:   *latency,
		Crash:     func() { os.Exit(3) },
		// The arrival of each prompt, so a pod's log shows when its task reached the agent
		// (the e2e's cold-start measurement reads it). The prompt's text is not logged.
		OnPrompt: func(text string, at time.Time) { log.Info("prompt received", "at", at, "bytes", len(text)) },
		Log:      log,
	}
	if *stdio {
		refagent.Serve(ctx, stdioConn{}, opts)
		return nil
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *listen, err)
	}
	opts.Log.Info("serving ACP", "addr", ln.Addr().String(), "once", *once)
	return refagent.ListenAndServe(ctx, ln, *once, opts)
}

// stdioConn is the process's stdin and stdout as one connection.
type stdioConn struct{}

func (stdioConn) Read(b []byte) (int, error)  { return os.Stdin.Read(b) }
func (stdioConn) Write(b []byte) (int, error) { return os.Stdout.Write(b) }
func (stdioConn) Close() error {
	_ = os.Stdin.Close()
	return os.Stdout.Close()
}
