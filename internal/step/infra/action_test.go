package infra

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/lib/actions/actionyml"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// TestActionDeclaresStackOutputs keeps actions/infra/action.yml, ActionOutputs and the
// stack's outputs.tf in step: a composite action only passes on outputs it declares.
func TestActionDeclaresStackOutputs(t *testing.T) {
	t.Parallel()
	a, err := actionyml.Load(filepath.Join(engine.RepoRoot(t), "actions", "infra", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	stepOutputs := []string{"has-changes", "to-add", "to-change", "to-destroy", "expires-at", "plan-file"}
	var declared []string
	for name := range a.Outputs {
		if !slices.Contains(stepOutputs, name) {
			declared = append(declared, name)
		}
	}
	slices.Sort(declared)
	want := slices.Sorted(slices.Values(ActionOutputs))
	if !slices.Equal(declared, want) {
		t.Errorf("action.yml declares stack outputs %v, ActionOutputs has %v", declared, want)
	}
	root := parseModule(t, stackDir)
	for _, name := range ActionOutputs {
		if len(root.find("output", name)) != 1 {
			t.Errorf("deploy/terraform has no output %s", name)
		}
	}
}
