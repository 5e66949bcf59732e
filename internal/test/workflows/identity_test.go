package workflows

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/test/engine"
	"gopkg.in/yaml.v3"
)

// The tier identities of deploy/terraform/bootstrap, by the repository variable that
// holds each client id, and the only GitHub OIDC subject each is federated to.
var tierIdentities = map[string]string{
	"AZURE_CLIENT_ID_TEST":       "environment:test",
	"AZURE_CLIENT_ID_PRODUCTION": "environment:production",
	"AZURE_CLIENT_ID_CLEANUP":    "environment:cleanup",
	"AZURE_CLIENT_ID_PREVIEW":    "pull_request",
}

var clientIDVarRe = regexp.MustCompile(`vars\.(AZURE_CLIENT_ID\w*)`)

// prTriggers are the events whose workflows run code a pull request controls.
var prTriggers = []string{"pull_request", "pull_request_target"}

// identityProblems checks which identity each job of a workflow signs in as. A job that
// a pull request triggers runs code the pull request controls, so it may sign in only as
// the preview identity and may not declare a GitHub environment (which would change its
// OIDC subject to environment:<name>). A job that signs in as a protected identity (test,
// production, cleanup) must declare an environment, the only subject those identities
// trust, so GitHub's environment protection rules gate it (a job that calls environment.yml
// declares it as that workflow's github-environment input). Every client id names its tier.
func identityProblems(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var w struct {
		On   yaml.Node            `yaml:"on"`
		Jobs map[string]yaml.Node `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("parsing: %w", err)
	}
	prTriggered := ""
	for _, ev := range triggers(&w.On) {
		for _, p := range prTriggers {
			if ev == p {
				prTriggered = ev
			}
		}
	}
	var problems []string
	for name, job := range w.Jobs {
		text, err := yaml.Marshal(&job)
		if err != nil {
			return nil, err
		}
		var j struct {
			Environment any            `yaml:"environment"`
			Uses        string         `yaml:"uses"`
			With        map[string]any `yaml:"with"`
		}
		if err := job.Decode(&j); err != nil {
			return nil, fmt.Errorf("job %s: %w", name, err)
		}
		// A job that calls this repository's environment workflow runs in the GitHub
		// environment its github-environment input names.
		if strings.HasPrefix(j.Uses, "./.github/workflows/") {
			if e, ok := j.With["github-environment"].(string); ok && e != "" {
				j.Environment = e
			}
		}
		seen := map[string]bool{}
		for _, m := range clientIDVarRe.FindAllStringSubmatch(string(text), -1) {
			v := m[1]
			if seen[v] {
				continue
			}
			seen[v] = true
			subject, known := tierIdentities[v]
			switch {
			case !known:
				problems = append(problems, fmt.Sprintf("job %s signs in with vars.%s, which names no tier: use one of the bootstrap stack's AZURE_CLIENT_ID_TEST, _PRODUCTION, _PREVIEW or _CLEANUP", name, v))
			case prTriggered != "" && v != "AZURE_CLIENT_ID_PREVIEW":
				problems = append(problems, fmt.Sprintf("job %s runs on %s, with code the pull request controls, but signs in with vars.%s: a pull request may only use AZURE_CLIENT_ID_PREVIEW", name, prTriggered, v))
			case prTriggered == "" && strings.HasPrefix(subject, "environment:") && j.Environment == nil:
				problems = append(problems, fmt.Sprintf("job %s signs in with vars.%s without `environment:`: that identity trusts only the OIDC subject %s", name, v, subject))
			}
		}
		if prTriggered != "" && j.Environment != nil && len(seen) > 0 {
			problems = append(problems, fmt.Sprintf("job %s runs on %s and declares an environment: its OIDC subject would become environment:<name>; preview jobs sign in as pull_request", name, prTriggered))
		}
	}
	sort.Strings(problems)
	return problems, nil
}

// triggers lists the event names of a workflow's `on:` (a name, a list or a map).
func triggers(on *yaml.Node) []string {
	switch on.Kind {
	case yaml.ScalarNode:
		return []string{on.Value}
	case yaml.SequenceNode:
		var out []string
		for _, n := range on.Content {
			out = append(out, n.Value)
		}
		return out
	case yaml.MappingNode:
		var out []string
		for i := 0; i < len(on.Content); i += 2 {
			out = append(out, on.Content[i].Value)
		}
		return out
	}
	return nil
}

func TestWorkflowIdentities(t *testing.T) {
	t.Parallel()
	root := engine.RepoRoot(t)
	signsIn := 0
	for _, f := range workflowFiles(t, root) {
		problems, err := identityProblems(filepath.Join(root, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", f, p)
		}
		raw, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		signsIn += len(clientIDVarRe.FindAll(raw, -1))
	}
	// The check above must have had something to check.
	if signsIn < 6 {
		t.Errorf("found %d client-id references in the workflows; want the deploy, preview and cleanup jobs", signsIn)
	}
}

func TestWorkflowIdentitiesFindsProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, workflow string
		want           []string
	}{
		{"pull request with the deploy identity", `on:
  pull_request:
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: ./
        with:
          client-id: ${{ vars.AZURE_CLIENT_ID_TEST }}
`, []string{"job deploy runs on pull_request, with code the pull request controls, but signs in with vars.AZURE_CLIENT_ID_TEST: a pull request may only use AZURE_CLIENT_ID_PREVIEW"}},
		{"pull request with a tierless identity", `on: [pull_request_target]
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: ./
        with:
          client-id: ${{ vars.AZURE_CLIENT_ID }}
`, []string{"job deploy signs in with vars.AZURE_CLIENT_ID, which names no tier: use one of the bootstrap stack's AZURE_CLIENT_ID_TEST, _PRODUCTION, _PREVIEW or _CLEANUP"}},
		{"pull request job in an environment", `on: pull_request
jobs:
  deploy:
    runs-on: ubuntu-latest
    environment: test
    steps:
      - uses: ./
        with:
          client-id: ${{ github.event.action == 'closed' && vars.AZURE_CLIENT_ID_PRODUCTION || vars.AZURE_CLIENT_ID_PREVIEW }}
`, []string{
			"job deploy runs on pull_request and declares an environment: its OIDC subject would become environment:<name>; preview jobs sign in as pull_request",
			"job deploy runs on pull_request, with code the pull request controls, but signs in with vars.AZURE_CLIENT_ID_PRODUCTION: a pull request may only use AZURE_CLIENT_ID_PREVIEW",
		}},
		{"protected identity without its environment", `on:
  push:
    branches: [main]
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: ./actions/cleanup
        with:
          client-id: ${{ vars.AZURE_CLIENT_ID_CLEANUP }}
`, []string{"job deploy signs in with vars.AZURE_CLIENT_ID_CLEANUP without `environment:`: that identity trusts only the OIDC subject environment:cleanup"}},
		{"pull request calling the environment workflow in a GitHub environment", `on: pull_request
jobs:
  preview:
    uses: ./.github/workflows/environment.yml
    with:
      github-environment: test
      client-id: ${{ vars.AZURE_CLIENT_ID_PREVIEW }}
`, []string{"job preview runs on pull_request and declares an environment: its OIDC subject would become environment:<name>; preview jobs sign in as pull_request"}},
		{"protected identity calling the environment workflow without one", `on: push
jobs:
  deploy:
    uses: ./.github/workflows/environment.yml
    with:
      environment: test
      client-id: ${{ vars.AZURE_CLIENT_ID_TEST }}
`, []string{"job deploy signs in with vars.AZURE_CLIENT_ID_TEST without `environment:`: that identity trusts only the OIDC subject environment:test"}},
		{"environment workflow called as the policy wants", `on: push
jobs:
  deploy:
    uses: ./.github/workflows/environment.yml
    with:
      github-environment: test
      client-id: ${{ vars.AZURE_CLIENT_ID_TEST }}
`, nil},
		{"all good", `on:
  pull_request:
  push:
jobs:
  preview:
    runs-on: ubuntu-latest
    steps:
      - uses: ./
        with:
          client-id: ${{ vars.AZURE_CLIENT_ID_PREVIEW }}
`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := filepath.Join(t.TempDir(), "w.yml")
			if err := os.WriteFile(f, []byte(tt.workflow), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := identityProblems(f)
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(tt.want)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
