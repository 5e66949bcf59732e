package workflows

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/lib/actions/actionyml"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// metadataProblems checks what the Marketplace shows of an action: name, description,
// branding, and a description (and, when optional, a default) for every input and a
// description for every output.
func metadataProblems(a actionyml.Action) []string {
	var problems []string
	if a.Name == "" || strings.TrimSpace(a.Description) == "" || a.Branding["icon"] == "" || a.Branding["color"] == "" {
		problems = append(problems, "name, description, branding.icon and branding.color are required")
	}
	for name, in := range a.Inputs {
		if strings.TrimSpace(in.Description) == "" {
			problems = append(problems, fmt.Sprintf("input %s has no description", name))
		}
		if !in.Required && in.Default == nil {
			problems = append(problems, fmt.Sprintf("input %s is optional but has no default", name))
		}
	}
	for name, out := range a.Outputs {
		if strings.TrimSpace(out.Description) == "" {
			problems = append(problems, fmt.Sprintf("output %s has no description", name))
		}
	}
	return problems
}

func TestStepActionMetadata(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(engine.RepoRoot(t), "actions", "*", "action.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no step actions found (%v)", err)
	}
	for _, f := range files {
		for _, p := range metadataProblems(readAction(t, f)) {
			t.Errorf("%s: %s", f, p)
		}
	}
}

func TestMetadataProblemsFindsThem(t *testing.T) {
	t.Parallel()
	a := actionyml.Action{Name: "x", Description: "y", Inputs: map[string]actionyml.Input{"in": {}}}
	a.Outputs = map[string]actionyml.Output{"out": {}}
	got := strings.Join(metadataProblems(a), "; ")
	for _, want := range []string{"branding.icon", "input in has no description", "input in is optional but has no default", "output out has no description"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems %q lack %q", got, want)
		}
	}
}
