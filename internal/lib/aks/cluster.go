package aks

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ServerScope is the token scope of the AKS Entra ID server application: the token
// kubelogin would fetch for an Entra-enabled cluster.
const ServerScope = "6dae42f8-4368-4678-94ff-3960e28e3630/.default"

// AcrPullRoleID is the built-in AcrPull role definition's id.
const AcrPullRoleID = "7f951dda-4ed3-4680-a7ca-43fe172d538d"

// tryTimeout bounds each try of an ARM request, so a stalled connection cannot hang a
// step.
const tryTimeout = time.Minute

// Cluster reads one AKS cluster's credentials and role assignments from Azure Resource
// Manager through the Azure SDK's clients, signed in with an Azure credential: no az
// CLI, no kubelogin. Errors from ARM wrap the SDK's *azcore.ResponseError; the SDK's
// pipeline retries throttling and transient failures below them.
type Cluster struct {
	Credential azcore.TokenCredential
	// ARM is how the SDK clients reach Resource Manager: Cloud gives its endpoint and
	// token audience (a sovereign cloud's too), Transport carries the requests. nil
	// means the public cloud over azcore's default transport. Either way each try is
	// bounded (a minute unless Retry.TryTimeout says otherwise) and the clients never
	// register resource providers: the cluster only reads.
	ARM            *arm.ClientOptions
	SubscriptionID string
	ResourceGroup  string
	Name           string
}

func (c *Cluster) clientOptions() *arm.ClientOptions {
	var o arm.ClientOptions
	if c.ARM != nil {
		o = *c.ARM
	}
	if o.Retry.TryTimeout == 0 {
		o.Retry.TryTimeout = tryTimeout
	}
	o.DisableRPRegistration = true
	return &o
}

func (c *Cluster) managedClusters() (*armcontainerservice.ManagedClustersClient, error) {
	mc, err := armcontainerservice.NewManagedClustersClient(c.SubscriptionID, c.Credential, c.clientOptions())
	if err != nil {
		return nil, fmt.Errorf("creating the managed clusters client: %w", err)
	}
	return mc, nil
}

// RESTConfig returns a client configuration for the cluster from its user credential
// (listClusterUserCredential), kept in memory. For an Entra ID cluster, whose
// kubeconfig calls kubelogin, requests carry a token for the AKS server application
// from the Azure credential instead, fetched (and cached by the credential) as they go.
func (c *Cluster) RESTConfig(ctx context.Context) (*rest.Config, error) {
	mc, err := c.managedClusters()
	if err != nil {
		return nil, err
	}
	creds, err := mc.ListClusterUserCredentials(ctx, c.ResourceGroup, c.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the credentials of AKS cluster %s: %w", c.Name, err)
	}
	if len(creds.Kubeconfigs) == 0 || creds.Kubeconfigs[0] == nil || len(creds.Kubeconfigs[0].Value) == 0 {
		return nil, fmt.Errorf("AKS cluster %s returned no kubeconfig", c.Name)
	}
	kc, err := clientcmd.Load(creds.Kubeconfigs[0].Value) // the SDK has decoded its base64
	if err != nil {
		return nil, fmt.Errorf("parsing the kubeconfig of AKS cluster %s: %w", c.Name, err)
	}
	entra := false
	if ctx, ok := kc.Contexts[kc.CurrentContext]; ok {
		if ai, ok := kc.AuthInfos[ctx.AuthInfo]; ok && (ai.Exec != nil || ai.AuthProvider != nil) {
			entra = true
			ai.Exec, ai.AuthProvider = nil, nil
		}
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*kc, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("building a client for AKS cluster %s: %w", c.Name, err)
	}
	if entra {
		cred := c.Credential
		cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &bearer{cred: cred, next: rt} })
	}
	return cfg, nil
}

// bearer adds a fresh AKS token to every request.
type bearer struct {
	cred azcore.TokenCredential
	next http.RoundTripper
}

func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := b.cred.GetToken(req.Context(), policy.TokenRequestOptions{Scopes: []string{ServerScope}})
	if err != nil {
		return nil, fmt.Errorf("getting an AKS token: %w", err)
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok.Token)
	return b.next.RoundTrip(r)
}

// KubeletHasAcrPull reports whether the cluster's kubelet identity holds AcrPull on the
// registry acrName (looked up in the cluster's resource group): without it every pod of
// the release fails in ImagePullBackOff. It reads the role assignments page by page
// until it finds one. Callers only warn.
func (c *Cluster) KubeletHasAcrPull(ctx context.Context, acrName string) (bool, error) {
	mc, err := c.managedClusters()
	if err != nil {
		return false, err
	}
	cluster, err := mc.Get(ctx, c.ResourceGroup, c.Name, nil)
	if err != nil {
		return false, fmt.Errorf("reading AKS cluster %s: %w", c.Name, err)
	}
	var kubelet string
	if p := cluster.Properties; p != nil && p.IdentityProfile["kubeletidentity"] != nil {
		kubelet = deref(p.IdentityProfile["kubeletidentity"].ObjectID)
	}
	if kubelet == "" {
		return false, fmt.Errorf("AKS cluster %s has no kubelet identity (identityProfile.kubeletidentity)", c.Name)
	}
	assignments, err := armauthorization.NewRoleAssignmentsClient(c.SubscriptionID, c.Credential, c.clientOptions())
	if err != nil {
		return false, fmt.Errorf("creating the role assignments client: %w", err)
	}
	acrID := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ContainerRegistry/registries/%s",
		url.PathEscape(c.SubscriptionID), url.PathEscape(c.ResourceGroup), url.PathEscape(acrName))
	pager := assignments.NewListForScopePager(acrID, &armauthorization.RoleAssignmentsClientListForScopeOptions{
		Filter: to.Ptr(fmt.Sprintf("assignedTo('%s')", kubelet)),
	})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return false, fmt.Errorf("listing role assignments on registry %s: %w", acrName, err)
		}
		for _, ra := range page.Value {
			if ra != nil && ra.Properties != nil &&
				strings.HasSuffix(strings.ToLower(deref(ra.Properties.RoleDefinitionID)), "/"+AcrPullRoleID) {
				return true, nil
			}
		}
	}
	return false, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
