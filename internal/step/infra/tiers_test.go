package infra

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/terraform-exec/tfexec"
)

// bootstrapDir is the stack that owns the trust tiers.
var bootstrapDir = filepath.Join(stackDir, "bootstrap")

const testPreviewSubscription = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"

// evalLocals evaluates the locals blocks of one file of a stack with real Terraform:
// the blocks are copied verbatim into a configuration of their own (they may refer to
// variables and to each other, not to resources), applied, and every local read back
// as JSON. It is how the tests see the values Azure would receive (role ids, OIDC
// subjects, scopes, the ABAC condition) rather than their source text.
func evalLocals(t *testing.T, m *tfModule, file string, vars map[string]string) map[string]any {
	t.Helper()
	bin := terraformBin(t)
	var cfg strings.Builder
	var names []string
	for _, b := range m.blocks {
		if b.Type != "locals" || filepath.Base(b.Range().Filename) != file {
			continue
		}
		r := b.Range()
		cfg.Write(r.SliceBytes(m.src[r.Filename]))
		cfg.WriteString("\n")
		for name := range b.Body.Attributes {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatalf("%s/%s has no locals", m.dir, file)
	}
	sort.Strings(names)
	for name := range vars {
		fmt.Fprintf(&cfg, "variable %q {\n  type = string\n}\n", name)
	}
	for _, name := range names {
		fmt.Fprintf(&cfg, "output %q {\n  value = local.%s\n}\n", name, name)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tf := testTerraform(t, bin, dir)
	ctx := context.Background()
	if err := tf.Init(ctx); err != nil {
		t.Fatalf("init: %v", err)
	}
	var opts []tfexec.ApplyOption
	for k, v := range vars {
		opts = append(opts, tfexec.Var(k+"="+v))
	}
	if err := tf.Apply(ctx, opts...); err != nil {
		t.Fatalf("evaluating the locals of %s/%s: %v\n%s", m.dir, file, err, cfg.String())
	}
	outs, err := tf.Output(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for name, o := range outs {
		var v any
		if err := json.Unmarshal(o.Value, &v); err != nil {
			t.Fatal(err)
		}
		got[name] = v
	}
	return got
}

// envRoleNames is every role_definition_name the environment stack assigns.
func envRoleNames(t *testing.T) []string {
	t.Helper()
	var names []string
	root := parseModule(t, stackDir)
	for _, call := range root.find("module") {
		m := parseModule(t, filepath.Join(stackDir, strings.Trim(root.exprText(call, "source"), `"`)))
		for _, ra := range m.find("resource", "azurerm_role_assignment") {
			n := literal(t, ra, "role_definition_name").AsString()
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	return names
}

var guidRe = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// TestBootstrapOwnsTheIdentities: issue 12, defect 4. The environment stack holds no
// GitHub identity (destroying an environment would delete the identity CI signs in as),
// and every tier's identity lives in bootstrap's never-reaped group.
func TestBootstrapOwnsTheIdentities(t *testing.T) {
	t.Parallel()
	root := parseModule(t, stackDir)
	for _, call := range root.find("module") {
		src := strings.Trim(root.exprText(call, "source"), `"`)
		m := parseModule(t, filepath.Join(stackDir, src))
		for _, fc := range m.find("resource", "azurerm_federated_identity_credential") {
			if strings.Contains(m.exprText(fc, "issuer"), "token.actions.githubusercontent.com") {
				t.Errorf("module %q (%s) federates a GitHub identity: destroying the environment would delete the identity CI signs in as; GitHub identities belong to deploy/terraform/bootstrap", call.Labels[0], src)
			}
		}
	}
	boot := parseModule(t, bootstrapDir)
	id := boot.one(t, "resource", "azurerm_user_assigned_identity", "github")
	if got := boot.exprText(id, "resource_group_name"); got != "azurerm_resource_group.shared.name" {
		t.Errorf("bootstrap identities live in %s, want the never-reaped azurerm_resource_group.shared", got)
	}
	locals := evalLocals(t, boot, "identities.tf", map[string]string{
		"subscription_id": testSubscription, "preview_subscription_id": testPreviewSubscription,
	})
	ids, _ := locals["identities"].(map[string]any)
	var tiers []string
	for k := range ids {
		tiers = append(tiers, k)
	}
	sort.Strings(tiers)
	if want := []string{"cleanup", "preview", "production", "test"}; !slices.Equal(tiers, want) {
		t.Errorf("bootstrap identities = %v, want %v", tiers, want)
	}
}

// TestTierSubjects: issue 12, defect 5. Each identity federates exactly one GitHub OIDC
// subject; pull_request only reaches the preview identity, whose every Azure role is in
// the preview subscription or its own state container.
func TestTierSubjects(t *testing.T) {
	t.Parallel()
	boot := parseModule(t, bootstrapDir)
	if len(boot.find("resource", "azurerm_user_assigned_identity")) == 0 {
		t.Fatal("bootstrap creates no GitHub identity: one identity would federate pull_request and the protected environments alike")
	}
	fc := boot.one(t, "resource", "azurerm_federated_identity_credential", "github")
	if got := boot.exprText(fc, "subject"); got != `"repo:${var.github_repository}:${each.value}"` {
		t.Errorf("federated subject = %s, want repo:<owner>/<repo>:<the tier's one subject>", got)
	}
	if got := boot.exprText(fc, "for_each"); got != "local.identities" {
		t.Errorf("federated credentials for_each = %s, want one per identity (local.identities)", got)
	}
	locals := evalLocals(t, boot, "identities.tf", map[string]string{
		"subscription_id": testSubscription, "preview_subscription_id": testPreviewSubscription,
	})
	want := map[string]any{"test": "environment:test", "production": "environment:production",
		"preview": "pull_request", "cleanup": "environment:cleanup"}
	if got := locals["identities"]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("identity → subject = %v, want %v", got, want)
	}

	// Every role of the preview identity is scoped to the preview tier.
	previewScope := "local.preview_scope"
	for _, ra := range boot.find("resource", "azurerm_role_assignment") {
		principal := boot.exprText(ra, "principal_id")
		scope := boot.exprText(ra, "scope")
		forEach := boot.exprText(ra, "for_each")
		switch {
		case strings.Contains(principal, `github["preview"]`):
			if scope != previewScope || boot.exprText(ra, "provider") != "azurerm.preview" {
				t.Errorf("%s grants the preview identity a role at %s, want the preview subscription (%s, provider azurerm.preview)", ra.Labels[1], scope, previewScope)
			}
		case strings.Contains(principal, "github[each.key]") && scope == "local.protected_scope":
			if !strings.Contains(forEach, `t.state == "protected"`) {
				t.Errorf("%s grants a role on the protected subscription to %s: include only protected tiers", ra.Labels[1], forEach)
			}
		}
	}
	tiers, _ := locals["deploy_tiers"].(map[string]any)
	for name, v := range tiers {
		state := v.(map[string]any)["state"]
		if (name == "preview") != (state == "preview") {
			t.Errorf("tier %s uses the %v state container", name, state)
		}
	}
	if locals["preview_scope"] == locals["protected_scope"] {
		t.Errorf("preview and protected scopes are both %v", locals["preview_scope"])
	}
	// The precondition that keeps the preview subscription separate.
	tc := boot.one(t, "resource", "terraform_data", "tier_checks")
	if !strings.Contains(string(tc.Range().SliceBytes(boot.src[tc.Range().Filename])), "lower(var.preview_subscription_id) != lower(var.subscription_id)") {
		t.Error("bootstrap does not refuse a preview subscription equal to the protected one")
	}
}

// TestTierRoleAssignment: issue 12, defect 3. The stack creates role assignments, so each
// deploy tier holds Role Based Access Control Administrator conditioned to exactly the
// role definition ids the environment stack assigns, and nothing anywhere is Owner or
// User Access Administrator.
func TestTierRoleAssignment(t *testing.T) {
	t.Parallel()
	boot := parseModule(t, bootstrapDir)
	var admins []*hclsyntax.Block
	for _, ra := range boot.find("resource", "azurerm_role_assignment") {
		name := boot.exprText(ra, "role_definition_name")
		if name == `"Owner"` || name == `"User Access Administrator"` {
			t.Errorf("%s grants %s: use Role Based Access Control Administrator with a condition", ra.Labels[1], name)
		}
		if name == `"Role Based Access Control Administrator"` {
			admins = append(admins, ra)
			if boot.exprText(ra, "condition") != "local.rbac_admin_condition" || literal(t, ra, "condition_version").AsString() != "2.0" {
				t.Errorf("%s grants Role Based Access Control Administrator without the condition (condition_version 2.0)", ra.Labels[1])
			}
		}
	}
	if len(admins) != 2 {
		t.Fatalf("bootstrap grants Role Based Access Control Administrator %d times, want the protected tiers and the preview tier: the CI identity cannot create the stack's role assignments", len(admins))
	}
	locals := evalLocals(t, boot, "identities.tf", map[string]string{
		"subscription_id": testSubscription, "preview_subscription_id": testPreviewSubscription,
	})
	roles, _ := locals["assignable_roles"].(map[string]any)
	var names []string
	var ids []string
	for n, id := range roles {
		names = append(names, n)
		ids = append(ids, id.(string))
	}
	sort.Strings(names)
	sort.Strings(ids)
	if want := envRoleNames(t); !slices.Equal(names, want) {
		t.Errorf("the condition allows %v; the environment stack assigns %v", names, want)
	}
	cond, _ := locals["rbac_admin_condition"].(string)
	for _, action := range []string{"roleAssignments/write", "roleAssignments/delete"} {
		if !strings.Contains(cond, "!(ActionMatches{'Microsoft.Authorization/"+action+"'})") {
			t.Errorf("the condition does not constrain %s:\n%s", action, cond)
		}
	}
	got := guidRe.FindAllString(cond, -1)
	slices.Sort(got)
	got = slices.Compact(got)
	if !slices.Equal(got, ids) {
		t.Errorf("the condition names role ids %v, want exactly %v", got, ids)
	}
	for _, forbidden := range []string{
		"8e3af657-a8ff-443c-a75c-2fe8c4bcb635", // Owner
		"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", // User Access Administrator
		"f58310d9-a9f6-439a-9e8d-f62e7b41a168", // Role Based Access Control Administrator
	} {
		if strings.Contains(cond, forbidden) {
			t.Errorf("the condition lets the identity assign %s", forbidden)
		}
	}

	// The cleanup identity's custom role: what internal/step/cleanup calls, nothing else.
	actions, _ := locals["cleanup_actions"].([]any)
	for _, a := range actions {
		s := a.(string)
		if strings.Contains(s, "*") || strings.HasSuffix(s, "/write") {
			t.Errorf("the cleanup role allows %s", s)
		}
	}
	for _, need := range []string{"Microsoft.Resources/subscriptions/resourceGroups/delete", "Microsoft.Authorization/locks/read",
		"Microsoft.KeyVault/locations/deletedVaults/purge/action"} {
		if !slices.Contains(actions, any(need)) {
			t.Errorf("the cleanup role lacks %s", need)
		}
	}
}

// TestStatePerTier: issue 12, defect 2. The bootstrap's backend config carries no key (the
// infra step derives it from the environment name), and the preview and protected tiers
// keep their states in separate containers.
func TestStatePerTier(t *testing.T) {
	t.Parallel()
	boot := parseModule(t, bootstrapDir)
	for _, o := range boot.find("output") {
		if text := boot.exprText(o, "value"); strings.Contains(text, "key=") {
			t.Errorf("output %s carries key=: every environment would share one state", o.Labels[0])
		}
	}
	c := boot.one(t, "resource", "azurerm_storage_container", "state")
	if boot.exprText(c, "for_each") != "local.state_containers" {
		t.Fatal("bootstrap makes one state container for every tier")
	}
	locals := evalLocals(t, boot, "identities.tf", map[string]string{
		"subscription_id": testSubscription, "preview_subscription_id": testPreviewSubscription,
	})
	containers, _ := locals["state_containers"].(map[string]any)
	if containers["preview"] == nil || containers["preview"] == containers["protected"] {
		t.Errorf("state containers = %v, want separate protected and preview containers", containers)
	}
	st := boot.one(t, "resource", "azurerm_role_assignment", "state")
	if got := boot.exprText(st, "scope"); !strings.Contains(got, "/blobServices/default/containers/") {
		t.Errorf("tier identities get blob access at %s, want their own container only", got)
	}
}

// TestKeyVaultOfficer: issue 12, defect 6 (second half). Key Vault Secrets Officer goes
// to the tier's stable deploy identity (and an optional admin group), never to whoever
// ran the last apply.
func TestKeyVaultOfficer(t *testing.T) {
	t.Parallel()
	root := parseModule(t, stackDir)
	kv := root.one(t, "module", "keyvault")
	text := root.exprText(kv, "officers")
	locals := root.one(t, "locals")
	admins := root.exprText(locals, "admins")
	if text == "" || strings.Contains(text+admins, "azurerm_client_config") {
		t.Fatalf("Key Vault Secrets Officer goes to %q: whoever applied last", text+root.exprText(kv, "officer_principal_ids"))
	}
	if text != "local.admins" || !strings.Contains(admins, "var.deploy_principal_id") || !strings.Contains(admins, "var.admin_group_object_id") {
		t.Errorf("officers = %s (local.admins = %s), want the deploy identity and the admin group", text, admins)
	}
}

// TestClusterHardened: issue 12, defect 12. No local accounts, Entra ID with Azure RBAC,
// a network policy engine, optional authorized IP ranges, and the admins' cluster role
// at cluster scope; the managed KEDA add-on can be switched off.
func TestClusterHardened(t *testing.T) {
	t.Parallel()
	m := parseModule(t, filepath.Join(stackDir, "modules", "aks"))
	aks := m.one(t, "resource", "azurerm_kubernetes_cluster")
	if _, ok := aks.Body.Attributes["local_account_disabled"]; !ok || !literal(t, aks, "local_account_disabled").True() {
		t.Error("AKS local accounts are enabled: a long-lived admin kubeconfig exists")
	}
	aad := nested(aks, "azure_active_directory_role_based_access_control")
	if aad == nil || !literal(t, aad, "azure_rbac_enabled").True() {
		t.Error("AKS has no Entra ID with Azure RBAC for Kubernetes")
	}
	np := nested(aks, "network_profile")
	if np == nil || m.exprText(np, "network_policy") == "" {
		t.Fatal("AKS has no network policy engine: the chart's NetworkPolicy is not enforced")
	}
	if policy := literal(t, np, "network_policy").AsString(); policy == "cilium" && literal(t, np, "network_data_plane").AsString() != "cilium" {
		t.Error("network_policy cilium needs network_data_plane cilium")
	}
	var ipRanges bool
	for _, b := range aks.Body.Blocks {
		if b.Type == "dynamic" && b.Labels[0] == "api_server_access_profile" {
			ipRanges = strings.Contains(string(b.Range().SliceBytes(m.src[b.Range().Filename])), "var.api_server_authorized_ip_ranges")
		}
	}
	if !ipRanges {
		t.Error("AKS takes no authorized IP ranges for its API server")
	}
	wa := nested(aks, "workload_autoscaler_profile")
	if wa == nil || m.exprText(wa, "keda_enabled") != "var.keda_managed" {
		t.Error("the managed KEDA add-on is not wired to keda_managed")
	}
	ra := m.one(t, "resource", "azurerm_role_assignment", "cluster_admin")
	if m.exprText(ra, "scope") != "azurerm_kubernetes_cluster.this.id" ||
		literal(t, ra, "role_definition_name").AsString() != "Azure Kubernetes Service RBAC Cluster Admin" {
		t.Error("the admins' cluster role must be AKS RBAC Cluster Admin at this cluster only")
	}
	root := parseModule(t, stackDir)
	if got := root.exprText(root.one(t, "output", "keda"), "value"); !strings.Contains(got, "module.aks.keda_managed") {
		t.Errorf("output keda = %s, want it to follow the cluster's add-on", got)
	}
}

// TestEnvironmentSettings plans every deploy/environments/<env>.tfvars, the files the
// workflows and `make deploy-aks-test` pass, against the stack's variables with real
// Terraform: each holds only variables the stack declares, in range, and the committed
// placeholder identity stops the plan with a pointer to the bootstrap output.
func TestEnvironmentSettings(t *testing.T) {
	t.Parallel()
	bin := terraformBin(t)
	files, err := filepath.Glob(filepath.Join(stackDir, "..", "environments", "*.tfvars"))
	if err != nil {
		t.Fatal(err)
	}
	var envs []string
	for _, f := range files {
		envs = append(envs, strings.TrimSuffix(filepath.Base(f), ".tfvars"))
	}
	if want := []string{"preview", "production", "test"}; !slices.Equal(envs, want) {
		t.Fatalf("deploy/environments holds %v, want %v", envs, want)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for _, name := range []string{"variables.tf", "inputs.tf"} {
				copyFile(t, filepath.Join(stackDir, name), filepath.Join(dir, name))
			}
			abs, err := filepath.Abs(f)
			if err != nil {
				t.Fatal(err)
			}
			tf := testTerraform(t, bin, dir)
			ctx := context.Background()
			if err := tf.Init(ctx); err != nil {
				t.Fatalf("init: %v", err)
			}
			opts := []tfexec.PlanOption{tfexec.VarFile(abs), tfexec.Var("subscription_id=" + testSubscription),
				tfexec.Var("expires_at=2030-01-01T00:00:00Z"), tfexec.Var("github_repository=daedalus-dev/daedalus")}
			_, err = tf.Plan(ctx, opts...)
			if err == nil || !strings.Contains(strings.Join(strings.Fields(err.Error()), " "), "copy it from `terraform -chdir=deploy/terraform/bootstrap output environment_tfvars`") {
				t.Errorf("plan with the placeholder deploy_principal_id: %v, want the pointer to the bootstrap output", err)
			}
			var out strings.Builder // Terraform prints warnings with the plan, errors apart
			tf.SetStdout(&out)
			tf.SetStderr(&out)
			if _, err := tf.Plan(ctx, append(opts, tfexec.Var("deploy_principal_id=5d1e3b2a-9c8f-4e7d-a6b5-c4d3e2f1a0b9"))...); err != nil {
				t.Fatalf("plan with a deploy identity: %v", err)
			}
			if strings.Contains(out.String(), "undeclared variable") {
				t.Errorf("%s sets a variable the stack does not declare:\n%s", f, out.String())
			}
		})
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
