package workflows

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// TestActRootActionStatePerEnvironment runs the root action under act for test, production
// and the preview pr7, all given the same backend config (the repository variable
// TERRAFORM_BACKEND_CONFIG as the bootstrap prints it, without a key), and checks the
// state each would use: its own key, and the preview's in the preview tier's container.
// Before, every environment shared the backend config's single key, so a preview planned
// to replace test and its teardown destroyed it. Sign-in and the preflight run against the
// same stand-ins as TestActRootAction (GitHub OIDC, Entra, ARM); terraform is the real
// binary behind a recorder that stops at init, where the azurerm backend would need Azure.
func TestActRootActionStatePerEnvironment(t *testing.T) {
	engine.Heavy(t)
	t.Parallel()
	terraform := engine.Path(t, "DAEDALUS_TERRAFORM", "terraform", "terraform")
	root := engine.RepoRoot(t)

	az := newAzureStandIns(t, nil)
	env := actStack(t, terraform, filepath.Join(root, "internal", "test", "workflows", "testdata", "act", "stack", "main.tf"), "")
	dir := t.TempDir()
	record, recorder := filepath.Join(dir, "init.log"), filepath.Join(dir, "terraform")
	writeFiles(t, dir, map[string]string{"terraform": "#!/bin/sh\n" +
		"# Logs terraform init's arguments and fails it; runs every other command for real.\n" +
		"if [ \"$1\" = init ]; then echo \"$*\" >>" + record + "; echo 'recorded: no Azure storage here' >&2; exit 1; fi\n" +
		"exec " + terraform + " \"$@\"\n"})
	for k, v := range map[string]string{
		"RECORDER": recorder,
		"BACKEND":  "resource_group_name=rg-daedalus-shared\nstorage_account_name=stdaedalusstate\ncontainer_name=tfstate",
	} {
		env[k] = v
	}
	for k, v := range az.env {
		env[k] = v
	}
	log := runAct(t, actRun{Workflow: "internal/test/workflows/testdata/act/states.yml", Event: "push", Env: env, Timeout: 8 * time.Minute})

	raw, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("terraform init never ran: %v\n%s", err, log)
	}
	keyRe := regexp.MustCompile(`-backend-config=key=(\S+)`)
	containerRe := regexp.MustCompile(`-backend-config=container_name=(\S+)`)
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		k, c := keyRe.FindStringSubmatch(line), containerRe.FindStringSubmatch(line)
		if k == nil || c == nil || strings.Count(line, "container_name=") != 1 {
			t.Errorf("init %q: want exactly one key and one container", line)
			continue
		}
		got[k[1]] = c[1]
	}
	want := map[string]string{
		"daedalus-test.tfstate":       "tfstate",
		"daedalus-production.tfstate": "tfstate",
		"daedalus-pr7.tfstate":        "tfstate-preview",
	}
	for key, container := range want {
		if got[key] != container {
			t.Errorf("state %s in container %q, want %q (inits: %v)", key, got[key], container, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d distinct states for 3 environments: %v", len(got), got)
	}
}
