// Command proxy runs beside an ACP agent: it takes tasks from NATS JetStream, drives the agent
// and publishes the results. `proxy bootstrap` creates the streams and consumers; `proxy scaler`
// serves KEDA's external scaler for the workers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/daedalus-dev/daedalus/proxy"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := realMain(ctx)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case errors.Is(err, proxy.ErrUsage):
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	return proxy.Main(ctx, os.Args[1:], os.Getenv, os.Stderr)
}
