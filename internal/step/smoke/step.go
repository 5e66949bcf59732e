package smoke

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
)

// Main is the smoke step: read and validate the inputs, wire the cluster and NATS for
// the clients deps leaves nil, Run, then write the outputs and the summary (also when a
// check failed).
func Main(ctx context.Context, a *actions.Action, deps Deps) (*Report, error) {
	cfg, err := ReadConfig(a)
	if err := errors.Join(err, cfg.Validate()); err != nil {
		return nil, err
	}
	a.Debugf("configuration: %v", cfg.LogValue())
	if deps.Kube == nil {
		if deps, err = wire(ctx, a, cfg, deps); err != nil {
			return nil, err
		}
	}
	if deps.Logf == nil {
		deps.Logf = a.Infof
	}
	var rep *Report
	runErr := a.Group("Smoke test: "+fmt.Sprint(cfg.Tasks)+" task(s) on worker "+cfg.Worker, func() error {
		var err error
		rep, err = Run(ctx, cfg, deps)
		return err
	})
	if rep != nil {
		for _, d := range rep.Diagnoses {
			a.Errorf("%s", d.String())
		}
		for k, v := range rep.Outputs() {
			if err := a.SetOutput(k, v); err != nil {
				return rep, err
			}
		}
		if err := a.Summary(rep.Summary()); err != nil {
			return rep, err
		}
	}
	return rep, runErr
}

// wire fills in deps the real clients of the cluster cfg.Target names.
func wire(ctx context.Context, a *actions.Action, cfg Config, deps Deps) (Deps, error) {
	acc, err := cfg.Target.Open(a, nil)
	if err != nil {
		return deps, err
	}
	rc, err := acc.REST(ctx)
	if err != nil {
		return deps, err
	}
	if deps.Kube, err = kubernetes.NewForConfig(rc); err != nil {
		return deps, fmt.Errorf("building a Kubernetes client: %w", err)
	}
	if deps.Dynamic, err = dynamic.NewForConfig(rc); err != nil {
		return deps, fmt.Errorf("building a dynamic client: %w", err)
	}
	if deps.NATS == nil {
		deps.NATS = NATSConnector(cfg, rc, deps.Kube, a.Mask)
	}
	return deps, nil
}
