package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// actionlint runs the real actionlint on a workflow in repo (a repository root): syntax,
// expressions, permissions, and the inputs given to the local action ./actions/cleanup
// against its action.yml.
func actionlint(t *testing.T, bin, repo string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, "-no-color", filepath.Join(".github", "workflows", "nightly-cleanup.yml"))
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestWorkflowPassesActionlint(t *testing.T) {
	t.Parallel()
	bin := engine.Path(t, "DAEDALUS_ACTIONLINT", "actionlint", "actionlint")
	if out, err := actionlint(t, bin, filepath.Join("..", "..")); err != nil {
		t.Fatalf("actionlint: %v\n%s", err, out)
	}
}

// TestActionlintCatchesABadInput lints a copy whose step passes an input the action does
// not declare, so the test above can fail.
func TestActionlintCatchesABadInput(t *testing.T) {
	t.Parallel()
	bin := engine.Path(t, "DAEDALUS_ACTIONLINT", "actionlint", "actionlint")
	repo := t.TempDir()
	for _, f := range []string{".github/workflows/nightly-cleanup.yml", "actions/cleanup/action.yml"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, "nightly-cleanup.yml") {
			raw = []byte(strings.Replace(string(raw), "purge-key-vaults:", "purge-vaults:", 1))
		}
		if err := os.MkdirAll(filepath.Join(repo, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, f), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(repo, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := actionlint(t, bin, repo)
	if err == nil || !strings.Contains(out, "purge-vaults") {
		t.Fatalf("actionlint accepted an undeclared input (err %v):\n%s", err, out)
	}
}
