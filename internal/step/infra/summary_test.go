package infra

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	rc := func(addr string, a ...tfjson.Action) *tfjson.ResourceChange {
		return &tfjson.ResourceChange{Address: addr, Change: &tfjson.Change{Actions: a}}
	}
	tests := []struct {
		name string
		plan *tfjson.Plan
		want PlanSummary
	}{
		{"nil", nil, PlanSummary{}},
		{"no-ops only", &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{rc("a.x", tfjson.ActionNoop)}}, PlanSummary{}},
		{"every action", &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
			rc("module.aks.azurerm_kubernetes_cluster.this", tfjson.ActionUpdate),
			rc("azurerm_resource_group.this", tfjson.ActionCreate),
			rc("module.acr.azurerm_role_assignment.pull", tfjson.ActionDelete, tfjson.ActionCreate),
			rc("module.kv.azurerm_key_vault.this", tfjson.ActionCreate, tfjson.ActionDelete),
			rc("data.azurerm_client_config.current", tfjson.ActionRead),
			rc("module.identity.azurerm_federated_identity_credential.old", tfjson.ActionDelete),
			rc("terraform_data.same", tfjson.ActionNoop),
		}}, PlanSummary{Add: 3, Change: 1, Destroy: 3, Changes: []ResourceChange{
			{"azurerm_resource_group.this", "create"},
			{"data.azurerm_client_config.current", "read"},
			{"module.acr.azurerm_role_assignment.pull", "replace"},
			{"module.aks.azurerm_kubernetes_cluster.this", "update"},
			{"module.identity.azurerm_federated_identity_credential.old", "delete"},
			{"module.kv.azurerm_key_vault.this", "replace"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Summarize(tt.plan); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestPlanMarkdown(t *testing.T) {
	t.Parallel()
	s := PlanSummary{Add: 1, Destroy: 1, Changes: []ResourceChange{{`terraform_data.x["a|b"]`, "replace"}, {"a.`b`", "create"}}}
	md := s.Markdown("Terraform plan")
	for _, want := range []string{"### Terraform plan\n", "| To add | To change | To destroy |", "| 1 | 0 | 1 |",
		"| -/+ replace | `terraform_data.x[\"a\\|b\"]` |", "| + create | `` a.`b` `` |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if md := (PlanSummary{}).Markdown("Terraform plan"); !strings.Contains(md, "No changes") || strings.Contains(md, "|") {
		t.Errorf("empty plan markdown:\n%s", md)
	}
}

func TestReadOutputs(t *testing.T) {
	t.Parallel()
	meta := map[string]tfexec.OutputMeta{
		"cluster_name":      {Value: json.RawMessage(`"aks-daedalus-test"`)},
		"gha_oidc_subjects": {Value: json.RawMessage(`[ "repo:o/r:pull_request", "repo:o/r:ref:refs/heads/main" ]`)},
		"node_count":        {Value: json.RawMessage(`2`)},
		"kube_config":       {Sensitive: true, Value: json.RawMessage(`{"host":"https://aks.example","token":"tok-123"}`)},
		"admin_password":    {Sensitive: true, Value: json.RawMessage(`"p@ss"`)},
	}
	got, err := ReadOutputs(meta)
	if err != nil {
		t.Fatal(err)
	}
	want := []StackOutput{
		{Name: "admin_password", Sensitive: true, Value: "p@ss", Secrets: []string{"p@ss"}},
		{Name: "cluster_name", Value: "aks-daedalus-test"},
		{Name: "gha_oidc_subjects", Value: `["repo:o/r:pull_request","repo:o/r:ref:refs/heads/main"]`},
		{Name: "kube_config", Sensitive: true, Value: `{"host":"https://aks.example","token":"tok-123"}`,
			Secrets: []string{`{"host":"https://aks.example","token":"tok-123"}`, "https://aks.example", "tok-123"}},
		{Name: "node_count", Value: "2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	md := OutputsMarkdown(got)
	for _, secret := range []string{"p@ss", "tok-123", "aks.example"} {
		if strings.Contains(md, secret) {
			t.Errorf("summary shows sensitive %q:\n%s", secret, md)
		}
	}
	if !strings.Contains(md, "| `node_count` | `2` |") || !strings.Contains(md, "| `kube_config` | *(sensitive") {
		t.Errorf("outputs markdown:\n%s", md)
	}
}
