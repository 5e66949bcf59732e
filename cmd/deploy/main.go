// Command deploy installs or upgrades KEDA and the Daedalus Helm release on a
// Kubernetes cluster (AKS through the Azure credential, or a kubeconfig) as a GitHub
// Actions step. See internal/step/deploy.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/step/deploy"
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
	_, err := deploy.Main(ctx, a, deploy.Deps{})
	return err
}
