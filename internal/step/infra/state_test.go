package infra

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// recordingTerraform writes a terraform stand-in that answers `version -json` as
// terraform 1.5.7 does, appends the arguments of every other command to record, and
// fails plan (so a run stops after init and plan, having shown its argv).
func recordingTerraform(t *testing.T, dir, record string) string {
	t.Helper()
	bin := filepath.Join(dir, "terraform-recorder")
	script := `#!/bin/sh
if [ "$1" = version ]; then
  echo '{"terraform_version":"1.5.7","platform":"linux_amd64","provider_selections":{},"terraform_outdated":false}'
  exit 0
fi
printf '%s\n' "$*" >>` + record + `
[ "$1" = plan ] && exit 1
exit 0
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestStatePerEnvironment: with one backend-config for the whole repository (the
// bootstrap's), each environment gets its own state key, and previews their own
// container; terraform init gets exactly that (and -reconfigure, so one checkout can
// switch environments). Before, the backend-config reached init as given: every
// environment shared the bootstrap's key=.
func TestStatePerEnvironment(t *testing.T) {
	t.Parallel()
	const backend = "resource_group_name=rg-daedalus-state\nstorage_account_name=stdaedalusstate"
	for _, tt := range []struct {
		env, container, tier string
		config               string
	}{
		{"test", "tfstate", "", backend},
		{"production", "tfstate", "", backend},
		{"pr12", "tfstate-preview", "", backend},
		{"pr13", "tfstate-preview", "", backend + "\ncontainer_name=tfstate-preview"}, // the bootstrap's backend_config_preview
		{"demo", "state-preview", "preview", backend + "\ncontainer_name=state"},
		{"test", "state", "", backend + "\ncontainer_name=state"},
	} {
		t.Run(tt.env+"/"+tt.container, func(t *testing.T) {
			t.Parallel()
			s := newStep(t, "stack", "")
			record := filepath.Join(s.dir, "argv")
			s.tf = recordingTerraform(t, s.dir, record)
			// Left by an earlier run with a local state: it must not hold this one local.
			if err := os.WriteFile(filepath.Join(s.dir, "stack", LocalBackendOverride), []byte("terraform {\n  backend \"local\" {}\n}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			r := s.run(context.Background(), time.Now(), map[string]string{
				"command": "plan", "working-directory": "stack", "subscription-id": testSubscription,
				"environment": tt.env, "tier": tt.tier, "backend-config": tt.config,
			})
			if r.err == nil {
				t.Fatal("the stand-in fails plan; the run should have failed")
			}
			raw, err := os.ReadFile(record)
			if err != nil {
				t.Fatalf("terraform never ran: %v\n%s", err, r.log)
			}
			init := strings.Split(string(raw), "\n")[0]
			for _, want := range []string{
				"-reconfigure",
				"-backend-config=resource_group_name=rg-daedalus-state",
				"-backend-config=storage_account_name=stdaedalusstate",
				"-backend-config=container_name=" + tt.container,
				"-backend-config=key=daedalus-" + tt.env + ".tfstate",
			} {
				if !strings.Contains(init, want) {
					t.Errorf("init %q lacks %s", init, want)
				}
			}
			if n := strings.Count(init, "container_name="); n != 1 {
				t.Errorf("init names %d containers: %q", n, init)
			}
			if _, err := os.Stat(filepath.Join(s.dir, "stack", LocalBackendOverride)); err == nil {
				t.Error("a local backend override is in place although backend-config is set")
			}
		})
	}
}

// TestEmptyBackendConfigIsLocalState runs the real terraform on the fixture with the
// stack's own backend.tf (backend "azurerm"): with no backend-config the step keeps a
// local state per environment, as its docs say. Before, init failed on the azurerm
// backend.
func TestEmptyBackendConfigIsLocalState(t *testing.T) {
	t.Parallel()
	tf := terraformBin(t)
	s := newStep(t, "stack", tf)
	backend, err := os.ReadFile(filepath.Join(stackDir, "backend.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "stack", "backend.tf"), backend, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, env := range []string{"test", "pr7"} {
		r := s.run(context.Background(), time.Now(), map[string]string{
			"command": "apply", "working-directory": "stack", "var-files": "stack/dev.tfvars",
			"subscription-id": testSubscription, "environment": env,
		})
		if r.err != nil {
			t.Fatalf("%s: %v\n%s", env, r.err, r.log)
		}
		if _, err := os.Stat(filepath.Join(s.dir, "stack", "daedalus-"+env+".tfstate")); err != nil {
			t.Errorf("%s: no local state of its own: %v", env, err)
		}
		if b, err := os.ReadFile(filepath.Join(s.dir, "stack", LocalBackendOverride)); err != nil || !strings.Contains(string(b), `"daedalus-`+env+`.tfstate"`) {
			t.Errorf("%s: the local backend override: %q, %v", env, b, err)
		}
	}
}

// TestVarFilesOutsideWorkspace: a var file reached through a link that leaves the
// workspace is refused before terraform runs.
func TestVarFilesOutsideWorkspace(t *testing.T) {
	t.Parallel()
	s := newStep(t, "stack", "")
	record := filepath.Join(s.dir, "argv")
	s.tf = recordingTerraform(t, s.dir, record)
	outside := filepath.Join(t.TempDir(), "secrets.tfvars")
	if err := os.WriteFile(outside, []byte("x = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(s.dir, "stack", "linked.tfvars")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"stack/linked.tfvars", outside} {
		r := s.run(context.Background(), time.Now(), map[string]string{
			"command": "plan", "working-directory": "stack", "subscription-id": testSubscription, "var-files": f,
		})
		if r.err == nil || !strings.Contains(r.err.Error(), "lies outside the workspace") {
			t.Errorf("%s: err = %v, want it refused as outside the workspace", f, r.err)
		}
		if _, err := os.Stat(record); err == nil {
			t.Fatalf("%s: terraform ran", f)
		}
	}
}

// TestInstallsTerraformWhenNotOnPath: on a runner without terraform (the ubuntu-24.04
// images no longer ship it) the step installs the pinned version from a releases mirror
// (here a loopback one serving the real terraform, signed with a test key) into the
// tool cache, and plans with it. Before, the step failed: terraform not on PATH.
func TestInstallsTerraformWhenNotOnPath(t *testing.T) {
	t.Parallel()
	real, err := os.ReadFile(terraformBin(t))
	if err != nil {
		t.Fatal(err)
	}
	m := newReleasesMirror(t, "1.5.7", mirrorOptions{binary: real})
	s := newStep(t, "stack", "")
	s.environ = append(s.environ[:0:0], "PATH=/usr/bin:/bin", "HOME="+s.home)
	for _, e := range newStep(t, "stack", "").environ {
		if strings.HasPrefix(e, "TF_CLI_CONFIG_FILE=") {
			s.environ = append(s.environ, e)
		}
	}
	cache := t.TempDir()
	s.releases = m.releases()
	in := map[string]string{
		"command": "plan", "working-directory": "stack", "var-files": "stack/dev.tfvars",
		"subscription-id": testSubscription, "terraform": "", "env:PATH": "/usr/bin:/bin", "env:RUNNER_TOOL_CACHE": cache,
	}
	r := s.run(context.Background(), time.Now(), in)
	if r.err != nil {
		t.Fatalf("plan: %v\n%s", r.err, r.log)
	}
	if r.res.Plan.Add != 3 {
		t.Errorf("plan with the installed terraform: %+v", *r.res.Plan)
	}
	if _, err := os.Stat(filepath.Join(cache, "terraform", "1.5.7", toolArch(), "terraform")); err != nil {
		t.Errorf("terraform is not in the tool cache: %v", err)
	}
	if !strings.Contains(r.log, "installed terraform 1.5.7") {
		t.Errorf("no notice of the install:\n%s", r.log)
	}
	// The next job on the runner reuses it.
	r = s.run(context.Background(), time.Now(), in)
	if r.err != nil || !strings.Contains(r.log, "from the tool cache") || m.zipDownloads() != 1 {
		t.Errorf("second run: err %v, %d downloads\n%s", r.err, m.zipDownloads(), r.log)
	}
}
