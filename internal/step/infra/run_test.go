package infra

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
)

// TestLifecycle drives the step through a whole life of the fixture stack with a real
// terraform and a local backend: plan → apply → outputs → a second plan with no changes
// → a TTL extension that changes tags only → destroy.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	tf := terraformBin(t)
	ctx := context.Background()
	s := newStep(t, "stack", tf)
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	in := func(command string, extra ...string) map[string]string {
		m := map[string]string{
			"command":           command,
			"working-directory": "stack",
			"var-files":         "stack/dev.tfvars",
			"subscription-id":   testSubscription,
			"ttl-hours":         "24",
		}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}

	// 1. Plan: three resources to create, nothing applied.
	r := s.run(ctx, t0, in("plan"))
	if r.err != nil {
		t.Fatalf("plan: %v\n%s", r.err, r.log)
	}
	if got := *r.res.Plan; got.Add != 3 || got.Change != 0 || got.Destroy != 0 || r.res.Applied {
		t.Fatalf("plan: got %+v applied=%v, want 3 to add and nothing applied", got, r.res.Applied)
	}
	for k, want := range map[string]string{"has-changes": "true", "to-add": "3", "to-change": "0", "to-destroy": "0", "expires-at": "2026-11-27T09:00:00Z"} {
		if r.outputs[k] != want {
			t.Errorf("plan output %s = %q, want %q", k, r.outputs[k], want)
		}
	}
	for _, want := range []string{"### Terraform plan", "| 3 | 0 | 0 |", "| + create | `terraform_data.cluster` |", "| + create | `terraform_data.resource_group` |"} {
		if !strings.Contains(r.summary, want) {
			t.Errorf("plan summary lacks %q:\n%s", want, r.summary)
		}
	}
	if st := showState(t, s); len(st) != 0 {
		t.Fatalf("plan changed the state: %v", st)
	}

	// 2. Apply: the saved plan is applied and every output becomes a step output.
	r = s.run(ctx, t0, in("apply"))
	if r.err != nil {
		t.Fatalf("apply: %v\n%s", r.err, r.log)
	}
	if !r.res.Applied || r.res.Plan.Add != 3 {
		t.Fatalf("apply: got %+v applied=%v", *r.res.Plan, r.res.Applied)
	}
	wantOutputs := map[string]string{
		"cluster_name":        "aks-daedalus-ci", // from dev.tfvars
		"resource_group_name": "rg-daedalus-ci",
		"acr_login_server":    "acrdaedalusci.azurecr.io",
		"node_count":          "3",
		"gha_oidc_subjects":   `["repo:daedalus-dev/daedalus:ref:refs/heads/main","repo:daedalus-dev/daedalus:pull_request"]`,
		"expires_at":          "2026-11-27T09:00:00Z",
		"ttl_hours":           "24",
		"admin_token":         "fixture-admin-token-5b1f0c", // the default, not TF_VAR_admin_token
	}
	for k, want := range wantOutputs {
		if r.outputs[k] != want {
			t.Errorf("apply output %s = %q, want %q", k, r.outputs[k], want)
		}
	}
	// The sensitive output is masked before it is written and kept out of the summary.
	const secret = "fixture-admin-token-5b1f0c"
	mask := strings.Index(r.log, "::add-mask::"+secret)
	if mask < 0 {
		t.Errorf("the sensitive output was not masked:\n%s", r.log)
	}
	if strings.Count(r.log, secret) != 1 {
		t.Errorf("the log prints the sensitive output beyond its mask:\n%s", r.log)
	}
	if strings.Contains(r.summary, secret) || !strings.Contains(r.summary, "| `admin_token` | *(sensitive") {
		t.Errorf("summary shows the sensitive output or omits its row:\n%s", r.summary)
	}
	if !strings.Contains(r.log, "::warning::The stack lacks outputs that actions/infra declares; they will be empty: acr_name, key_vault_uri, workload_identity_client_id, oidc_issuer_url, keda") {
		t.Errorf("no warning about the outputs the fixture lacks:\n%s", r.log)
	}
	if !strings.Contains(r.summary, "| `cluster_name` | `aks-daedalus-ci` |") {
		t.Errorf("summary lacks the outputs table:\n%s", r.summary)
	}
	tags := stateTags(t, s)
	for addr, tg := range tags {
		if tg["auto-destroy"] != "true" || tg["expires-at"] != "2026-11-27T09:00:00Z" {
			t.Errorf("%s tags = %v, want auto-destroy=true and expires-at=2026-11-27T09:00:00Z", addr, tg)
		}
	}

	// 3. A second plan, an hour later with the same TTL: no changes at all.
	r = s.run(ctx, t0.Add(time.Hour), in("plan"))
	if r.err != nil {
		t.Fatalf("second plan: %v\n%s", r.err, r.log)
	}
	if r.res.Plan.HasChanges() || r.outputs["has-changes"] != "false" || r.outputs["expires-at"] != "2026-11-27T09:00:00Z" {
		t.Fatalf("second plan: got %+v, outputs %v; want no changes and the deployed expires-at", *r.res.Plan, r.outputs)
	}
	if !strings.Contains(r.summary, "No changes") {
		t.Errorf("second plan summary:\n%s", r.summary)
	}

	// 4. Extending the TTL (apply two hours later, through a saved plan file) changes
	// the expires-at tag of every resource and nothing else.
	planFile := filepath.Join(s.dir, "extend.tfplan")
	t2 := t0.Add(2 * time.Hour)
	r = s.run(ctx, t2, in("plan", "ttl-hours", "48", "plan-file", "extend.tfplan"))
	if r.err != nil {
		t.Fatalf("TTL plan: %v\n%s", r.err, r.log)
	}
	if p := *r.res.Plan; p.Add != 0 || p.Destroy != 0 || p.Change != 3 {
		t.Fatalf("TTL plan: got %+v, want 3 updates only", p)
	}
	assertTagOnlyDiff(t, s, planFile, "2026-11-28T11:00:00Z")
	r = s.run(ctx, t2.Add(time.Minute), in("apply", "ttl-hours", "48", "plan-file", "extend.tfplan"))
	if r.err != nil {
		t.Fatalf("apply of the saved TTL plan: %v\n%s", r.err, r.log)
	}
	if r.outputs["expires_at"] != "2026-11-28T11:00:00Z" || r.outputs["expires-at"] != "2026-11-28T11:00:00Z" {
		t.Errorf("after the TTL apply: expires_at=%q expires-at=%q, want the saved plan's 2026-11-28T11:00:00Z", r.outputs["expires_at"], r.outputs["expires-at"])
	}
	for addr, tg := range stateTags(t, s) {
		if tg["expires-at"] != "2026-11-28T11:00:00Z" {
			t.Errorf("%s expires-at = %q after the TTL apply", addr, tg["expires-at"])
		}
	}

	// 5. output reads the deployed outputs without planning.
	r = s.run(ctx, t2, map[string]string{"command": "output", "working-directory": "stack"})
	if r.err != nil {
		t.Fatalf("output: %v\n%s", r.err, r.log)
	}
	if r.outputs["cluster_name"] != "aks-daedalus-ci" || r.outputs["has-changes"] != "" || r.res.Plan != nil || len(r.res.Outputs) != 8 {
		t.Errorf("output: got %v, result %+v", r.outputs, r.res)
	}

	// Outside Actions nothing masks a step output: sensitive outputs are withheld.
	r = s.run(ctx, t2, map[string]string{"command": "output", "working-directory": "stack", outsideActions: ""})
	if r.err != nil {
		t.Fatalf("output outside Actions: %v\n%s", r.err, r.log)
	}
	if strings.Contains(r.log, secret) || !strings.Contains(r.log, "cluster_name=aks-daedalus-ci") ||
		!strings.Contains(r.log, "::notice::Sensitive outputs not printed outside GitHub Actions (read them with terraform output -raw): admin_token") {
		t.Errorf("output outside Actions:\n%s", r.log)
	}

	// 6. Destroy: a destroy plan, summarised, then applied.
	r = s.run(ctx, t2, in("destroy", "ttl-hours", "48"))
	if r.err != nil {
		t.Fatalf("destroy: %v\n%s", r.err, r.log)
	}
	if p := *r.res.Plan; p.Destroy != 3 || p.Add != 0 || !r.res.Applied {
		t.Fatalf("destroy: got %+v applied=%v", p, r.res.Applied)
	}
	if !strings.Contains(r.summary, "### Terraform destroy plan") || !strings.Contains(r.summary, "| - delete | `terraform_data.cluster` |") {
		t.Errorf("destroy summary:\n%s", r.summary)
	}
	if st := showState(t, s); len(st) != 0 {
		t.Errorf("resources left after destroy: %v", st)
	}
}

// showState lists the resource addresses in the fixture's state.
func showState(t *testing.T, s *step) []string {
	t.Helper()
	st := stateTags(t, s)
	var addrs []string
	for a := range st {
		addrs = append(addrs, a)
	}
	return addrs
}

// stateTags reads every resource's tags from the state with terraform show -json.
func stateTags(t *testing.T, s *step) map[string]map[string]string {
	t.Helper()
	tf := rawTerraform(t, s)
	st, err := tf.Show(context.Background())
	if err != nil {
		t.Fatalf("terraform show: %v", err)
	}
	out := map[string]map[string]string{}
	if st.Values == nil || st.Values.RootModule == nil {
		return out
	}
	for _, res := range st.Values.RootModule.Resources {
		out[res.Address] = tagsOf(t, res.AttributeValues["input"])
	}
	return out
}

func tagsOf(t *testing.T, input any) map[string]string {
	t.Helper()
	m, _ := input.(map[string]any)
	tags := map[string]string{}
	raw, _ := m["tags"].(map[string]any)
	for k, v := range raw {
		tags[k], _ = v.(string)
	}
	return tags
}

// assertTagOnlyDiff checks that every resource change in the saved plan is an in-place
// update whose only difference is the expires-at tag, now want.
func assertTagOnlyDiff(t *testing.T, s *step, planFile, want string) {
	t.Helper()
	p, err := rawTerraform(t, s).ShowPlanFile(context.Background(), planFile)
	if err != nil {
		t.Fatalf("show plan: %v", err)
	}
	if len(p.ResourceChanges) != 3 {
		t.Fatalf("plan has %d resource changes, want 3", len(p.ResourceChanges))
	}
	for _, rc := range p.ResourceChanges {
		if !rc.Change.Actions.Update() {
			t.Errorf("%s: actions %v, want update", rc.Address, rc.Change.Actions)
			continue
		}
		before, _ := rc.Change.Before.(map[string]any)
		after, _ := rc.Change.After.(map[string]any)
		bIn, _ := before["input"].(map[string]any)
		aIn, _ := after["input"].(map[string]any)
		bTags, aTags := tagsOf(t, bIn), tagsOf(t, aIn)
		if aTags["expires-at"] != want || bTags["expires-at"] == want {
			t.Errorf("%s: expires-at %q → %q, want a change to %q", rc.Address, bTags["expires-at"], aTags["expires-at"], want)
		}
		// terraform_data's output is computed from its input; the input is what the
		// configuration sets, so that is what must differ in the tag only.
		delete(bIn, "tags")
		delete(aIn, "tags")
		delete(bTags, "expires-at")
		delete(aTags, "expires-at")
		if !reflect.DeepEqual(bIn, aIn) || !reflect.DeepEqual(bTags, aTags) {
			b, _ := json.Marshal(before["input"])
			a, _ := json.Marshal(after["input"])
			t.Errorf("%s changes more than the expires-at tag:\nbefore %s\nafter  %s", rc.Address, b, a)
		}
	}
}

// rawTerraform is terraform-exec on the fixture, for looking at state and plans.
func rawTerraform(t *testing.T, s *step) *tfexec.Terraform {
	t.Helper()
	tf, err := tfexec.NewTerraform(filepath.Join(s.dir, "stack"), s.tf)
	if err != nil {
		t.Fatal(err)
	}
	if err := tf.SetEnv(map[string]string{"PATH": os.Getenv("PATH"), "HOME": s.home, "TF_CLI_CONFIG_FILE": s.environ[2][len("TF_CLI_CONFIG_FILE="):]}); err != nil {
		t.Fatal(err)
	}
	return tf
}
