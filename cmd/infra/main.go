// Command infra plans, applies, destroys or reads the outputs of the Terraform stack
// (deploy/terraform) as a GitHub Actions step. See internal/infra.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/daedalus-dev/daedalus/internal/actions"
	"github.com/daedalus-dev/daedalus/internal/infra"
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
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	if ws := os.Getenv("GITHUB_WORKSPACE"); ws != "" {
		dir = ws
	}
	_, err = infra.Main(ctx, a, infra.Env{
		Environ: os.Environ(),
		Dir:     dir,
		Now:     time.Now,
		Log:     os.Stdout,
	})
	return err
}
