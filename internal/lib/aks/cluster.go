package aks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ServerScope is the token scope of the AKS Entra ID server application: the token
// kubelogin would fetch for an Entra-enabled cluster.
const ServerScope = "6dae42f8-4368-4678-94ff-3960e28e3630/.default"

// AcrPullRoleID is the built-in AcrPull role definition's id.
const AcrPullRoleID = "7f951dda-4ed3-4680-a7ca-43fe172d538d"

// Cluster reads one AKS cluster's credentials and role assignments from Azure Resource
// Manager with an Azure credential: no az CLI, no kubelogin.
type Cluster struct {
	Credential     azcore.TokenCredential
	Endpoint       string       // ARM endpoint, e.g. https://management.azure.com
	Audience       string       // ARM token audience, e.g. https://management.core.windows.net/
	HTTP           *http.Client // nil: defaultARMClient
	SubscriptionID string
	ResourceGroup  string
	Name           string
}

// defaultARMClient bounds each ARM call, so a stalled connection cannot hang a step.
var defaultARMClient = &http.Client{Timeout: time.Minute}

func (c *Cluster) clusterPath() string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ContainerService/managedClusters/%s",
		url.PathEscape(c.SubscriptionID), url.PathEscape(c.ResourceGroup), url.PathEscape(c.Name))
}

// call sends one ARM request and decodes the JSON answer into out.
func (c *Cluster) call(ctx context.Context, method, path, apiVersion string, query url.Values, out any) error {
	tok, err := c.Credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{strings.TrimSuffix(c.Audience, "/") + "/.default"}})
	if err != nil {
		return fmt.Errorf("getting an Azure Resource Manager token: %w", err)
	}
	if query == nil {
		query = url.Values{}
	}
	query.Set("api-version", apiVersion)
	u := strings.TrimSuffix(c.Endpoint, "/") + path + "?" + query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Accept", "application/json")
	client := c.HTTP
	if client == nil {
		client = defaultARMClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return &ARMError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message, Path: path}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// ARMError is an error answer from Azure Resource Manager.
type ARMError struct {
	Status        int
	Code, Message string
	Path          string
}

func (e *ARMError) Error() string {
	return fmt.Sprintf("azure resource manager: %s: %d %s: %s", e.Path, e.Status, e.Code, e.Message)
}

// RESTConfig returns a client configuration for the cluster from its user credential
// (listClusterUserCredential). For an Entra ID cluster, whose kubeconfig calls
// kubelogin, requests carry a token for the AKS server application from the Azure
// credential instead, fetched (and cached by the credential) as they go.
func (c *Cluster) RESTConfig(ctx context.Context) (*rest.Config, error) {
	var out struct {
		Kubeconfigs []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"kubeconfigs"`
	}
	if err := c.call(ctx, http.MethodPost, c.clusterPath()+"/listClusterUserCredential", "2024-09-01", nil, &out); err != nil {
		return nil, fmt.Errorf("reading the credentials of AKS cluster %s: %w", c.Name, err)
	}
	if len(out.Kubeconfigs) == 0 {
		return nil, fmt.Errorf("AKS cluster %s returned no kubeconfig", c.Name)
	}
	raw, err := base64.StdEncoding.DecodeString(out.Kubeconfigs[0].Value)
	if err != nil {
		return nil, fmt.Errorf("decoding the kubeconfig of AKS cluster %s: %w", c.Name, err)
	}
	kc, err := clientcmd.Load(raw)
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
// the release fails in ImagePullBackOff. Callers only warn.
func (c *Cluster) KubeletHasAcrPull(ctx context.Context, acrName string) (bool, error) {
	var mc struct {
		Properties struct {
			IdentityProfile map[string]struct {
				ObjectID string `json:"objectId"`
			} `json:"identityProfile"`
		} `json:"properties"`
	}
	if err := c.call(ctx, http.MethodGet, c.clusterPath(), "2024-09-01", nil, &mc); err != nil {
		return false, fmt.Errorf("reading AKS cluster %s: %w", c.Name, err)
	}
	kubelet := mc.Properties.IdentityProfile["kubeletidentity"].ObjectID
	if kubelet == "" {
		return false, fmt.Errorf("AKS cluster %s has no kubelet identity (identityProfile.kubeletidentity)", c.Name)
	}
	acrID := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ContainerRegistry/registries/%s",
		url.PathEscape(c.SubscriptionID), url.PathEscape(c.ResourceGroup), url.PathEscape(acrName))
	var ras struct {
		Value []struct {
			Properties struct {
				RoleDefinitionID string `json:"roleDefinitionId"`
				PrincipalID      string `json:"principalId"`
			} `json:"properties"`
		} `json:"value"`
	}
	q := url.Values{"$filter": {fmt.Sprintf("assignedTo('%s')", kubelet)}}
	if err := c.call(ctx, http.MethodGet, acrID+"/providers/Microsoft.Authorization/roleAssignments", "2022-04-01", q, &ras); err != nil {
		return false, fmt.Errorf("listing role assignments on registry %s: %w", acrName, err)
	}
	for _, ra := range ras.Value {
		if strings.HasSuffix(strings.ToLower(ra.Properties.RoleDefinitionID), "/"+AcrPullRoleID) {
			return true, nil
		}
	}
	return false, nil
}
