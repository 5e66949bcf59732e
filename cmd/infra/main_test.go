package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInputExitsNonZero builds the binary and runs it the way the composite action
// does, with bad inputs: it must exit 1 with one ::error:: per bad input, and create
// nothing in the workspace.
func TestBadInputExitsNonZero(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "infra")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ws := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ws, "deploy", "terraform"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"GITHUB_WORKSPACE=" + ws,
		"INPUT_COMMAND=deploy",
		"INPUT_TTL-HOURS=500",
		"INPUT_VAR-FILES=deploy/terraform/missing.tfvars",
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, out)
	}
	for _, input := range []string{"command", "subscription-id", "ttl-hours", "var-files"} {
		if !strings.Contains(string(out), "::error title=Input "+input+"::") {
			t.Errorf("no ::error:: for input %s:\n%s", input, out)
		}
	}
	entries, err := os.ReadDir(filepath.Join(ws, "deploy", "terraform"))
	if err != nil || len(entries) != 0 {
		t.Errorf("the workspace changed: %v %v", entries, err)
	}
}
