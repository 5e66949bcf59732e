// Command publish builds the proxy image and pushes it to Azure Container Registry; it is
// the binary behind actions/publish. See internal/step/publish.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/step/publish"
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
	// Tests that run this binary against a loopback ACR stand-in say so explicitly.
	loopback := os.Getenv("DAEDALUS_TEST_LOOPBACK_REGISTRY") == "1"
	_, err := publish.Main(ctx, a, publish.Deps{AllowLoopbackRegistry: loopback})
	return err
}
