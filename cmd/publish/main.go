// Command publish builds the proxy image and pushes it to Azure Container Registry; it is
// the binary behind actions/publish. See internal/publish.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/daedalus-dev/daedalus/internal/actions"
	"github.com/daedalus-dev/daedalus/internal/publish"
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
	return publish.Run(ctx, a, nil)
}
