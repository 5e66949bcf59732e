package aks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
)

// Input names shared by every step that talks to a cluster.
const (
	InputKubeconfig    = "kubeconfig"
	InputKubeContext   = "kube-context"
	InputResourceGroup = "resource-group"
	InputClusterName   = "cluster-name"
)

// Target is the cluster a step works on: a kubeconfig file, or an AKS cluster whose
// credentials are read through Azure. Build it with ReadTarget.
type Target struct {
	// Kubeconfig is a kubeconfig file; it wins over the AKS fields. Empty, with no AKS
	// cluster named, means the default loading rules ($KUBECONFIG, then ~/.kube/config).
	Kubeconfig  string
	KubeContext string
	// Azure signs in to read the AKS cluster's credentials (and, for an Entra ID
	// cluster, the tokens its API server accepts).
	Azure         azure.Config
	ResourceGroup string
	ClusterName   string
}

// ReadTarget reads the kubeconfig, kube-context, resource-group and cluster-name inputs
// and the Azure ones (azure.ReadConfig).
func ReadTarget(a *actions.Action, in *actions.Inputs) Target {
	return Target{
		Kubeconfig:    in.String(InputKubeconfig, ""),
		KubeContext:   in.String(InputKubeContext, ""),
		Azure:         azure.ReadConfig(a, in),
		ResourceGroup: in.String(InputResourceGroup, ""),
		ClusterName:   in.String(InputClusterName, ""),
	}
}

// UsesAKS reports whether the credentials come from an AKS cluster: no kubeconfig is
// given and an AKS cluster is named.
func (t Target) UsesAKS() bool {
	return t.Kubeconfig == "" && (t.ResourceGroup != "" || t.ClusterName != "")
}

// Named reports whether the target names a cluster (a kubeconfig or an AKS cluster)
// rather than leaving it to the default loading rules.
func (t Target) Named() bool { return t.Kubeconfig != "" || t.UsesAKS() }

// Validate checks the target without touching anything; inActions requires the ids
// GitHub OIDC needs (azure.Config.Validate).
func (t Target) Validate(inActions bool) error {
	if !t.UsesAKS() {
		return nil
	}
	var errs []error
	if t.ResourceGroup == "" {
		errs = append(errs, actions.Invalid(InputResourceGroup, "is empty while cluster-name names an AKS cluster",
			"set it to the cluster's resource group (the infra step's resource_group_name output)"))
	}
	if t.ClusterName == "" {
		errs = append(errs, actions.Invalid(InputClusterName, "is empty while resource-group is set",
			"set it to the AKS cluster's name (the infra step's cluster_name output)"))
	}
	if err := t.Azure.Validate(inActions); err != nil {
		errs = append(errs, err)
	}
	if t.Azure.SubscriptionID == "" {
		errs = append(errs, actions.Invalid(azure.InputSubscriptionID, "is required to read AKS credentials",
			"set it to the cluster's subscription id"))
	}
	return errors.Join(errs...)
}

// LogValue names the target without secrets.
func (t Target) LogValue() slog.Value {
	if t.UsesAKS() {
		return slog.GroupValue(slog.String("aks", t.ResourceGroup+"/"+t.ClusterName),
			slog.Attr{Key: "azure", Value: t.Azure.LogValue()})
	}
	return slog.GroupValue(slog.String("kubeconfig", t.Kubeconfig), slog.String("context", t.KubeContext))
}

// Access is how a step reaches its target.
type Access struct {
	// REST builds the client configuration; for AKS it reads the credentials from Azure
	// Resource Manager, so call it once the step is ready to touch the cluster.
	REST func(context.Context) (*rest.Config, error)
	// AKS is the cluster in Azure Resource Manager; nil for a kubeconfig target.
	AKS *Cluster
}

// Options point Open at stand-ins; nil means the real endpoints.
type Options struct {
	Azure *azure.Options // how the credential reaches Entra ID
	// Transport carries the Resource Manager requests of the cloud the target names
	// (tests hand in the SDK's fake servers); nil means azcore's default transport.
	Transport policy.Transporter
}

// Open returns the access for a validated target. For AKS it builds the Azure
// credential (GitHub OIDC in Actions, the developer's login elsewhere) and fails before
// any request when it cannot.
func (t Target) Open(a *actions.Action, opts *Options) (Access, error) {
	if !t.UsesAKS() {
		return Access{REST: func(context.Context) (*rest.Config, error) { return Kubeconfig(t.Kubeconfig, t.KubeContext) }}, nil
	}
	if opts == nil {
		opts = &Options{}
	}
	cred, err := azure.NewCredential(a, t.Azure, opts.Azure)
	if err != nil {
		return Access{}, err
	}
	c := &Cluster{
		Credential: cred,
		ARM: &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
			Cloud:     t.Azure.CloudConfig(),
			Transport: opts.Transport,
		}},
		SubscriptionID: t.Azure.SubscriptionID,
		ResourceGroup:  t.ResourceGroup,
		Name:           t.ClusterName,
	}
	return Access{REST: c.RESTConfig, AKS: c}, nil
}

// Kubeconfig loads a kubeconfig file (the default loading rules when path is empty);
// kubeContext "" means its current context.
func Kubeconfig(path, kubeContext string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		where := path
		if where == "" {
			where = "from KUBECONFIG or ~/.kube/config"
		}
		return nil, actions.Invalid(InputKubeconfig, fmt.Sprintf("loading the kubeconfig %s: %v", where, err),
			"set kubeconfig to a kubeconfig file for the cluster, or resource-group and cluster-name to an AKS cluster")
	}
	return cfg, nil
}
