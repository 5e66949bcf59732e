// Command smoke proves a deployed Daedalus release works end to end (the deployment
// guide's ten validation checks, with stage timings from watch events) and diagnoses
// known failures, as a GitHub Actions step. See internal/step/smoke.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/step/smoke"
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
	_, err := smoke.Main(ctx, a, smoke.Deps{})
	return err
}
