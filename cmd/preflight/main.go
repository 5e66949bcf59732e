// Command preflight checks, before the first plan, that a deploy or destroy can succeed:
// the caller's Azure permissions, the resource providers and the agent images. See
// internal/step/preflight.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/step/preflight"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	a := actions.New()
	err := realMain(ctx, a)
	stop()
	if err != nil {
		a.Fail(err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, a *actions.Action) error {
	_, err := preflight.Main(ctx, a, preflight.Deps{})
	return err
}
