package infra

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-exec/tfexec"
)

// stackDir is the real stack, relative to this package.
var stackDir = filepath.Join("..", "..", "..", "deploy", "terraform")

// testTerraform is terraform-exec with a clean environment and the project's CLI
// config, in dir.
func testTerraform(t *testing.T, bin, dir string) *tfexec.Terraform {
	t.Helper()
	tf, err := tfexec.NewTerraform(dir, bin)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := filepath.Abs(filepath.Join("testdata", "terraformrc"))
	if err != nil {
		t.Fatal(err)
	}
	if err := tf.SetEnv(map[string]string{
		"PATH": os.Getenv("PATH"), "HOME": t.TempDir(), "TF_CLI_CONFIG_FILE": rc, "CHECKPOINT_DISABLE": "1",
	}); err != nil {
		t.Fatal(err)
	}
	return tf
}

// TestTerraformFormat is `terraform fmt -check -recursive` over the stack and the
// fixtures.
func TestTerraformFormat(t *testing.T) {
	t.Parallel()
	bin := terraformBin(t)
	for _, dir := range []string{stackDir, "testdata"} {
		ok, files, err := testTerraform(t, bin, dir).FormatCheck(context.Background())
		if err != nil {
			t.Fatalf("terraform fmt -check in %s: %v", dir, err)
		}
		if !ok {
			t.Errorf("terraform fmt would change, in %s: %v (run `make infra-fmt`)", dir, files)
		}
	}
}

// TestStackVariables plans the stack's variables.tf and inputs.tf with real Terraform:
// they use no provider (the cross-variable checks are preconditions on a builtin
// terraform_data), so every validation block and precondition runs exactly as in a
// real plan.
func TestStackVariables(t *testing.T) {
	t.Parallel()
	bin := terraformBin(t)
	good := map[string]string{
		"subscription_id":     testSubscription,
		"expires_at":          "2030-01-01T00:00:00Z",
		"github_repository":   "daedalus-dev/daedalus",
		"deploy_principal_id": "5d1e3b2a-9c8f-4e7d-a6b5-c4d3e2f1a0b9",
	}
	tests := []struct {
		name string
		vars map[string]string
		want string // "" for a plan that succeeds
	}{
		{"defaults", nil, ""},
		{"every setting in range", map[string]string{"env_name": "pr1234", "location": "westeurope", "node_count": "5",
			"node_vm_size": "Standard_D4s_v5", "os_disk_size_gb": "128", "ttl_hours": "168", "kubernetes_version": "1.33",
			"admin_group_object_id": "7e6d5c4b-3a29-4187-9665-544332211000", "keda": "helm",
			"api_server_authorized_ip_ranges": `["203.0.113.0/24", "198.51.100.7/32"]`,
			"additional_push_principal_ids":   `["0c1d6c1e-1f7e-4d9f-9b3b-7f6b3d1e2a4c"]`, "tags": `{owner = "platform"}`}, ""},
		{"subscription not a UUID", map[string]string{"subscription_id": "my-subscription"}, "subscription_id must be a subscription UUID"},
		{"env name with capitals", map[string]string{"env_name": "Test"}, "env_name must be 2-12 lower-case"},
		{"env name too long", map[string]string{"env_name": "averylongenvname"}, "env_name must be 2-12 lower-case"},
		{"region with spaces", map[string]string{"location": "East US"}, "location must be a region name"},
		{"no nodes", map[string]string{"node_count": "0"}, "node_count must be a whole number from 1 to 5"},
		{"too many nodes", map[string]string{"node_count": "6"}, "node_count must be a whole number from 1 to 5"},
		{"half a node", map[string]string{"node_count": "1.5"}, "node_count must be a whole number from 1 to 5"},
		{"VM size", map[string]string{"node_vm_size": "D2s_v5"}, "node_vm_size must be an Azure VM size"},
		{"OS disk too small", map[string]string{"os_disk_size_gb": "20"}, "os_disk_size_gb must be a whole number of GB from 30 to 1024"},
		{"TTL zero", map[string]string{"ttl_hours": "0"}, "ttl_hours must be a whole number of hours from 1 to 168"},
		{"TTL over a week", map[string]string{"ttl_hours": "169"}, "ttl_hours must be a whole number of hours from 1 to 168"},
		{"expires_at not RFC 3339", map[string]string{"expires_at": "tomorrow"}, "expires_at must be an RFC 3339 time"},
		{"expires_at in the past", map[string]string{"expires_at": "2020-01-01T00:00:00Z"}, "is in the past"},
		{"repository without owner", map[string]string{"github_repository": "daedalus"}, "github_repository must be owner/repo"},
		{"deploy identity left at the placeholder", map[string]string{"deploy_principal_id": "00000000-0000-0000-0000-000000000000"}, "deploy_principal_id must be the principal id of the tier's GitHub identity"},
		{"deploy identity not an id", map[string]string{"deploy_principal_id": "id-daedalus-github-test"}, "deploy_principal_id must be the principal id of the tier's GitHub identity"},
		{"admin group not an id", map[string]string{"admin_group_object_id": "platform-admins"}, "admin_group_object_id must be a group object id"},
		{"admin group is the deploy identity", map[string]string{"admin_group_object_id": "5d1e3b2a-9c8f-4e7d-a6b5-c4d3e2f1a0b9"}, "admin_group_object_id is the deploy identity's principal id"},
		{"KEDA source", map[string]string{"keda": "operator"}, "keda must be managed (the AKS KEDA add-on) or helm"},
		{"authorized range not a CIDR", map[string]string{"api_server_authorized_ip_ranges": `["my office"]`}, "api_server_authorized_ip_ranges must be CIDR ranges"},
		{"TTL tag overridden", map[string]string{"tags": `{"expires-at" = "never"}`}, "must not set auto-destroy or expires-at"},
		{"push principal not an id", map[string]string{"additional_push_principal_ids": `["alice"]`}, "must be object ids"},
		{"kubernetes version", map[string]string{"kubernetes_version": "latest"}, "kubernetes_version must look like"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for _, f := range []string{"variables.tf", "inputs.tf"} {
				b, err := os.ReadFile(filepath.Join(stackDir, f))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			tf := testTerraform(t, bin, dir)
			ctx := context.Background()
			if err := tf.Init(ctx); err != nil {
				t.Fatalf("init: %v", err)
			}
			vars := map[string]string{}
			for k, v := range good {
				vars[k] = v
			}
			for k, v := range tt.vars {
				vars[k] = v
			}
			var opts []tfexec.PlanOption
			for k, v := range vars {
				opts = append(opts, tfexec.Var(k+"="+v))
			}
			_, err := tf.Plan(ctx, opts...)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("plan failed: %v", err)
			case tt.want != "" && err == nil:
				t.Fatalf("plan succeeded, want an error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(strings.Join(strings.Fields(err.Error()), " "), tt.want):
				t.Fatalf("plan error does not contain %q:\n%v", tt.want, err)
			}
		})
	}
}

// TestStackInit runs `terraform init` on a copy of the real stack with a stand-in
// azurerm provider in a -plugin-dir (the real provider cannot be downloaded here and
// takes too long to build). What this proves: every file parses as Terraform, every
// module source resolves, and the required_providers constraint accepts azurerm 5.2.0
// (`make validate-azurerm` validates both stacks against the real provider's schema).
// What it does not: that resource arguments match the azurerm schema (`terraform
// validate` needs the real provider) — TestStackStructure checks the wiring between the
// root and its modules and the settings the stack must provision, statically.
func TestStackInit(t *testing.T) {
	t.Parallel()
	bin := terraformBin(t)
	dir := filepath.Join(t.TempDir(), "terraform")
	copyDir(t, stackDir, dir)
	plugins := t.TempDir()
	const version = "5.2.0"
	pdir := filepath.Join(plugins, "registry.terraform.io", "hashicorp", "azurerm", version, runtime.GOOS+"_"+runtime.GOARCH)
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	stub := "#!/bin/sh\necho 'stand-in azurerm provider for terraform init: it serves no schema' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(pdir, "terraform-provider-azurerm_v"+version), []byte(stub), 0o755); err != nil {
		t.Fatal(err)
	}
	tf := testTerraform(t, bin, dir)
	if err := tf.Init(context.Background(), tfexec.Backend(false), tfexec.PluginDir(plugins)); err != nil {
		t.Fatalf("terraform init: %v", err)
	}
	if err := testTerraform(t, bin, filepath.Join(dir, "bootstrap")).Init(context.Background(), tfexec.PluginDir(plugins)); err != nil {
		t.Fatalf("terraform init of bootstrap/: %v", err)
	}
	lock, err := os.ReadFile(filepath.Join(dir, ".terraform.lock.hcl"))
	if err != nil || !strings.Contains(string(lock), `provider "registry.terraform.io/hashicorp/azurerm"`) {
		t.Fatalf("init wrote no lock entry for azurerm: %v\n%s", err, lock)
	}
	modules, err := os.ReadFile(filepath.Join(dir, ".terraform", "modules", "modules.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"rg", "aks", "acr", "keyvault", "identity"} {
		if !strings.Contains(string(modules), `"Key":"`+m+`"`) {
			t.Errorf("module %s not installed: %s", m, modules)
		}
	}
}
