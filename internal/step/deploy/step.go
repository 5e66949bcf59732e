package deploy

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/step/publish"
)

// anonymousOrDocker reads a registry with the runner's Docker credentials, if any
// (docker login), else anonymously.
func anonymousOrDocker(context.Context, name.Registry) ([]remote.Option, error) {
	return []remote.Option{remote.WithAuthFromKeychain(authn.DefaultKeychain)}, nil
}

// Main is the deploy step: read and validate the inputs, wire the cluster and Azure
// access deps leaves nil, Run, then write the outputs and the summary.
func Main(ctx context.Context, a *actions.Action, deps Deps) (*Result, error) {
	cfg, err := ReadConfig(a)
	if err := errors.Join(err, cfg.Validate()); err != nil {
		return nil, err
	}
	a.Debugf("configuration: %v", cfg.LogValue())
	if deps.REST == nil {
		if deps, err = wire(a, cfg, deps); err != nil {
			return nil, err
		}
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Report == nil {
		deps.Report = a
	}
	res, err := Run(ctx, cfg, deps)
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

// wire fills in deps the access to the cluster cfg.Target names: its API server, and on
// AKS the kubelet's AcrPull check and the ACR read with the step's Azure identity.
func wire(a *actions.Action, cfg Config, deps Deps) (Deps, error) {
	acc, err := cfg.Target.Open(a, nil)
	if err != nil {
		return deps, err
	}
	deps.REST = acc.REST
	if deps.Registry == nil {
		deps.Registry = anonymousOrDocker
	}
	if acc.AKS != nil {
		deps.AcrPull = acc.AKS.KubeletHasAcrPull
		deps.Registry = func(ctx context.Context, reg name.Registry) ([]remote.Option, error) {
			if !strings.Contains(reg.RegistryStr(), ".azurecr.") {
				return anonymousOrDocker(ctx, reg)
			}
			// The step's Azure identity reads the ACR the ACR way (token exchange), the
			// credential pinned to that one host.
			transport := publish.PinnedTransport{Registry: reg.RegistryStr(), Base: http.DefaultTransport}
			kc, err := publish.Login(ctx, a, acc.AKS.Credential, cfg.Target.Azure, reg, &http.Client{Transport: transport, Timeout: time.Minute})
			if err != nil {
				return nil, err
			}
			return []remote.Option{remote.WithAuthFromKeychain(kc), remote.WithTransport(transport)}, nil
		}
	}
	return deps, nil
}
