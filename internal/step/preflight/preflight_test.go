package preflight_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3/fake"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/syncbuf"
	"github.com/daedalus-dev/daedalus/internal/step/preflight"
)

const (
	subscription = "3f2b8c1e-7d4a-4e5b-9c6d-0a1b2c3d4e5f"
	client       = "66666666-7777-4888-9999-000000000000"
	workerImage  = "example.azurecr.io/copilot-bridge:1.0.0"
)

// Role definitions' permissions as Azure's built-in roles have them (the parts that
// matter here).
var (
	contributorRole = &armauthorization.Permission{
		Actions: to.SliceOfPtrs("*"),
		NotActions: to.SliceOfPtrs("Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
			"Microsoft.Authorization/elevateAccess/Action", "Microsoft.Blueprint/blueprintAssignments/write",
			"Microsoft.Blueprint/blueprintAssignments/delete", "Microsoft.Compute/galleries/share/action"),
	}
	rbacAdminRole = &armauthorization.Permission{
		Actions: to.SliceOfPtrs("Microsoft.Authorization/roleAssignments/write", "Microsoft.Authorization/roleAssignments/delete",
			"*/read", "Microsoft.Support/*"),
	}
)

// arm stands in for Azure Resource Manager. The permissions list at the subscription
// speaks the documented REST API (GET /subscriptions/{id}/providers/
// Microsoft.Authorization/permissions?api-version=2022-04-01, a {"value":[…],
// "nextLink":…} page of actions/notActions/dataActions/notDataActions), one permission a
// page to exercise paging; the providers are armresources' own fake server.
type arm struct {
	perms     []*armauthorization.Permission
	providers map[string]string
	calls     atomic.Int32
	providerT *fake.ProvidersServerTransport
	permSrv   http.Handler
}

func newARM(perms []*armauthorization.Permission, unregistered ...string) *arm {
	a := &arm{perms: perms, providers: map[string]string{}}
	for _, ns := range preflight.Providers {
		a.providers[ns] = "Registered"
	}
	for _, ns := range unregistered {
		a.providers[ns] = "NotRegistered"
	}
	a.providerT = fake.NewProvidersServerTransport(&fake.ProvidersServer{
		Get: func(_ context.Context, ns string, _ *armresources.ProvidersClientGetOptions) (resp azfake.Responder[armresources.ProvidersClientGetResponse], errResp azfake.ErrorResponder) {
			state, ok := a.providers[ns]
			if !ok {
				errResp.SetResponseError(http.StatusNotFound, "InvalidResourceNamespace")
				return
			}
			resp.SetResponse(http.StatusOK, armresources.ProvidersClientGetResponse{Provider: armresources.Provider{
				Namespace: to.Ptr(ns), RegistrationState: to.Ptr(state)}}, nil)
			return
		},
	})
	a.permSrv = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/subscriptions/"+subscription+"/providers/Microsoft.Authorization/permissions" || r.URL.Query().Get("api-version") != "2022-04-01" {
			http.Error(w, `{"error":{"code":"InvalidRequest"}}`, http.StatusBadRequest)
			return
		}
		page := 0
		if p := r.URL.Query().Get("page"); p != "" {
			page = int(p[0] - '0')
		}
		body := map[string]any{"value": []any{}}
		if page < len(a.perms) {
			body["value"] = []any{a.perms[page]}
		}
		if page+1 < len(a.perms) {
			next := *r.URL
			next.Scheme, next.Host = "https", r.Host
			q := next.Query()
			q.Set("page", string(rune('0'+page+1)))
			next.RawQuery = q.Encode()
			body["nextLink"] = next.String()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})
	return a
}

// Do routes a request: the permissions path to its handler, the rest to the providers
// fake.
func (a *arm) Do(req *http.Request) (*http.Response, error) {
	a.calls.Add(1)
	if strings.HasSuffix(req.URL.Path, "/Microsoft.Authorization/permissions") {
		rec := httptest.NewRecorder()
		a.permSrv.ServeHTTP(rec, req)
		resp := rec.Result()
		resp.Request = req
		return resp, nil
	}
	return a.providerT.Do(req)
}

type result struct {
	problems []preflight.Problem
	err      error
	log      string
	calls    int
}

func run(t testing.TB, a *arm, inputs map[string]string) result {
	t.Helper()
	env := map[string]string{
		"INPUT_SUBSCRIPTION-ID": subscription,
		"INPUT_CLIENT-ID":       client,
		"INPUT_CHART":           "../../../deploy/helm/daedalus",
		"INPUT_WORKER-IMAGES":   workerImage,
	}
	for k, v := range inputs {
		env["INPUT_"+strings.ToUpper(k)] = v
	}
	var log syncbuf.Buffer
	act := actions.New(actions.WithGetenv(func(k string) string { return env[k] }), actions.WithWriter(&log))
	problems, err := preflight.Main(context.Background(), act, preflight.Deps{
		Credential: &azfake.TokenCredential{},
		Transport:  a,
	})
	if err != nil {
		act.Fail(err)
	}
	return result{problems: problems, err: err, log: log.String(), calls: int(a.calls.Load())}
}

func TestAllGood(t *testing.T) {
	t.Parallel()
	for _, command := range []string{"deploy", "destroy"} {
		r := run(t, newARM([]*armauthorization.Permission{contributorRole, rbacAdminRole}), map[string]string{"command": command})
		if r.err != nil || len(r.problems) != 0 {
			t.Fatalf("%s: problems %v, err %v\n%s", command, r.problems, r.err, r.log)
		}
		if strings.Contains(r.log, "::error") {
			t.Errorf("%s: an error annotation on an all-good run:\n%s", command, r.log)
		}
		if r.calls != 2+len(preflight.Providers) { // two permission pages, one Get a provider
			t.Errorf("%s: %d ARM requests, want %d", command, r.calls, 2+len(preflight.Providers))
		}
	}
}

// TestProblems has one case per kind of failure; each must be an ::error:: naming what
// is missing, what grants it and the command that fixes it.
func TestProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		arm    *arm
		inputs map[string]string
		want   []string // each an ::error:: line must hold
	}{
		{
			"Contributor alone cannot assign roles",
			newARM([]*armauthorization.Permission{contributorRole}), nil,
			[]string{"missing permission Microsoft.Authorization/roleAssignments/write",
				`role "Role Based Access Control Administrator" at scope /subscriptions/` + subscription + " with a condition allowing only the roles the stack assigns",
				`az role assignment create --assignee ` + client + ` --role "Role Based Access Control Administrator" --scope /subscriptions/` + subscription},
		},
		{
			"destroy without role assignment delete",
			newARM([]*armauthorization.Permission{contributorRole}), map[string]string{"command": "destroy"},
			[]string{"missing permission Microsoft.Authorization/roleAssignments/delete"},
		},
		{
			"AKS excluded by notActions",
			newARM([]*armauthorization.Permission{{Actions: to.SliceOfPtrs("*"), NotActions: to.SliceOfPtrs("Microsoft.ContainerService/*")}}), nil,
			[]string{"missing permission Microsoft.ContainerService/managedClusters/write (needed to create the AKS cluster)",
				`role "Contributor" at scope /subscriptions/` + subscription,
				`az role assignment create --assignee ` + client + ` --role "Contributor" --scope /subscriptions/` + subscription},
		},
		{
			"reader only",
			newARM([]*armauthorization.Permission{{Actions: to.SliceOfPtrs("*/read")}}), nil,
			[]string{"missing permission Microsoft.Resources/subscriptions/resourceGroups/write",
				"missing permission Microsoft.KeyVault/vaults/write",
				"missing permission Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write"},
		},
		{
			"provider not registered",
			newARM([]*armauthorization.Permission{contributorRole, rbacAdminRole}, "Microsoft.ContainerService"), nil,
			[]string{"missing resource provider Microsoft.ContainerService (NotRegistered)",
				"az provider register --namespace Microsoft.ContainerService --subscription " + subscription},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, tt.arm, tt.inputs)
			var fe *preflight.FailedError
			if !errors.As(r.err, &fe) {
				t.Fatalf("err = %v, want a *FailedError\n%s", r.err, r.log)
			}
			var errorLines []string
			for _, l := range strings.Split(r.log, "\n") {
				if strings.HasPrefix(l, "::error") {
					errorLines = append(errorLines, l)
				}
			}
			for _, want := range tt.want {
				found := false
				for _, l := range errorLines {
					found = found || strings.Contains(l, want)
				}
				if !found {
					t.Errorf("no ::error:: says %q:\n%s", want, strings.Join(errorLines, "\n"))
				}
			}
			if len(errorLines) != len(fe.Problems)+1 {
				t.Errorf("%d ::error:: lines for %d problems (want one each and the summary)", len(errorLines), len(fe.Problems))
			}
		})
	}
}

// TestMissingWorkerImage: a deploy without an agent image fails in the preflight, with
// deploy's own message on worker-images, before any Azure call (today it fails in
// deploy, after about ten minutes of provisioning).
func TestMissingWorkerImage(t *testing.T) {
	t.Parallel()
	a := newARM([]*armauthorization.Permission{contributorRole, rbacAdminRole})
	r := run(t, a, map[string]string{"worker-images": ""})
	var ie *actions.InputError
	if !errors.As(r.err, &ie) || ie.Input != "worker-images" || !strings.Contains(ie.Problem, "is required") {
		t.Fatalf("err = %v, want an input error on worker-images\n%s", r.err, r.log)
	}
	if !strings.Contains(r.log, "::error title=Input worker-images::") || !strings.Contains(r.log, "copilot=") {
		t.Errorf("no ::error:: on worker-images with an example fix:\n%s", r.log)
	}
	if r.calls != 0 {
		t.Errorf("%d ARM requests before the image check failed", r.calls)
	}
	// A destroy needs no images.
	if r := run(t, newARM([]*armauthorization.Permission{contributorRole, rbacAdminRole}), map[string]string{"worker-images": "", "command": "destroy"}); r.err != nil {
		t.Errorf("destroy without worker-images: %v", r.err)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, input, problem string
		inputs               map[string]string
	}{
		{"unknown command", "command", `"apply" is not a command`, map[string]string{"command": "apply"}},
		{"subscription not a GUID", "subscription-id", "is not a GUID", map[string]string{"subscription-id": "my-sub"}},
		{"worker named twice", "worker-images", "twice", map[string]string{"worker-images": "copilot=a/b:1\ncopilot=a/c:1"}},
		{"unknown worker", "worker-images", "which the values do not define", map[string]string{"worker-images": "nosuch=a/b:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newARM(nil)
			r := run(t, a, tt.inputs)
			var ie *actions.InputError
			found := false
			for _, e := range actions.Leaves(r.err) {
				found = found || errors.As(e, &ie) && ie.Input == tt.input && strings.Contains(ie.Problem, tt.problem)
			}
			if !found {
				t.Errorf("err = %v, want one on %s saying %q", r.err, tt.input, tt.problem)
			}
			if r.calls != 0 {
				t.Errorf("%d ARM requests despite bad input", r.calls)
			}
		})
	}
}

// BenchmarkTimeToFirstError measures a failing preflight end to end (inputs, chart
// render, sign-in, the permissions list, the provider reads) against the loopback
// stand-ins: the time a run takes to its first ::error:: instead of ~10 minutes of
// provisioning.
func BenchmarkTimeToFirstError(b *testing.B) {
	for b.Loop() {
		r := run(b, newARM([]*armauthorization.Permission{contributorRole}), nil)
		if r.err == nil {
			b.Fatal("no error")
		}
	}
}
