package deploy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"k8s.io/client-go/kubernetes"
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
	if o.Scopes[0] == AKSServerScope {
		tok = "aks-token"
	}
	return azcore.AccessToken{Token: tok, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

const (
	testSub     = "00000000-0000-0000-0000-0000000000aa"
	kubeletOID  = "99999999-0000-0000-0000-000000000001"
	clusterPath = "/subscriptions/" + testSub + "/resourceGroups/rg-daedalus/providers/Microsoft.ContainerService/managedClusters/aks-daedalus"
)

// fakeARM stands in for Azure Resource Manager's documented answers:
// managedClusters/listClusterUserCredential (a base64 kubeconfig; for an Entra ID
// cluster its user runs kubelogin), managedClusters GET (identityProfile.kubeletidentity),
// and roleAssignments filtered with assignedTo('<principal>').
func fakeARM(t *testing.T, apiServer string, acrPull bool) *httptest.Server {
	t.Helper()
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: aks-daedalus
  cluster:
    server: %s
    insecure-skip-tls-verify: true
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
`, apiServer)
	return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer arm-token" {
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
				"name": "clusterUser", "value": base64.StdEncoding.EncodeToString([]byte(kubeconfig))}}})
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
}

func TestAKS(t *testing.T) {
	t.Parallel()
	// A stand-in API server that only admits the AKS token.
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer aks-token" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`)
	}))
	t.Cleanup(api.Close)

	for _, acrPull := range []bool{true, false} {
		t.Run(fmt.Sprintf("acrpull=%v", acrPull), func(t *testing.T) {
			t.Parallel()
			arm := fakeARM(t, api.URL, acrPull)
			defer arm.Close()
			cred := &scopeCredential{}
			aks := &AKS{Credential: cred, Endpoint: arm.URL, Audience: "https://management.core.windows.net/", HTTP: arm.Client(),
				SubscriptionID: testSub, ResourceGroup: "rg-daedalus", ClusterName: "aks-daedalus"}
			ctx := context.Background()
			rc, err := aks.RESTConfig(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rc.ExecProvider != nil {
				t.Errorf("the kubelogin exec plugin is still configured")
			}
			kc, err := kubernetes.NewForConfig(rc)
			if err != nil {
				t.Fatal(err)
			}
			v, err := kc.Discovery().ServerVersion()
			if err != nil {
				t.Fatalf("calling the API server with the AKS token: %v", err)
			}
			if v.GitVersion != "v1.37.2" {
				t.Errorf("version = %q", v.GitVersion)
			}
			ok, err := aks.KubeletHasAcrPull(ctx, "daedalusacr")
			if err != nil {
				t.Fatal(err)
			}
			if ok != acrPull {
				t.Errorf("KubeletHasAcrPull = %v, want %v", ok, acrPull)
			}
			cred.mu.Lock()
			defer cred.mu.Unlock()
			if cred.scopes[0] != "https://management.core.windows.net/.default" {
				t.Errorf("ARM scope = %q", cred.scopes[0])
			}
		})
	}
}

func TestAKSErrors(t *testing.T) {
	t.Parallel()
	arm := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"code":"ResourceNotFound","message":"The Resource 'Microsoft.ContainerService/managedClusters/nope' was not found."}}`)
	}))
	defer arm.Close()
	aks := &AKS{Credential: &scopeCredential{}, Endpoint: arm.URL, Audience: "https://management.core.windows.net/", HTTP: arm.Client(),
		SubscriptionID: testSub, ResourceGroup: "rg", ClusterName: "nope"}
	_, err := aks.RESTConfig(context.Background())
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFound") || !strings.Contains(err.Error(), "nope") {
		t.Errorf("err = %v, want the ARM error naming the cluster", err)
	}
}
