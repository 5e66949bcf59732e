package proxy

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
)

// ErrUsage marks a bad command line or configuration: main prints it and exits 2.
var ErrUsage = errors.New("usage")

// Main is the proxy command: `proxy [run] [flags]` runs the proxy, `proxy bootstrap [flags]`
// creates the streams and consumers, `proxy bridge [flags] -- agent…` serves a stdio agent on
// TCP (see Bridge) and `proxy install DIR` copies the binary for it. `proxy noop` exits 0 at once
// and `proxy pause` waits for SIGTERM: the chart's pre-pull DaemonSet runs them in images that
// hold nothing else it could run. `proxy scaler [flags]` serves KEDA's external scaler for
// the workers (internal/lib/scaler), so the chart runs it from the same image. It reads the environment only through getenv. ctx ending
// (SIGTERM) starts the graceful shutdown; Main returns once the in-flight task is settled.
func Main(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && (args[0] == "run" || args[0] == "bootstrap" || args[0] == "bridge" || args[0] == "install" || args[0] == "noop" || args[0] == "pause" || args[0] == "scaler") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "bridge":
		return mainBridge(ctx, args, getenv, stderr)
	case "install":
		return mainInstall(args)
	case "noop", "pause":
		if len(args) > 0 {
			return usageErr(fmt.Errorf("%s takes no arguments, got %q", cmd, args))
		}
		if cmd == "pause" {
			<-ctx.Done()
		}
		return nil
	case "bootstrap":
		return mainBootstrap(ctx, args, getenv, stderr)
	case "scaler":
		return mainScaler(ctx, args, getenv, stderr)
	default:
		return mainRun(ctx, args, getenv, stderr)
	}
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

func usageErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUsage, err)
}

func mainRun(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := ParseConfig(args, getenv, stderr)
	if err != nil {
		return usageErr(err)
	}
	if err := cfg.Validate(); err != nil {
		return usageErr(err)
	}
	log := newLogger(stderr, cfg.LogLevel).With("worker", cfg.Worker)
	log.Info("starting", "config", cfg)
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(cfg.Limits.memoryLimit())
	}
	d := NewDialer(cfg, getenv, stderr)
	if len(cfg.AgentCommand) > 0 {
		// The spawned agent runs as the proxy's user: keep it out of the proxy's /proc.
		if err := hideEnvironment(); err != nil {
			log.Warn("the agent may read the proxy's environment from /proc", "err", err)
		}
	}
	nc, js, err := Connect(cfg.NATS, "daedalus-proxy/"+cfg.Worker, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	r := NewRunner(cfg, js, d, log)
	if cfg.Listen != "" {
		sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		defer stop()
		errc := make(chan error, 1)
		go func() { errc <- Serve(sctx, cfg.Listen, nc, r.Metrics(), log) }()
		defer func() { stop(); <-errc }()
	}
	if err := r.Run(ctx); err != nil {
		return err
	}
	if err := nc.Drain(); err != nil {
		log.Warn("draining the NATS connection", "err", err)
	}
	log.Info("exiting", "peak_rss_bytes", peakRSS())
	return nil
}

func mainBootstrap(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := ParseBootstrapConfig(args, getenv, stderr)
	if err != nil {
		return usageErr(err)
	}
	if err := cfg.Validate(); err != nil {
		return usageErr(err)
	}
	log := newLogger(stderr, slog.LevelInfo)
	nc, js, err := Connect(cfg.NATS, "daedalus-bootstrap", log)
	if err != nil {
		return err
	}
	defer nc.Close()
	return Bootstrap(ctx, js, cfg, log)
}
