package aks

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azarm "github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	authfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6"
	csfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v6/fake"
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
	testSub    = "00000000-0000-0000-0000-0000000000aa"
	testTenant = "00000000-0000-0000-0000-0000000000bb"
	testClient = "00000000-0000-0000-0000-0000000000cc"
	kubeletOID = "99999999-0000-0000-0000-000000000001"
	groupPath  = "/subscriptions/" + testSub + "/resourceGroups/rg-daedalus"
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

// armScope is the scope an ARM token is issued for in the public cloud: its audience
// https://management.core.windows.net/ with /.default appended, as the SDK asks for it.
const armScope = "https://management.core.windows.net//.default"

// fakeARM stands in for Azure Resource Manager through the Azure SDK's own fake servers,
// behind the real SDK clients. armcontainerservice's ManagedClustersServer answers
// managedClusters/listClusterUserCredential (a kubeconfig, base64 on the wire) and
// managedClusters GET (identityProfile.kubeletidentity) for aks-daedalus in rg-daedalus,
// and 404 ResourceNotFound for any other cluster; armauthorization's
// RoleAssignmentsServer lists the role assignments on registry daedalusacr filtered with
// assignedTo('<principal>') over two pages (nextLink), a Reader assignment first and,
// with acrPull, AcrPull on the second. In front of them it does what ARM does and the
// SDK fakes do not: a request whose bearer token ARM does not accept (armToken) is
// refused 401 InvalidAuthenticationToken, one without an api-version 400
// MissingApiVersionParameter, and any request outside the cluster's resource group in
// testSub fails the test.
type fakeARM struct {
	t        *testing.T
	armToken func(string) bool
	clusters *csfake.ManagedClustersServerTransport
	roles    *authfake.RoleAssignmentsServerTransport

	mu   sync.Mutex
	urls []*url.URL // every request, in order
}

func newFakeARM(t *testing.T, kubeconfig []byte, acrPull bool, armToken func(string) bool) *fakeARM {
	f := &fakeARM{t: t, armToken: armToken}
	found := func(group, name string) bool { return group == "rg-daedalus" && name == "aks-daedalus" }
	f.clusters = csfake.NewManagedClustersServerTransport(&csfake.ManagedClustersServer{
		ListClusterUserCredentials: func(_ context.Context, group, name string, _ *armcontainerservice.ManagedClustersClientListClusterUserCredentialsOptions) (resp azfake.Responder[armcontainerservice.ManagedClustersClientListClusterUserCredentialsResponse], errResp azfake.ErrorResponder) {
			if !found(group, name) {
				errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
				return
			}
			resp.SetResponse(http.StatusOK, armcontainerservice.ManagedClustersClientListClusterUserCredentialsResponse{
				CredentialResults: armcontainerservice.CredentialResults{Kubeconfigs: []*armcontainerservice.CredentialResult{
					{Name: to.Ptr("clusterUser"), Value: kubeconfig}}}}, nil)
			return
		},
		Get: func(_ context.Context, group, name string, _ *armcontainerservice.ManagedClustersClientGetOptions) (resp azfake.Responder[armcontainerservice.ManagedClustersClientGetResponse], errResp azfake.ErrorResponder) {
			if !found(group, name) {
				errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
				return
			}
			resp.SetResponse(http.StatusOK, armcontainerservice.ManagedClustersClientGetResponse{ManagedCluster: armcontainerservice.ManagedCluster{
				Name: to.Ptr(name),
				Properties: &armcontainerservice.ManagedClusterProperties{IdentityProfile: map[string]*armcontainerservice.UserAssignedIdentity{
					"kubeletidentity": {ObjectID: to.Ptr(kubeletOID)}}},
			}}, nil)
			return
		},
	})
	f.roles = authfake.NewRoleAssignmentsServerTransport(&authfake.RoleAssignmentsServer{
		NewListForScopePager: func(scope string, o *armauthorization.RoleAssignmentsClientListForScopeOptions) (resp azfake.PagerResponder[armauthorization.RoleAssignmentsClientListForScopeResponse]) {
			if strings.TrimPrefix(scope, "/") != strings.TrimPrefix(groupPath, "/")+"/providers/Microsoft.ContainerRegistry/registries/daedalusacr" {
				resp.AddResponseError(http.StatusNotFound, "ResourceNotFound")
				return
			}
			if o == nil || o.Filter == nil || *o.Filter != "assignedTo('"+kubeletOID+"')" {
				resp.AddResponseError(http.StatusBadRequest, "BadFilter")
				return
			}
			page := func(role string) armauthorization.RoleAssignmentsClientListForScopeResponse {
				return armauthorization.RoleAssignmentsClientListForScopeResponse{RoleAssignmentListResult: armauthorization.RoleAssignmentListResult{
					Value: []*armauthorization.RoleAssignment{{Properties: &armauthorization.RoleAssignmentProperties{
						RoleDefinitionID: to.Ptr("/subscriptions/" + testSub + "/providers/Microsoft.Authorization/roleDefinitions/" + role),
						PrincipalID:      to.Ptr(kubeletOID),
					}}}}}
			}
			resp.AddPage(http.StatusOK, page("acdd72a7-3385-48ef-bd42-f606fba81ae7"), nil) // Reader
			if acrPull {
				resp.AddPage(http.StatusOK, page(AcrPullRoleID), nil)
			} else {
				resp.AddPage(http.StatusOK, armauthorization.RoleAssignmentsClientListForScopeResponse{}, nil)
			}
			return
		},
	})
	return f
}

// Do implements policy.Transporter.
func (f *fakeARM) Do(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.urls = append(f.urls, req.URL)
	f.mu.Unlock()
	if tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer "); !ok || !f.armToken(tok) {
		return armError(req, http.StatusUnauthorized, "InvalidAuthenticationToken"), nil
	}
	if req.URL.Query().Get("api-version") == "" {
		return armError(req, http.StatusBadRequest, "MissingApiVersionParameter"), nil
	}
	api, _ := req.Context().Value(runtime.CtxAPINameKey{}).(string) // e.g. ManagedClustersClient.Get
	if strings.HasPrefix(req.URL.Path, groupPath+"/providers/") {
		switch {
		case strings.HasPrefix(api, "ManagedClustersClient."):
			return f.clusters.Do(req)
		case strings.HasPrefix(api, "RoleAssignmentsClient."):
			return f.roles.Do(req)
		}
	}
	f.t.Errorf("unexpected ARM call %s %s (%s)", req.Method, req.URL, api)
	return armError(req, http.StatusNotFound, "NotFound"), nil
}

// requests returns the URL of every request ARM was sent.
func (f *fakeARM) requests() []*url.URL {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.urls)
}

// armError is ARM's error answer: {"error":{"code":…,"message":…}}.
func armError(req *http.Request, status int, code string) *http.Response {
	body := fmt.Sprintf(`{"error":{"code":%q,"message":"refused by the ARM stand-in"}}`, code)
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Request: req,
		Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(body))}
}

// armCluster is cluster name in resource group rg-daedalus of the public cloud, read
// through arm with cred.
func armCluster(arm *fakeARM, cred azcore.TokenCredential, name string) *Cluster {
	return &Cluster{Credential: cred, ARM: &azarm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: arm}},
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
			arm := newFakeARM(t, entraKC, acrPull, func(tok string) bool { return tok == "arm-token" })
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
			if cred.scopes[0] != armScope || !slices.Contains(cred.scopes, ServerScope) {
				t.Errorf("scopes asked for = %q, want ARM's first, then the AKS server's", cred.scopes)
			}
			cred.mu.Unlock()
		}
	})

	t.Run("local account", func(t *testing.T) {
		arm := newFakeARM(t, localKC, true, func(tok string) bool { return tok == "arm-token" })
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
		arm := newFakeARM(t, entraKC, true, func(string) bool { return true })
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
		arm := newFakeARM(t, entraKC, true, func(tok string) bool {
			scope, ok := entra.Scope(tok)
			return ok && scope == armScope
		})
		env := gh.Env()
		out := &syncbuf.Buffer{}
		a := actions.New(actions.WithGetenv(func(k string) string { return env[k] }), actions.WithWriter(out))
		target := Target{ResourceGroup: "rg-daedalus", ClusterName: "aks-daedalus"}
		target.Azure.TenantID, target.Azure.ClientID, target.Azure.SubscriptionID, target.Azure.Cloud = testTenant, testClient, testSub, entra.URL
		if err := target.Validate(a.InActions()); err != nil {
			t.Fatal(err)
		}
		acc, err := target.Open(a, &Options{Azure: &azure.Options{Transport: entra.Client()}, Transport: arm})
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
	arm := newFakeARM(t, nil, false, func(string) bool { return true })
	_, err := armCluster(arm, &scopeCredential{}, "nope").RESTConfig(t.Context())
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound || re.ErrorCode != "ResourceNotFound" || !strings.Contains(err.Error(), "AKS cluster nope") {
		t.Errorf("err = %v, want ARM's 404 ResourceNotFound naming the cluster", err)
	}
}

// TestClusterARMRefuses: what ARM refuses comes back as its error, naming what was read.
func TestClusterARMRefuses(t *testing.T) {
	t.Parallel()
	arm := newFakeARM(t, nil, true, func(string) bool { return false })
	_, err := armCluster(arm, constCredential("expired"), "aks-daedalus").KubeletHasAcrPull(t.Context(), "daedalusacr")
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized || re.ErrorCode != "InvalidAuthenticationToken" ||
		!strings.Contains(err.Error(), "reading AKS cluster aks-daedalus") {
		t.Errorf("err = %v, want ARM's 401 InvalidAuthenticationToken naming the cluster", err)
	}
}

// TestClusterSovereignCloud: the cloud input picks the Resource Manager the clients call
// and the audience their token is for (Azure China's, documented with the cloud).
func TestClusterSovereignCloud(t *testing.T) {
	t.Parallel()
	arm := newFakeARM(t, nil, true, func(string) bool { return true })
	cred := &scopeCredential{}
	target := Target{ResourceGroup: "rg-daedalus", ClusterName: "aks-daedalus"}
	target.Azure.SubscriptionID, target.Azure.Cloud = testSub, azure.CloudChina
	if err := target.Validate(false); err != nil {
		t.Fatal(err)
	}
	acc, err := target.Open(actions.New(actions.WithGetenv(func(string) string { return "" }), actions.WithWriter(io.Discard)),
		&Options{Azure: &azure.Options{Credential: cred}, Transport: arm})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := acc.AKS.KubeletHasAcrPull(t.Context(), "daedalusacr"); err != nil || !ok {
		t.Fatalf("KubeletHasAcrPull = %v, %v; want true", ok, err)
	}
	for _, u := range arm.requests() {
		if u.Host != "management.chinacloudapi.cn" {
			t.Errorf("request to %s, want Azure China's Resource Manager", u)
		}
	}
	cred.mu.Lock()
	defer cred.mu.Unlock()
	if len(cred.scopes) == 0 || cred.scopes[0] != "https://management.core.chinacloudapi.cn//.default" {
		t.Errorf("scopes asked for = %q, want Azure China's Resource Manager audience", cred.scopes)
	}
}
