package workflows

import (
	"path/filepath"
	"testing"
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

// action is the part of an action.yml these tests read.
type action struct {
	Name        string                  `yaml:"name"`
	Description string                  `yaml:"description"`
	Branding    map[string]string       `yaml:"branding"`
	Inputs      map[string]actionInput  `yaml:"inputs"`
	Outputs     map[string]actionOutput `yaml:"outputs"`
	Runs        struct {
		Using string       `yaml:"using"`
		Steps []actionStep `yaml:"steps"`
	} `yaml:"runs"`
}

type actionOutput struct {
	Description string `yaml:"description"`
	Value       string `yaml:"value"`
}

type actionInput struct {
	Description string  `yaml:"description"`
	Required    bool    `yaml:"required"`
	Default     *string `yaml:"default"`
}

type actionStep struct {
	ID               string            `yaml:"id"`
	If               string            `yaml:"if"`
	Shell            string            `yaml:"shell"`
	WorkingDirectory string            `yaml:"working-directory"`
	Env              map[string]string `yaml:"env"`
	Run              string            `yaml:"run"`
	Uses             string            `yaml:"uses"`
	With             map[string]string `yaml:"with"`
}

func readAction(t *testing.T, path string) action {
	t.Helper()
	a, err := loadAction(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
