package workflows

import (
	"path/filepath"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/lib/actions/actionyml"
)

// actionFiles returns the root action.yml and every actions/*/action.yml, relative to root.
func actionFiles(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "actions", "*", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	out := []string{"action.yml"}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		out = append(out, rel)
	}
	return out
}

// workflowFiles returns every .github/workflows/*.yml, relative to root.
func workflowFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.yml", "*.yaml"} {
		files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", pat))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			rel, _ := filepath.Rel(root, f)
			out = append(out, rel)
		}
	}
	if len(out) == 0 {
		t.Fatal("no workflows found")
	}
	return out
}

func readAction(t *testing.T, path string) actionyml.Action {
	t.Helper()
	a, err := actionyml.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
