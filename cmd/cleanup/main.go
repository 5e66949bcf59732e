// Command cleanup is the nightly TTL reaper as a GitHub Actions step: it deletes the
// resource groups whose auto-destroy=true and expires-at tags say they have expired. See
// internal/step/cleanup.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/step/cleanup"
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
	_, err := cleanup.Main(ctx, a, cleanup.Deps{
		Now:       time.Now,
		WriteFile: func(name string, data []byte) error { return os.WriteFile(name, data, 0o644) },
	})
	return err
}
