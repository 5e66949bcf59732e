package smoke

import (
	"context"
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/daedalus-dev/daedalus/internal/actions"
)

// Main is the smoke step: read and validate the inputs, wire the cluster and NATS, Run,
// then write the outputs and the summary (also when a check failed).
func Main(ctx context.Context, a *actions.Action) (*Report, error) { return MainWith(ctx, a, nil) }

// MainWith is Main with a hook that may adjust the wired Deps before Run (tests give
// the KEDA operator's log when it runs out of cluster).
func MainWith(ctx context.Context, a *actions.Action, adjust func(*Deps)) (*Report, error) {
	cfg, err := ReadConfig(a)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(a.InActions()); err != nil {
		return nil, err
	}
	a.Debugf("configuration: %v", cfg.LogValue())
	acc, err := cfg.Target.Open(a, nil)
	if err != nil {
		return nil, err
	}
	rc, err := acc.REST(ctx)
	if err != nil {
		return nil, err
	}
	deps, err := NewDeps(cfg, rc, a.Mask)
	if err != nil {
		return nil, err
	}
	deps.Logf = a.Infof
	if adjust != nil {
		adjust(&deps)
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

// NewDeps wires the real clients for rc.
func NewDeps(cfg Config, rc *rest.Config, mask func(string)) (Deps, error) {
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return Deps{}, fmt.Errorf("building a Kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return Deps{}, fmt.Errorf("building a dynamic client: %w", err)
	}
	return Deps{Kube: kube, Dynamic: dyn, NATS: NATSConnector(cfg, rc, kube, mask)}, nil
}
