package aks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
	"github.com/daedalus-dev/daedalus/internal/lib/azure/azuretest"
	"github.com/daedalus-dev/daedalus/internal/lib/syncbuf"
	"github.com/daedalus-dev/daedalus/internal/test/kubetest"
)

// scopeCredential hands out a token named after the scope it is asked for.
type scopeCredential struct {
	mu     sync.Mutex
	scopes []string
}

func (c *scopeCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scopes = append(c.scopes, o.Scopes...)
	tok := "arm-token"
	if o.Scopes[0] == ServerScope {
		tok = "aks-token"
	}
	return azcore.AccessToken{Token: tok, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

const (
	testSub     = "00000000-0000-0000-0000-0000000000aa"
	testTenant  = "00000000-0000-0000-0000-0000000000bb"
	testClient  = "00000000-0000-0000-0000-0000000000cc"
	kubeletOID  = "99999999-0000-0000-0000-000000000001"
	clusterPath = "/subscriptions/" + testSub + "/resourceGroups/rg-daedalus/providers/Microsoft.ContainerService/managedClusters/aks-daedalus"
)

// entraKubeconfig is what listClusterUserCredential returns for an Entra ID cluster: the
// cluster's server and CA, and a user that runs kubelogin for a token.
func entraKubeconfig(cl *kubetest.Cluster) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: aks-daedalus
  cluster:
    server: %s
    certificate-authority-data: %s
contexts:
- name: aks-daedalus
  context: {cluster: aks-daedalus, user: clusterUser_rg-daedalus_aks-daedalus}
current-context: aks-daedalus
users:
- name: clusterUser_rg-daedalus_aks-daedalus
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: kubelogin
      args: [get-token, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630]
`, cl.Config.Host, base64.StdEncoding.EncodeToString(cl.Config.CAData))
}

// fakeARM stands in for Azure Resource Manager's documented answers:
// managedClusters/listClusterUserCredential (a base64 kubeconfig), managedClusters GET
// (identityProfile.kubeletidentity), and roleAssignments filtered with
// assignedTo('<principal>'). armToken says whether a bearer token is one ARM accepts.
func fakeARM(t *testing.T, kubeconfig []byte, acrPull bool, armToken func(string) bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || !armToken(tok) {
			http.Error(w, `{"error":{"code":"InvalidAuthenticationToken","message":"bad token"}}`, http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("api-version") == "" {
			http.Error(w, `{"error":{"code":"MissingApiVersionParameter","message":"no api-version"}}`, http.StatusBadRequest)
			return
		}
		switch {
		case r.Method == http.MethodPost && r.URL.Path == clusterPath+"/listClusterUserCredential":
			_ = json.NewEncoder(w).Encode(map[string]any{"kubeconfigs": []any{map[string]any{
				"name": "clusterUser", "value": base64.StdEncoding.EncodeToString(kubeconfig)}}})
		case r.Method == http.MethodGet && r.URL.Path == clusterPath:
			fmt.Fprintf(w, `{"properties":{"identityProfile":{"kubeletidentity":{"objectId":%q}}}}`, kubeletOID)
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/registries/daedalusacr/providers/Microsoft.Authorization/roleAssignments"):
			if r.URL.Query().Get("$filter") != "assignedTo('"+kubeletOID+"')" {
				http.Error(w, `{"error":{"code":"BadFilter","message":"unexpected filter"}}`, http.StatusBadRequest)
				return
			}
			role := "acdd72a7-3385-48ef-bd42-f606fba81ae7" // Reader
			if acrPull {
				role = AcrPullRoleID
			}
			fmt.Fprintf(w, `{"value":[{"properties":{"roleDefinitionId":"/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s","principalId":%q}}]}`, testSub, role, kubeletOID)
		default:
			t.Errorf("unexpected ARM call %s %s", r.Method, r.URL.Path)
			http.Error(w, `{"error":{"code":"NotFound","message":"no such thing"}}`, http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// armCluster is cluster name in resource group rg-daedalus, read through arm with cred.
func armCluster(arm *httptest.Server, cred azcore.TokenCredential, name string) *Cluster {
	return &Cluster{Credential: cred, Endpoint: arm.URL, Audience: "https://management.core.windows.net/", HTTP: arm.Client(),
		SubscriptionID: testSub, ResourceGroup: "rg-daedalus", Name: name}
}

// TestCluster reaches a real kube-apiserver through the credentials ARM hands out. Its
// webhook token authenticator stands in for AKS's Entra ID integration: it admits a
// bearer token only when Entra issued it for the AKS server application (the
// scopeCredential's "aks-token", or a token the Entra stand-in issued for that scope).
func TestCluster(t *testing.T) {
	entra := azuretest.NewEntra(t, azuretest.EntraOptions{})
	cl := kubetest.Start(t, kubetest.Options{Authenticate: func(tok string) (string, []string, bool) {
		if scope, ok := entra.Scope(tok); (ok && scope == ServerScope) || tok == "aks-token" {
			return "entra-user", []string{"system:masters"}, true
		}
		return "", nil, false
	}})
	ctx := t.Context()
	entraKC := entraKubeconfig(cl)
	localKC, err := os.ReadFile(cl.Kubeconfig) // a local account's client certificate
	if err != nil {
		t.Fatal(err)
	}

	t.Run("entra", func(t *testing.T) {
		for _, acrPull := range []bool{true, false} {
			arm := fakeARM(t, entraKC, acrPull, func(tok string) bool { return tok == "arm-token" })
			cred := &scopeCredential{}
			c := armCluster(arm, cred, "aks-daedalus")
			rc, err := c.RESTConfig(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rc.ExecProvider != nil {
				t.Errorf("the kubelogin exec plugin is still configured")
			}
			listNamespaces(t, rc)
			ok, err := c.KubeletHasAcrPull(ctx, "daedalusacr")
			if err != nil {
				t.Fatal(err)
			}
			if ok != acrPull {
				t.Errorf("KubeletHasAcrPull = %v, want %v", ok, acrPull)
			}
			cred.mu.Lock()
			if cred.scopes[0] != "https://management.core.windows.net/.default" || !slices.Contains(cred.scopes, ServerScope) {
				t.Errorf("scopes asked for = %q, want ARM's first, then the AKS server's", cred.scopes)
			}
			cred.mu.Unlock()
		}
	})

	t.Run("local account", func(t *testing.T) {
		arm := fakeARM(t, localKC, true, func(tok string) bool { return tok == "arm-token" })
		cred := &scopeCredential{}
		c := armCluster(arm, cred, "aks-daedalus")
		rc, err := c.RESTConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		listNamespaces(t, rc)
		cred.mu.Lock()
		defer cred.mu.Unlock()
		if slices.Contains(cred.scopes, ServerScope) {
			t.Errorf("an AKS token was fetched for a cluster whose kubeconfig holds a client certificate")
		}
	})

	t.Run("entra token refused", func(t *testing.T) {
		// Without the AKS token the API server refuses: the bearer wrapper is what admits.
		arm := fakeARM(t, entraKC, true, func(string) bool { return true })
		c := armCluster(arm, constCredential("not-entra"), "aks-daedalus")
		rc, err := c.RESTConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		kc := kubernetes.NewForConfigOrDie(rc)
		if _, err := kc.CoreV1().Namespaces().List(ctx, metav1.ListOptions{}); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
			t.Errorf("listing with a token Entra never issued: err = %v, want Unauthorized", err)
		}
	})

	// The whole path a step takes in Actions: GitHub OIDC → Entra → ARM → the cluster.
	t.Run("open with GitHub OIDC", func(t *testing.T) {
		gh := azuretest.NewGitHub(t, azuretest.GitHubOptions{})
		arm := fakeARM(t, entraKC, true, func(tok string) bool {
			scope, ok := entra.Scope(tok)
			return ok && scope == "https://management.core.windows.net/.default"
		})
		env := gh.Env()
		out := &syncbuf.Buffer{}
		a := actions.New(actions.WithGetenv(func(k string) string { return env[k] }), actions.WithWriter(out))
		target := Target{ResourceGroup: "rg-daedalus", ClusterName: "aks-daedalus"}
		target.Azure.TenantID, target.Azure.ClientID, target.Azure.SubscriptionID, target.Azure.Cloud = testTenant, testClient, testSub, entra.URL
		if err := target.Validate(a.InActions()); err != nil {
			t.Fatal(err)
		}
		acc, err := target.Open(a, &Options{Azure: &azure.Options{Transport: entra.Client()}, ARMEndpoint: arm.URL, ARM: arm.Client()})
		if err != nil {
			t.Fatal(err)
		}
		if acc.AKS == nil {
			t.Fatal("Open gave no AKS cluster for an AKS target")
		}
		rc, err := acc.REST(ctx)
		if err != nil {
			t.Fatal(err)
		}
		listNamespaces(t, rc)
		if n := len(gh.Issued()); n == 0 {
			t.Errorf("no GitHub OIDC token was requested")
		}
		toks := entra.AccessTokens()
		if len(toks) < 2 {
			t.Errorf("Entra issued %d tokens, want one for ARM and one for the AKS server", len(toks))
		}
		for _, tok := range toks {
			if !strings.Contains(out.String(), "::add-mask::"+tok) {
				t.Errorf("access token %.14s… was never masked", tok)
			}
		}
	})
}

type constCredential string

func (c constCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(c), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// listNamespaces proves rc reaches the API server as an administrator.
func listNamespaces(t *testing.T, rc *rest.Config) {
	t.Helper()
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	nss, err := kc.CoreV1().Namespaces().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("listing namespaces: %v", err)
	}
	if !slices.ContainsFunc(nss.Items, func(ns corev1.Namespace) bool { return ns.Name == "kube-system" }) {
		t.Errorf("namespaces = %d, none is kube-system", len(nss.Items))
	}
}

func TestClusterARMError(t *testing.T) {
	t.Parallel()
	arm := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"code":"ResourceNotFound","message":"The Resource 'Microsoft.ContainerService/managedClusters/nope' was not found."}}`)
	}))
	defer arm.Close()
	c := armCluster(arm, &scopeCredential{}, "nope")
	_, err := c.RESTConfig(context.Background())
	var armErr *ARMError
	if !errors.As(err, &armErr) || armErr.Code != "ResourceNotFound" || !strings.Contains(err.Error(), "nope") {
		t.Errorf("err = %v, want the ARM error naming the cluster", err)
	}
}
