package workflows

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/lib/actions/actionyml"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
	"gopkg.in/yaml.v3"
)

// TestActionlint runs actionlint over every workflow, and over every action.yml turned
// into a workflow whose job runs the action's steps with its inputs declared as
// workflow_call inputs: actionlint reads an action's metadata only through the workflows
// that use it and never lints a composite action's steps, so this is how their
// expressions, step outputs and run scripts (shellcheck, when installed) get checked.
func TestActionlint(t *testing.T) {
	t.Parallel()
	bin := engine.Path(t, "DAEDALUS_ACTIONLINT", "actionlint", "actionlint")
	root := engine.RepoRoot(t)
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Log("shellcheck is not on PATH: run: scripts are not checked (apt install shellcheck)")
	}

	t.Run("workflows", func(t *testing.T) {
		t.Parallel()
		files := workflowFiles(t, root)
		out, err := actionlint(bin, root, files...)
		if err != nil {
			t.Errorf("actionlint %s:\n%s", strings.Join(files, " "), out)
		}
		t.Logf("%d workflows", len(files))
	})
	for _, f := range actionFiles(t, root) {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			wf := filepath.Join(dir, ".github", "workflows", "action.yml")
			if err := os.MkdirAll(filepath.Dir(wf), 0o755); err != nil {
				t.Fatal(err)
			}
			raw, err := actionAsWorkflow(filepath.Join(root, f))
			if err != nil {
				t.Fatalf("reading %s: %v", f, err)
			}
			if err := os.WriteFile(wf, raw, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := actionlint(bin, dir, wf); err != nil {
				t.Errorf("actionlint on the steps of %s (as a workflow):\n%s", f, out)
			}
		})
	}
}

// TestActionlintFindsProblems proves the check can fail: a workflow that passes the root
// action an input it does not declare, and an action whose step reads an undeclared
// input.
func TestActionlintFindsProblems(t *testing.T) {
	t.Parallel()
	bin := engine.Path(t, "DAEDALUS_ACTIONLINT", "actionlint", "actionlint")
	root := engine.RepoRoot(t)

	// A project of its own (actionlint finds local actions from the .git directory) with
	// a copy of the root action.yml.
	dir := t.TempDir()
	wf := filepath.Join(dir, ".github", "workflows", "bad.yml")
	if err := os.MkdirAll(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(wf), 0o755); err != nil {
		t.Fatal(err)
	}
	rootAction, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "action.yml"), rootAction, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wf, []byte(`on: push
permissions: {}
jobs:
  x:
    runs-on: ubuntu-latest
    steps:
      - uses: ./
        with:
          subscription-id: x
          tenant-id: x
          client-id: x
          no-such-input: x
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := actionlint(bin, dir, wf)
	if err == nil || !strings.Contains(out, `input "no-such-input" is not defined in action "Daedalus"`) {
		t.Errorf("actionlint let an undeclared input to the root action through (err %v):\n%s", err, out)
	}

	bad := filepath.Join(dir, "action.yml")
	if err := os.WriteFile(bad, []byte(`name: bad
description: reads an undeclared input
inputs:
  real:
    description: declared
runs:
  using: composite
  steps:
    - shell: bash
      env:
        X: ${{ inputs.imaginary }}
      run: echo "$X"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	raw, err := actionAsWorkflow(bad)
	if err != nil {
		t.Fatal(err)
	}
	wf2 := filepath.Join(dir, "action-as-workflow.yml")
	if err := os.WriteFile(wf2, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = actionlint(bin, dir, wf2)
	if err == nil || !strings.Contains(out, `property "imaginary" is not defined`) {
		t.Errorf("actionlint let an undeclared input in an action's step through (err %v):\n%s", err, out)
	}
}

func actionlint(bin, dir string, files ...string) (string, error) {
	cmd := exec.Command(bin, append([]string{"-color=false", "-no-color"}, files...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// actionAsWorkflow turns a composite action into a reusable workflow with one job that
// runs the action's steps: the action's inputs become workflow_call inputs (so
// ${{ inputs.x }} resolves exactly as in the action), its steps are copied unchanged.
func actionAsWorkflow(path string) ([]byte, error) {
	a, err := actionyml.Load(path)
	if err != nil {
		return nil, err
	}
	inputs := map[string]any{}
	for name, in := range a.Inputs {
		spec := map[string]any{"type": "string", "required": in.Required, "description": in.Description}
		if in.Default != nil {
			spec["default"] = *in.Default
		}
		inputs[name] = spec
	}
	var steps []*yaml.Node
	for i := range a.Runs.Steps {
		steps = append(steps, &a.Runs.Steps[i].Node)
	}
	wf := map[string]any{
		"name":        "action " + a.Name,
		"on":          map[string]any{"workflow_call": map[string]any{"inputs": inputs}},
		"permissions": map[string]any{"contents": "read", "id-token": "write"},
		"jobs": map[string]any{"action": map[string]any{
			"runs-on": "ubuntu-latest",
			"steps":   steps,
		}},
	}
	return yaml.Marshal(wf)
}
