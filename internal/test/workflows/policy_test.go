package workflows

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/lib/actions/actionyml"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
	"gopkg.in/yaml.v3"
)

// workflow is the part of a workflow file the policy reads.
type workflow struct {
	Permissions any `yaml:"permissions"`
	Concurrency any `yaml:"concurrency"`
	Jobs        map[string]struct {
		Uses           string `yaml:"uses"`
		Permissions    any    `yaml:"permissions"`
		TimeoutMinutes any    `yaml:"timeout-minutes"`
		Steps          []struct {
			Name string         `yaml:"name"`
			Uses string         `yaml:"uses"`
			With map[string]any `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

var pinnedRe = regexp.MustCompile(`^[\w.-]+/[\w./-]+@[0-9a-f]{40}$`)

// attestingJobs is, per workflow file, the one job that signs artifact attestations: only
// it may hold attestations: write, and in its workflow only it may hold id-token: write
// (an OIDC token is what the Sigstore certificate is issued for). Any other workflow may
// not write attestations at all.
var attestingJobs = map[string]string{"release.yml": "release"}

// attestationProblems checks the attestations and id-token write grants of one workflow
// (file is its base name) against attestingJobs.
func attestationProblems(file string, w workflow) []string {
	var problems []string
	job, attests := attestingJobs[file]
	guarded := []string{"attestations"}
	if attests {
		guarded = append(guarded, "id-token")
	}
	grants := func(perms any, scope string) bool {
		p, _ := perms.(map[string]any)
		return p[scope] == "write"
	}
	for _, scope := range guarded {
		// The general rule already refuses every other top-level write.
		if scope == "id-token" && grants(w.Permissions, scope) {
			problems = append(problems, fmt.Sprintf("top-level permissions grant %s: write to every job; only the attesting job may hold it", scope))
		}
		for name, j := range w.Jobs {
			if grants(j.Permissions, scope) && (!attests || name != job) {
				problems = append(problems, fmt.Sprintf("job %s holds %s: write, which only the attesting job (%s in release.yml) may hold", name, scope, attestingJobs["release.yml"]))
			}
		}
	}
	return problems
}

// workflowProblems checks one workflow against the repository's policy: a top-level
// permissions block that grants no write access other than id-token (jobs widen it only
// for themselves), a concurrency group, a timeout on every job, and every remote action
// pinned to a full commit SHA with its version in a comment, and every checkout with
// persist-credentials: false.
func workflowProblems(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var w workflow
	if err := yaml.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("parsing: %w", err)
	}
	var problems []string
	switch p := w.Permissions.(type) {
	case nil:
		problems = append(problems, "no top-level permissions: every job would get the repository's default token scopes; add `permissions: contents: read`")
	case string:
		problems = append(problems, fmt.Sprintf("top-level permissions %q: list the scopes (contents: read)", p))
	case map[string]any:
		for scope, level := range p {
			if level == "write" && scope != "id-token" {
				problems = append(problems, fmt.Sprintf("top-level permissions grant %s: write to every job; grant it in the job that needs it", scope))
			}
		}
	}
	if w.Concurrency == nil {
		problems = append(problems, "no concurrency group")
	}
	problems = append(problems, attestationProblems(filepath.Base(path), w)...)
	lines := strings.Split(string(raw), "\n")
	for name, j := range w.Jobs {
		if j.Uses == "" && j.TimeoutMinutes == nil {
			problems = append(problems, fmt.Sprintf("job %s has no timeout-minutes", name))
		}
		if p, ok := j.Permissions.(string); ok {
			problems = append(problems, fmt.Sprintf("job %s permissions %q: list the scopes", name, p))
		}
		for _, s := range j.Steps {
			if strings.HasPrefix(s.Uses, "actions/checkout@") && fmt.Sprint(s.With["persist-credentials"]) != "false" {
				problems = append(problems, fmt.Sprintf("job %s checks out without persist-credentials: false: the token stays in .git/config for every later step", name))
			}
			if s.Uses == "" || strings.HasPrefix(s.Uses, "./") || strings.HasPrefix(s.Uses, "docker://") {
				continue
			}
			if !pinnedRe.MatchString(s.Uses) {
				problems = append(problems, fmt.Sprintf("job %s uses %s: pin it to a full commit SHA (uses: owner/repo@<sha> # vX.Y.Z)", name, s.Uses))
				continue
			}
			for _, l := range lines {
				if strings.Contains(l, s.Uses) && !regexp.MustCompile(`#\s*v\d`).MatchString(l) {
					problems = append(problems, fmt.Sprintf("job %s uses %s without a version comment (# vX.Y.Z)", name, s.Uses))
				}
			}
		}
	}
	sort.Strings(problems)
	return problems, nil
}

func TestWorkflowPolicy(t *testing.T) {
	t.Parallel()
	root := engine.RepoRoot(t)
	for _, f := range workflowFiles(t, root) {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			problems, err := workflowProblems(filepath.Join(root, f))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				t.Error(p)
			}
		})
	}
}

func TestWorkflowPolicyFindsProblems(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(f, []byte(`on: push
permissions:
  contents: write
jobs:
  a:
    runs-on: ubuntu-latest
    permissions: write-all
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-go@d35c59abb061a4a6fb18e82ac0862c26744d6ab5
      - uses: ./actions/infra
`), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := workflowProblems(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"job a has no timeout-minutes",
		`job a permissions "write-all": list the scopes`,
		"job a uses actions/checkout@v4: pin it to a full commit SHA (uses: owner/repo@<sha> # vX.Y.Z)",
		"job a checks out without persist-credentials: false: the token stays in .git/config for every later step",
		"job a uses actions/setup-go@d35c59abb061a4a6fb18e82ac0862c26744d6ab5 without a version comment (# vX.Y.Z)",
		"no concurrency group",
		"top-level permissions grant contents: write to every job; grant it in the job that needs it",
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestAttestationGrantsOnlyInReleaseJob: in a workflow named release.yml only the release
// job may hold attestations: write and id-token: write; elsewhere attestations: write is
// refused anywhere, while id-token: write keeps its usual rules (Azure sign-in).
func TestAttestationGrantsOnlyInReleaseJob(t *testing.T) {
	t.Parallel()
	const body = `on: push
permissions:
  contents: read
  id-token: write
  attestations: write
concurrency: x
jobs:
  release:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissions:
      contents: write
      id-token: write
      attestations: write
    steps: []
  other:
    runs-on: ubuntu-latest
    timeout-minutes: 5
    permissions:
      id-token: write
      attestations: write
    steps: []
`
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"release.yml", []string{
			"job other holds attestations: write, which only the attesting job (release in release.yml) may hold",
			"job other holds id-token: write, which only the attesting job (release in release.yml) may hold",
			"top-level permissions grant attestations: write to every job; grant it in the job that needs it",
			"top-level permissions grant id-token: write to every job; only the attesting job may hold it",
		}},
		{"ci.yml", []string{
			"job other holds attestations: write, which only the attesting job (release in release.yml) may hold",
			"job release holds attestations: write, which only the attesting job (release in release.yml) may hold",
			"top-level permissions grant attestations: write to every job; grant it in the job that needs it",
		}},
	} {
		f := filepath.Join(t.TempDir(), tc.file)
		if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := workflowProblems(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s problems:\n%s\nwant:\n%s", tc.file, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

// TestReleaseAttestsAssets: the release job attests every archive with the first-party
// action, pinned, before the step that publishes the release, and holds the two grants
// that needs.
func TestReleaseAttestsAssets(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(engine.RepoRoot(t), ".github", "workflows", "release.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	job, ok := w.Jobs["release"]
	if !ok {
		t.Fatal("release.yml has no release job")
	}
	perms, _ := job.Permissions.(map[string]any)
	for _, scope := range []string{"contents", "id-token", "attestations"} {
		if perms[scope] != "write" {
			t.Errorf("the release job's permissions %v lack %s: write", perms, scope)
		}
	}
	attest, publish := -1, -1
	for i, s := range job.Steps {
		if strings.HasPrefix(s.Uses, "actions/attest-build-provenance@") {
			attest = i
			if s.With["subject-path"] != "dist/*.tar.gz" {
				t.Errorf("the attestation covers %v, want every archive (dist/*.tar.gz)", s.With["subject-path"])
			}
		}
		if s.Name == "Publish the release" {
			publish = i
		}
	}
	if attest < 0 || publish < 0 || attest > publish {
		t.Errorf("attest step %d, publish step %d: the archives must be attested before the release is published", attest, publish)
	}
}

var (
	cmdRe       = regexp.MustCompile(`actions/_bin/run" \./cmd/([a-z0-9-]+)`)
	inputsRefRe = regexp.MustCompile(`inputs\.([A-Za-z0-9_-]+)`)
	stepsRefRe  = regexp.MustCompile(`steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)`)
)

// rootActionProblems checks that the root action composes the step binaries the way
// their own actions would: each step runs through the fetcher, gets only INPUT_* names
// that the step's actions/<step>/action.yml declares and every input that action
// requires; every ${{ inputs.x }} is declared; every steps.<id>.outputs.<name> names an
// earlier step and, for a step binary, an output its action declares; and the action
// has the metadata the Marketplace shows.
func rootActionProblems(root string, a actionyml.Action) []string {
	problems := metadataProblems(a)
	ids := map[string]string{} // step id → the cmd it runs ("" for a script)
	check := func(where, text string) {
		for _, m := range inputsRefRe.FindAllStringSubmatch(text, -1) {
			if _, ok := a.Inputs[m[1]]; !ok {
				problems = append(problems, fmt.Sprintf("%s refers to inputs.%s, which is not declared", where, m[1]))
			}
		}
		for _, m := range stepsRefRe.FindAllStringSubmatch(text, -1) {
			cmd, ok := ids[m[1]]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s refers to steps.%s, which is not an earlier step", where, m[1]))
				continue
			}
			if cmd == "" {
				continue
			}
			sa, err := actionyml.Load(filepath.Join(root, "actions", cmd, "action.yml"))
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			if _, ok := sa.Outputs[m[2]]; !ok {
				problems = append(problems, fmt.Sprintf("%s reads output %s of step %s, which actions/%s/action.yml does not declare", where, m[2], m[1], cmd))
			}
		}
	}
	for i, s := range a.Runs.Steps {
		where := fmt.Sprintf("step %d (%s)", i, s.ID)
		check(where+" if", s.If)
		check(where+" working-directory", s.WorkingDirectory)
		for k, v := range s.Env {
			check(where+" env "+k, v)
		}
		check(where+" run", s.Run)
		cmd := ""
		if m := cmdRe.FindStringSubmatch(s.Run); m != nil {
			cmd = m[1]
		} else if strings.Contains(s.Run, "./cmd/") {
			problems = append(problems, fmt.Sprintf("%s runs a step binary without actions/_bin/run", where))
		}
		if s.ID != "" {
			ids[s.ID] = cmd
		}
		if cmd == "" {
			continue
		}
		sa, err := actionyml.Load(filepath.Join(root, "actions", cmd, "action.yml"))
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		passed := map[string]bool{}
		for k := range s.Env {
			name, ok := strings.CutPrefix(k, "INPUT_")
			if !ok {
				continue
			}
			found := false
			for in := range sa.Inputs {
				if strings.ToUpper(in) == name {
					found, passed[in] = true, true
				}
			}
			if !found {
				problems = append(problems, fmt.Sprintf("%s passes %s, but actions/%s/action.yml declares no such input", where, k, cmd))
			}
		}
		for in, spec := range sa.Inputs {
			if spec.Required && !passed[in] {
				problems = append(problems, fmt.Sprintf("%s does not pass %s, which actions/%s/action.yml requires", where, "INPUT_"+strings.ToUpper(in), cmd))
			}
		}
	}
	for name, o := range a.Outputs { // their descriptions: metadataProblems
		check("output "+name, o.Value)
	}
	sort.Strings(problems)
	return problems
}

func TestRootAction(t *testing.T) {
	t.Parallel()
	root := engine.RepoRoot(t)
	a := readAction(t, filepath.Join(root, "action.yml"))
	for _, p := range rootActionProblems(root, a) {
		t.Error(p)
	}
	// The pipeline runs every step: the preflight first, so that missing permissions,
	// providers or agent images fail in seconds rather than after provisioning, then
	// infra (the image goes to its registry).
	var order []string
	for _, s := range a.Runs.Steps {
		if m := cmdRe.FindStringSubmatch(s.Run); m != nil {
			order = append(order, m[1])
			if m[1] == "preflight" && s.Env["INPUT_WORKER-IMAGES"] != "${{ inputs.worker-images }}" {
				t.Errorf("the preflight checks worker-images %q, want the root action's input", s.Env["INPUT_WORKER-IMAGES"])
			}
		}
	}
	if got, want := strings.Join(order, ","), "preflight,infra,publish,deploy,smoke"; got != want {
		t.Errorf("the root action runs %s, want %s", got, want)
	}
}

func TestRootActionFindsProblems(t *testing.T) {
	t.Parallel()
	root := engine.RepoRoot(t)
	var a actionyml.Action
	if err := yaml.Unmarshal([]byte(`name: x
description: y
inputs:
  env:
    description: fine
    default: test
  loose:
    description: optional without a default
outputs:
  bad:
    description: from a step that does not exist
    value: ${{ steps.nosuch.outputs.image }}
  undeclared:
    description: an output the infra action does not declare
    value: ${{ steps.infra.outputs.no_such_output }}
runs:
  using: composite
  steps:
    - id: infra
      shell: bash
      env:
        INPUT_COMMAND: apply
        INPUT_SUBSCRIPTION-ID: ${{ inputs.subscription }}
        INPUT_TTL: ${{ inputs.env }}
      run: '"${{ github.action_path }}/actions/_bin/run" ./cmd/infra'
    - id: publish
      shell: bash
      run: go run ./cmd/publish
`), &a); err != nil {
		t.Fatal(err)
	}
	got := rootActionProblems(root, a)
	want := []string{
		"input loose is optional but has no default",
		"name, description, branding.icon and branding.color are required",
		"output bad refers to steps.nosuch, which is not an earlier step",
		"output undeclared reads output no_such_output of step infra, which actions/infra/action.yml does not declare",
		"step 0 (infra) env INPUT_SUBSCRIPTION-ID refers to inputs.subscription, which is not declared",
		"step 0 (infra) passes INPUT_TTL, but actions/infra/action.yml declares no such input",
		"step 1 (publish) runs a step binary without actions/_bin/run",
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
