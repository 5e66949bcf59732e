// Command demo is `make demo`: the proxy end to end on an embedded NATS JetStream and the
// reference ACP agent, or on a real NATS (--nats-url) and a real agent (--agent-addr, --agent-cmd).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/daedalus-dev/daedalus/internal/lib/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := realMain(ctx)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "demo:", err)
		}
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	c, err := demo.ParseConfig(os.Args[1:], os.Stderr)
	if err != nil {
		return err
	}
	c.Getenv = os.Getenv
	if os.Getenv("DAEDALUS_DEMO_LOGS") != "" {
		c.Logs = os.Stderr
	}
	return demo.Run(ctx, c, os.Stdout)
}
