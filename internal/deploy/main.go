package deploy

import (
	"context"
	"time"

	"github.com/daedalus-dev/daedalus/internal/actions"
)

// Main is the deploy step: read and validate the inputs, wire the real cluster and
// Azure access, Run, then write the outputs and the summary.
func Main(ctx context.Context, a *actions.Action) (*Result, error) {
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
	deps := Deps{Now: time.Now, REST: acc.REST}
	if acc.AKS != nil {
		deps.AcrPull = acc.AKS.KubeletHasAcrPull
	}

	res, err := Run(ctx, cfg, a, deps)
	if err != nil {
		return nil, err
	}
	for k, v := range res.Outputs() {
		if err := a.SetOutput(k, v); err != nil {
			return res, err
		}
	}
	return res, a.Summary(res.Summary())
}
