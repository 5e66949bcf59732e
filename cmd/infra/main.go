// Command infra plans, applies, destroys or reads the outputs of the Terraform stack
// (deploy/terraform) as a GitHub Actions step. See internal/step/infra.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/step/infra"
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
	_, err := infra.Main(ctx, a, infra.Deps{
		Environ: os.Environ(),
		Now:     time.Now,
		Log:     os.Stdout,
	})
	return err
}
