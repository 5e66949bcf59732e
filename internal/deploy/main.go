package deploy

import (
	"context"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"k8s.io/client-go/rest"

	"github.com/daedalus-dev/daedalus/internal/actions"
	"github.com/daedalus-dev/daedalus/internal/azure"
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

	deps := Deps{Now: time.Now}
	if cfg.UsesAKS() {
		cred, err := azure.NewCredential(a, cfg.Azure, nil)
		if err != nil {
			return nil, err
		}
		arm := cfg.Azure.CloudConfig().Services[cloud.ResourceManager]
		aks := &AKS{
			Credential:     cred,
			Endpoint:       arm.Endpoint,
			Audience:       arm.Audience,
			HTTP:           &http.Client{Timeout: time.Minute},
			SubscriptionID: cfg.Azure.SubscriptionID,
			ResourceGroup:  cfg.ResourceGroup,
			ClusterName:    cfg.ClusterName,
		}
		deps.REST = aks.RESTConfig
		deps.AcrPull = aks.KubeletHasAcrPull
	} else {
		deps.REST = func(context.Context) (*rest.Config, error) { return KubeconfigREST(cfg.Kubeconfig, cfg.KubeContext) }
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
