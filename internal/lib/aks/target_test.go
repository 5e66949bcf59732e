package aks

import (
	"errors"
	"strings"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
)

func TestTargetValidate(t *testing.T) {
	t.Parallel()
	aksTarget := func() Target {
		return Target{ResourceGroup: "rg-daedalus", ClusterName: "aks-daedalus",
			Azure: azure.Config{TenantID: testTenant, ClientID: testClient, SubscriptionID: testSub, Cloud: azure.CloudPublic}}
	}
	for _, tc := range []struct {
		name    string
		target  Target
		actions bool
		inputs  []string // inputs the errors must name; none means valid
		usesAKS bool
	}{
		{name: "default loading rules", target: Target{}},
		{name: "kubeconfig", target: Target{Kubeconfig: "/kc", ClusterName: "ignored"}},
		{name: "aks", target: aksTarget(), actions: true, usesAKS: true},
		{name: "aks without group", target: func() Target { t := aksTarget(); t.ResourceGroup = ""; return t }(),
			inputs: []string{InputResourceGroup}, usesAKS: true},
		{name: "aks without cluster", target: func() Target { t := aksTarget(); t.ClusterName = ""; return t }(),
			inputs: []string{InputClusterName}, usesAKS: true},
		{name: "aks without subscription", target: func() Target { t := aksTarget(); t.Azure.SubscriptionID = ""; return t }(),
			inputs: []string{azure.InputSubscriptionID}, usesAKS: true},
		{name: "aks in actions without ids", target: func() Target { t := aksTarget(); t.Azure.TenantID, t.Azure.ClientID = "", ""; return t }(),
			actions: true, inputs: []string{azure.InputTenantID, azure.InputClientID}, usesAKS: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.target.UsesAKS(); got != tc.usesAKS {
				t.Errorf("UsesAKS = %v, want %v", got, tc.usesAKS)
			}
			err := tc.target.Validate(tc.actions)
			if len(tc.inputs) == 0 {
				if err != nil {
					t.Errorf("Validate: %v", err)
				}
				return
			}
			for _, in := range tc.inputs {
				if err == nil || !strings.Contains(err.Error(), `"`+in+`"`) {
					t.Errorf("Validate = %v, want an error naming input %q", err, in)
				}
			}
		})
	}
}

func TestKubeconfigErrorNamesInput(t *testing.T) {
	t.Parallel()
	_, err := Kubeconfig(t.TempDir()+"/missing", "")
	var ie *actions.InputError
	if !errors.As(err, &ie) || ie.Input != InputKubeconfig || !strings.Contains(err.Error(), "missing") {
		t.Errorf("err = %v, want an input error naming %q and the file", err, InputKubeconfig)
	}
}
