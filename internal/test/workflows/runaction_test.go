package workflows

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/lib/actions/composite"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// stepRecorder stands in for the step binaries (daedalus-<step> in DAEDALUS_BIN_DIR,
// which actions/_bin/run runs before anything else): it records the environment the
// binary was started with, NUL-separated (values span lines), and writes the outputs the
// real step documents, from FAKE_<STEP>_OUTPUTS.
const stepRecorder = `#!/usr/bin/env bash
set -euo pipefail
step=${0##*/daedalus-}
env -0 >"$RECORD/$step.env"
var=FAKE_${step^^}_OUTPUTS
printf '%s' "${!var:-}" >>"$GITHUB_OUTPUT"
`

// rootRun is one run of the real root action.yml through the local runner.
type rootRun struct {
	res  composite.Result
	err  error
	env  map[string]map[string]string // binary's environment, by step
	log  string
	root string
}

// runRoot runs the repository's action.yml with inputs exactly as make deploy-aks-test
// does (composite.Runner, real bash, the real actions/_bin/run), with recorders in place
// of the step binaries; infra reports keda.
func runRoot(t *testing.T, inputs map[string]string, keda string) rootRun {
	t.Helper()
	root := engine.RepoRoot(t)
	bin, record := t.TempDir(), t.TempDir()
	for _, step := range []string{"preflight", "infra", "publish", "deploy", "smoke"} {
		if err := os.WriteFile(filepath.Join(bin, "daedalus-"+step), []byte(stepRecorder), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	r := composite.Runner{
		Workspace: root,
		Github:    map[string]string{"repository": "octo/daedalus"},
		Env: []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
			"DAEDALUS_BIN_DIR=" + bin, "RECORD=" + record,
			"FAKE_INFRA_OUTPUTS=resource_group_name=rg-daedalus-test\ncluster_name=aks-daedalus-test\nacr_name=acrdaedalustest\n" +
				"acr_login_server=acrdaedalustest.azurecr.io\nworkload_identity_client_id=11111111-2222-3333-4444-555555555555\nexpires_at=2030-01-01T00:00:00Z\nkeda=" + keda + "\n",
			"FAKE_PUBLISH_OUTPUTS=image=acrdaedalustest.azurecr.io/daedalus-proxy@sha256:" + strings.Repeat("ab", 32) + "\ndigest=sha256:" + strings.Repeat("ab", 32) + "\n",
			"FAKE_DEPLOY_OUTPUTS=namespace=daedalus\nrevision=4\n",
			"FAKE_SMOKE_OUTPUTS=result=passed\n",
		},
		Stdout: &log,
	}
	res, err := r.Run(context.Background(), filepath.Join(root, "action.yml"), inputs)
	run := rootRun{res: res, err: err, env: map[string]map[string]string{}, log: log.String(), root: root}
	files, _ := filepath.Glob(filepath.Join(record, "*.env"))
	for _, f := range files {
		raw, rerr := os.ReadFile(f)
		if rerr != nil {
			t.Fatal(rerr)
		}
		m := map[string]string{}
		for _, kv := range strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00") {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		run.env[strings.TrimSuffix(filepath.Base(f), ".env")] = m
	}
	return run
}

// ran lists the steps the run did not skip.
func (r rootRun) ran() []string {
	var ids []string
	for _, s := range r.res.Steps {
		if !s.Skipped {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// TestRootActionRunsLocally runs the real action.yml with the inputs make deploy-aks-test
// gives it and checks what every step binary was started with: the order, the if:
// conditions and the values flowing from infra to publish, image, deploy and smoke.
func TestRootActionRunsLocally(t *testing.T) {
	t.Parallel()
	run := runRoot(t, map[string]string{"environment": "test", "image-tags": "0123456789ab", "ttl-hours": "6", "var-files": "mine.tfvars"}, "helm")
	if run.err != nil {
		t.Fatalf("run: %v\n%s", run.err, run.log)
	}
	if want := []string{"env", "preflight", "infra", "publish", "image", "deploy", "smoke"}; !reflect.DeepEqual(run.ran(), want) {
		t.Errorf("steps run = %q, want %q", run.ran(), want)
	}
	digest := "acrdaedalustest.azurecr.io/daedalus-proxy@sha256:" + strings.Repeat("ab", 32)
	for step, want := range map[string]map[string]string{
		"preflight": {"INPUT_COMMAND": "deploy", "INPUT_CHART": run.root + "/deploy/helm/daedalus", "INPUT_VALUES": "values-aks-test.yaml", "INPUT_SUBSCRIPTION-ID": ""},
		"infra": {"INPUT_COMMAND": "apply", "INPUT_ENVIRONMENT": "test", "INPUT_TTL-HOURS": "6",
			"INPUT_WORKING-DIRECTORY": run.root + "/deploy/terraform", "INPUT_TERRAFORM-VERSION": "1.5.7"},
		"publish": {"INPUT_REGISTRY": "acrdaedalustest.azurecr.io", "INPUT_TAGS": "0123456789ab", "INPUT_PLATFORMS": "linux/amd64,linux/arm64", "INPUT_SIGN": ""},
		"deploy": {"INPUT_PROXY-IMAGE": digest, "INPUT_KEDA": "helm", "INPUT_RESOURCE-GROUP": "rg-daedalus-test",
			"INPUT_CLUSTER-NAME": "aks-daedalus-test", "INPUT_ACR-NAME": "acrdaedalustest", "INPUT_NAMESPACE": "daedalus",
			"INPUT_WORKLOAD-IDENTITY-CLIENT-ID": "11111111-2222-3333-4444-555555555555"},
		"smoke": {"INPUT_TASKS": "1", "INPUT_RESOURCE-GROUP": "rg-daedalus-test", "INPUT_CLUSTER-NAME": "aks-daedalus-test"},
	} {
		got := run.env[step]
		if got == nil {
			t.Errorf("step binary %s never ran", step)
			continue
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s started with %s=%q, want %q", step, k, got[k], v)
			}
		}
		// Outside Actions the steps sign in with the developer's az login.
		if _, ok := got["GITHUB_ACTIONS"]; ok {
			t.Errorf("%s started with GITHUB_ACTIONS set", step)
		}
	}
	files := strings.Split(run.env["infra"]["INPUT_VAR-FILES"], "\n")
	if len(files) != 3 || files[0] != "deploy/environments/test.tfvars" || files[1] != "mine.tfvars" || !strings.HasSuffix(files[2], "/daedalus-test.tfvars") {
		t.Errorf("infra var-files = %q, want the environment's settings, the var-files input, then the generated tfvars", files)
	}
	want := map[string]string{"image": digest, "resource-group": "rg-daedalus-test", "revision": "4", "smoke-result": "passed", "expires-at": "2030-01-01T00:00:00Z"}
	for k, v := range want {
		if run.res.Outputs[k] != v {
			t.Errorf("output %s = %q, want %q", k, run.res.Outputs[k], v)
		}
	}
}

// TestRootActionLocalBranches checks the if: conditions and the mappings that pick a
// branch: destroy skips everything after infra, a preview (pr<N>) reads preview.tfvars, image-tag skips publish and deploys the
// tag from the environment's registry, smoke false skips the smoke test, and a stack
// whose keda output is not helm leaves KEDA to the add-on.
func TestRootActionLocalBranches(t *testing.T) {
	t.Parallel()
	destroy := runRoot(t, map[string]string{"environment": "dev", "destroy": "true"}, "managed")
	if destroy.err != nil || !reflect.DeepEqual(destroy.ran(), []string{"env", "preflight", "infra"}) {
		t.Errorf("destroy: err %v, steps run %q, want env, preflight, infra\n%s", destroy.err, destroy.ran(), destroy.log)
	}
	if destroy.env["preflight"]["INPUT_COMMAND"] != "destroy" || destroy.env["infra"]["INPUT_COMMAND"] != "destroy" {
		t.Errorf("destroy: preflight command %q, infra command %q, want destroy", destroy.env["preflight"]["INPUT_COMMAND"], destroy.env["infra"]["INPUT_COMMAND"])
	}
	if !strings.Contains(destroy.log, "==> [4/7] publish: skipped (if: inputs.destroy != 'true' && inputs.image-tag == '')") {
		t.Errorf("destroy: the log does not say publish was skipped:\n%s", destroy.log)
	}

	// Every preview reads the settings all previews share.
	preview := runRoot(t, map[string]string{"environment": "pr42", "destroy": "true"}, "managed")
	if files := strings.Split(preview.env["infra"]["INPUT_VAR-FILES"], "\n"); preview.err != nil || len(files) != 2 || files[0] != "deploy/environments/preview.tfvars" {
		t.Errorf("preview pr42: err %v, infra var-files %q, want deploy/environments/preview.tfvars first\n%s", preview.err, files, preview.log)
	}

	tagged := runRoot(t, map[string]string{"image-tag": "1.2.3", "smoke": "false"}, "managed")
	if tagged.err != nil || !reflect.DeepEqual(tagged.ran(), []string{"env", "preflight", "infra", "image", "deploy"}) {
		t.Errorf("image-tag: err %v, steps run %q, want no publish and no smoke\n%s", tagged.err, tagged.ran(), tagged.log)
	}
	if got := tagged.env["deploy"]; got["INPUT_PROXY-IMAGE"] != "acrdaedalustest.azurecr.io/daedalus-proxy:1.2.3" || got["INPUT_KEDA"] != "addon" {
		t.Errorf("image-tag: deploy got proxy image %q, keda %q; want the tag from the registry, addon", got["INPUT_PROXY-IMAGE"], got["INPUT_KEDA"])
	}
	if _, ok := tagged.res.Outputs["smoke-result"]; !ok || tagged.res.Outputs["smoke-result"] != "" {
		t.Errorf("image-tag: smoke-result = %q, want empty (smoke skipped)", tagged.res.Outputs["smoke-result"])
	}

	bad := runRoot(t, map[string]string{"environment": "Bad_Name"}, "helm")
	var se *composite.StepError
	if !errors.As(bad.err, &se) || se.ID != "env" || len(bad.env) != 0 || !strings.Contains(bad.log, "::error title=Input environment::") {
		t.Errorf("bad environment: err %v, binaries run %d, want the env step to stop the run with its annotation\n%s", bad.err, len(bad.env), bad.log)
	}
}

// TestAKSTargetsRunTheActions reads the recipes of make deploy-aks-test, destroy-aks-test
// and aks-status: each must hand an action.yml to cmd/runaction, and every input it sets
// must be one that action declares, so renaming an input cannot silently drop a setting.
func TestAKSTargetsRunTheActions(t *testing.T) {
	t.Parallel()
	root := engine.RepoRoot(t)
	for target, action := range map[string]string{"deploy-aks-test": "action.yml", "destroy-aks-test": "action.yml", "aks-status": "actions/infra/action.yml"} {
		cmd := exec.Command("make", "-s", "-n", "-C", root, target)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("make -n %s: %v", target, err)
		}
		recipe := string(out)
		if !strings.Contains(recipe, "run ./cmd/runaction ") || !strings.HasSuffix(strings.TrimSpace(recipe), " "+action) {
			t.Errorf("make %s runs %q, want ./cmd/runaction on %s", target, recipe, action)
			continue
		}
		declared := readAction(t, filepath.Join(root, action)).Inputs
		names := regexp.MustCompile(`-with(?:-env)? ([a-z-]+)=`).FindAllStringSubmatch(recipe, -1)
		if len(names) == 0 {
			t.Errorf("make %s sets no inputs", target)
		}
		for _, m := range names {
			if _, ok := declared[m[1]]; !ok {
				t.Errorf("make %s sets input %s, which %s does not declare", target, m[1], action)
			}
		}
		if target == "destroy-aks-test" && !slices.ContainsFunc(names, func(m []string) bool { return m[1] == "destroy" }) {
			t.Errorf("make destroy-aks-test does not set destroy")
		}
	}
}
