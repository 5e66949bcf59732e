package infra

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// timestampCall matches timestamp() but not plantimestamp().
var timestampCall = regexp.MustCompile(`(^|[^A-Za-z0-9_])timestamp\(`)

// tfModule is one Terraform module of the stack, parsed with HCL.
type tfModule struct {
	dir    string
	src    map[string][]byte
	blocks []*hclsyntax.Block
}

func parseModule(t *testing.T, dir string) *tfModule {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tf files in %s: %v", dir, err)
	}
	m := &tfModule{dir: dir, src: map[string][]byte{}}
	p := hclparse.NewParser()
	for _, f := range files {
		file, diags := p.ParseHCLFile(f)
		if diags.HasErrors() {
			t.Fatalf("parsing %s: %v", f, diags)
		}
		m.src[f] = file.Bytes
		m.blocks = append(m.blocks, file.Body.(*hclsyntax.Body).Blocks...)
	}
	return m
}

// find returns the blocks of a type whose labels start with labels.
func (m *tfModule) find(typ string, labels ...string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range m.blocks {
		if b.Type == typ && len(b.Labels) >= len(labels) && slices.Equal(b.Labels[:len(labels)], labels) {
			out = append(out, b)
		}
	}
	return out
}

func (m *tfModule) one(t *testing.T, typ string, labels ...string) *hclsyntax.Block {
	t.Helper()
	bs := m.find(typ, labels...)
	if len(bs) != 1 {
		t.Fatalf("%s: want one %s %v, found %d", m.dir, typ, labels, len(bs))
	}
	return bs[0]
}

// exprText is the source text of an attribute's expression ("" when absent).
func (m *tfModule) exprText(b *hclsyntax.Block, name string) string {
	a, ok := b.Body.Attributes[name]
	if !ok {
		return ""
	}
	r := a.Expr.Range()
	return string(r.SliceBytes(m.src[r.Filename]))
}

// literal evaluates an attribute that is a constant.
func literal(t *testing.T, b *hclsyntax.Block, name string) cty.Value {
	t.Helper()
	a, ok := b.Body.Attributes[name]
	if !ok {
		t.Fatalf("%s %v has no %s", b.Type, b.Labels, name)
	}
	v, diags := a.Expr.Value(&hcl.EvalContext{})
	if diags.HasErrors() {
		t.Fatalf("%s %v: %s is not a constant: %v", b.Type, b.Labels, name, diags)
	}
	return v
}

func nested(b *hclsyntax.Block, typ string) *hclsyntax.Block {
	for _, c := range b.Body.Blocks {
		if c.Type == typ {
			return c
		}
	}
	return nil
}

// TestStackStructure reads the stack as HCL and checks what `terraform validate` would
// catch between our own modules (every argument of a module call is a variable of the
// module, every required variable is passed) and the settings the stack must provision.
// The azurerm argument names themselves are only checked by a real `terraform validate`
// with the real provider.
func TestStackStructure(t *testing.T) {
	t.Parallel()
	root := parseModule(t, stackDir)
	modules := map[string]*tfModule{}

	t.Run("module wiring", func(t *testing.T) {
		meta := []string{"source", "count", "for_each", "depends_on", "providers", "version"}
		calls := root.find("module")
		if len(calls) != 5 {
			t.Errorf("root calls %d modules, want rg, aks, acr, keyvault, identity", len(calls))
		}
		for _, call := range calls {
			src := strings.Trim(root.exprText(call, "source"), `"`)
			child := parseModule(t, filepath.Join(stackDir, src))
			modules[filepath.Base(src)] = child
			declared := map[string]bool{}
			for _, v := range child.find("variable") {
				declared[v.Labels[0]] = true
				_, hasDefault := v.Body.Attributes["default"]
				if _, passed := call.Body.Attributes[v.Labels[0]]; !hasDefault && !passed {
					t.Errorf("module %q does not pass required variable %s of %s", call.Labels[0], v.Labels[0], src)
				}
			}
			for name := range call.Body.Attributes {
				if !declared[name] && !slices.Contains(meta, name) {
					t.Errorf("module %q passes %s, which %s does not declare", call.Labels[0], name, src)
				}
			}
		}
	})
	if t.Failed() {
		return
	}

	t.Run("required settings", func(t *testing.T) {
		aks := modules["aks"].one(t, "resource", "azurerm_kubernetes_cluster")
		for _, a := range []string{"oidc_issuer_enabled", "workload_identity_enabled"} {
			if !literal(t, aks, a).True() {
				t.Errorf("AKS %s is not true", a)
			}
		}
		pool := nested(aks, "default_node_pool")
		if pool == nil || literal(t, pool, "os_disk_type").AsString() != "Managed" ||
			nested(pool, "upgrade_settings") == nil || literal(t, nested(pool, "upgrade_settings"), "max_surge").AsString() != "1" {
			t.Error("AKS default pool must have a managed OS disk and upgrade_settings { max_surge = \"1\" }")
		}
		defaults := map[string]cty.Value{"node_count": cty.NumberIntVal(2), "node_vm_size": cty.StringVal("Standard_D2s_v5"),
			"os_disk_size_gb": cty.NumberIntVal(75), "workload_namespace": cty.StringVal("daedalus"),
			"workload_service_account": cty.StringVal("daedalus-proxy"), "keda": cty.StringVal("managed")}
		for name, want := range defaults {
			if got := literal(t, root.one(t, "variable", name), "default"); !got.RawEquals(want) {
				t.Errorf("variable %s defaults to %#v, want %#v", name, got, want)
			}
		}

		acr := modules["acr"].one(t, "resource", "azurerm_container_registry")
		if literal(t, acr, "sku").AsString() != "Standard" || literal(t, acr, "admin_enabled").True() {
			t.Error("ACR must be Standard without an admin user")
		}
		kv := modules["keyvault"].one(t, "resource", "azurerm_key_vault")
		if !literal(t, kv, "rbac_authorization_enabled").True() {
			t.Error("Key Vault must use RBAC authorization")
		}
		roles := map[string]string{"acr": "AcrPull AcrPush", "keyvault": "Key Vault Secrets User|Key Vault Secrets Officer",
			"aks": "Azure Kubernetes Service RBAC Cluster Admin|"}
		for mod, want := range roles {
			var got []string
			for _, ra := range modules[mod].find("resource", "azurerm_role_assignment") {
				got = append(got, literal(t, ra, "role_definition_name").AsString())
			}
			for _, r := range strings.FieldsFunc(want, func(c rune) bool { return c == '|' || (c == ' ' && !strings.Contains(want, "|")) }) {
				if !slices.Contains(got, r) {
					t.Errorf("module %s grants %v, want %s", mod, got, r)
				}
			}
		}
		wfc := modules["identity"].one(t, "resource", "azurerm_federated_identity_credential")
		if got := modules["identity"].exprText(wfc, "subject"); got != `"system:serviceaccount:${var.namespace}:${var.service_account}"` {
			t.Errorf("workload federated subject = %s", got)
		}
		boot := parseModule(t, filepath.Join(stackDir, "bootstrap"))
		gfc := boot.one(t, "resource", "azurerm_federated_identity_credential")
		if literal(t, gfc, "issuer").AsString() != "https://token.actions.githubusercontent.com" {
			t.Error("GitHub federated credentials must trust GitHub's OIDC issuer")
		}
		var be *hclsyntax.Block
		for _, tb := range root.find("terraform") {
			if b := nested(tb, "backend"); b != nil {
				be = b
			}
		}
		if be == nil || be.Labels[0] != "azurerm" || !literal(t, be, "use_oidc").True() || !literal(t, be, "use_azuread_auth").True() {
			t.Error("the backend must be azurerm with use_oidc and use_azuread_auth")
		}
		for _, o := range []string{"cluster_name", "resource_group_name", "acr_login_server", "key_vault_uri",
			"workload_identity_client_id", "oidc_issuer_url", "expires_at", "keda"} {
			root.one(t, "output", o)
		}
	})

	t.Run("TTL tags and the reaper", func(t *testing.T) {
		// Every taggable resource of the environment carries the TTL tags; the GitHub
		// identities (among them the reaper's) live in bootstrap's shared group, which is
		// not tagged for deletion.
		taggable := []string{"azurerm_resource_group", "azurerm_kubernetes_cluster", "azurerm_container_registry",
			"azurerm_key_vault", "azurerm_user_assigned_identity"}
		for name, m := range modules {
			for _, r := range m.find("resource") {
				if slices.Contains(taggable, r.Labels[0]) && m.exprText(r, "tags") != "var.tags" {
					t.Errorf("module %s: %s.%s is not tagged with var.tags", name, r.Labels[0], r.Labels[1])
				}
			}
		}
		for _, call := range root.find("module") {
			if tags := root.exprText(call, "tags"); tags != "local.tags" {
				t.Errorf("module %s tags = %s, want local.tags", call.Labels[0], tags)
			}
		}
		locals := root.one(t, "locals")
		if got := root.exprText(locals, "ttl_tags"); !strings.Contains(got, `"auto-destroy" = "true"`) || !strings.Contains(got, `"expires-at"   = var.expires_at`) {
			t.Errorf("ttl_tags = %s", got)
		}
		// The bootstrap group holds the state and the reaper's identity: never reaped.
		boot := parseModule(t, filepath.Join(stackDir, "bootstrap"))
		rg := boot.one(t, "resource", "azurerm_resource_group")
		if got := literal(t, rg, "tags").GetAttr("auto-destroy").AsString(); got != "false" {
			t.Errorf("bootstrap resource group auto-destroy = %q, want false", got)
		}
		st := boot.one(t, "resource", "azurerm_storage_account")
		if literal(t, st, "shared_access_key_enabled").True() {
			t.Error("the state storage account must not allow shared keys (Entra ID only)")
		}
		err := filepath.WalkDir(stackDir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".tf") {
				return err
			}
			b, err := os.ReadFile(p)
			if err == nil && timestampCall.Match(b) {
				t.Errorf("%s calls timestamp(): every plan would show a diff; expires_at comes from the step", p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
