package workflows

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/azure/azuretest"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// act runs workflows with nektos/act in host mode (-P ubuntu-latest=-self-hosted): no
// Docker, the job's run: steps and local composite actions run on this machine in a copy
// of the repository. Remote actions cannot be cloned here, so every owner/repo@sha that
// the workflow uses is replaced by a no-op local stand-in (actions/checkout: act already
// copied the repository; actions/setup-go: Go is on PATH; actions/cache: nothing to
// restore).
type actRun struct {
	Workflow string            // relative to the repository root
	Job      string            // -j
	Event    string            // push, pull_request, …
	Env      map[string]string // --env, for the job's steps
	Secrets  map[string]string // the secrets context, from a --secret-file (never on argv)
	Timeout  time.Duration
}

var remoteUsesRe = regexp.MustCompile(`(?m)^\s*(?:-\s+)?uses:\s*([\w.-]+/[\w./-]+@[0-9a-f]{40})`)

func runAct(t *testing.T, r actRun) string {
	t.Helper()
	bin := engine.Path(t, "DAEDALUS_ACT", "act", "act")
	root := engine.RepoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, r.Workflow))
	if err != nil {
		t.Fatal(err)
	}
	stub := filepath.Join(t.TempDir(), "stub")
	if err := os.MkdirAll(stub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stub, "action.yml"), []byte(`name: stand-in
description: Stands in for a GitHub-hosted action that cannot be cloned here.
runs:
  using: composite
  steps:
    - shell: bash
      run: echo "stand-in for a remote action (act, host mode)"
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	args := []string{r.Event, "-W", r.Workflow, "-P", "ubuntu-latest=-self-hosted", "--no-cache-server",
		"--action-offline-mode", "--log-prefix-job-id"}
	if r.Job != "" {
		args = append(args, "-j", r.Job)
	}
	seen := map[string]bool{}
	for _, m := range remoteUsesRe.FindAllStringSubmatch(string(raw), -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			args = append(args, "--local-repository", m[1]+"="+stub)
		}
	}
	keys := make([]string, 0, len(r.Env))
	for k := range r.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--env", k+"="+r.Env[k])
	}
	if len(r.Secrets) > 0 {
		var b strings.Builder
		for k, v := range r.Secrets {
			fmt.Fprintf(&b, "%s=%s\n", k, v)
		}
		file := filepath.Join(t.TempDir(), "secrets.env")
		if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--secret-file", file)
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nice", append([]string{"-n", "10", bin}, args...)...)
	cmd.Dir = root
	// act keeps its copies of the repository under XDG_CACHE_HOME; the steps keep
	// using this machine's Go caches so nothing is compiled twice.
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+cache, "DAEDALUS_CACHE="+daedalusCache())
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		cmd.Env = append(cmd.Env, k+"="+goEnv(t, k))
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("act %s (%s): %v in %s", r.Workflow, r.Job, err, time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("act %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// daedalusCache is the Makefile's engine cache, so make targets inside act reuse the
// engines already built.
func daedalusCache() string {
	if d := os.Getenv("DAEDALUS_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "daedalus")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "daedalus")
}

// actStack copies the provider-free Terraform fixture into a fresh stack directory with
// act.tfvars holding tfvars, and returns the environment the workflows under
// testdata/act read it with (STACK, TERRAFORM, and terraform's offline settings).
func actStack(t *testing.T, terraform, fixture, tfvars string) map[string]string {
	t.Helper()
	main, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	stack := t.TempDir()
	writeFiles(t, stack, map[string]string{"main.tf": string(main), "act.tfvars": tfvars})
	return map[string]string{
		"STACK":              stack,
		"TERRAFORM":          terraform,
		"TF_CLI_CONFIG_FILE": filepath.Join(engine.RepoRoot(t), "internal", "step", "infra", "testdata", "terraformrc"),
		"CHECKPOINT_DISABLE": "1",
	}
}

// results collects "RESULT name=value" lines a workflow echoes.
func results(log string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		_, rest, ok := strings.Cut(sc.Text(), "RESULT ")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(rest, "="); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// TestActCI runs the CI workflow's lint job for real: gofmt, go vet and go mod tidy over
// the repository (make lint), then actionlint over every workflow and action (make
// lint-actions), in act's copy of the repository.
func TestActCI(t *testing.T) {
	engine.Heavy(t)
	t.Parallel()
	log := runAct(t, actRun{Workflow: ".github/workflows/ci.yml", Job: "lint", Event: "push", Timeout: 20 * time.Minute})
	for _, want := range []string{
		"Success - Main gofmt, go vet, go mod tidy",
		"Success - Main actionlint over every workflow and action",
		"Job succeeded",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("act log lacks %q:\n%s", want, log)
		}
	}
}

// TestActInfraAction runs a workflow that uses the infra composite action twice (apply,
// then output) under act, so the action's wiring is exercised as GitHub runs it: inputs
// through INPUT_* env, the binary through actions/_bin/run (built from this checkout:
// a local action has no release), step outputs through GITHUB_OUTPUT, and the GitHub
// OIDC request variables reaching terraform. The OIDC endpoint is the loopback stand-in
// from internal/lib/azure/azuretest; the stack is the infra step's provider-free fixture, so
// terraform never calls Azure.
func TestActInfraAction(t *testing.T) {
	engine.Heavy(t)
	t.Parallel()
	terraform := engine.Path(t, "DAEDALUS_TERRAFORM", "terraform", "terraform")
	root := engine.RepoRoot(t)
	gh := azuretest.NewGitHub(t, azuretest.GitHubOptions{Subject: "repo:daedalus-dev/daedalus:ref:refs/heads/main"})

	envDump := filepath.Join(t.TempDir(), "terraform.env")
	env := actStack(t, terraform, filepath.Join(root, "internal", "step", "infra", "testdata", "stack", "main.tf"),
		fmt.Sprintf("env_name = \"act\"\nenv_dump_file = %q\n", envDump))
	for k, v := range gh.Env() {
		env[k] = v
	}
	before := time.Now().UTC()
	log := runAct(t, actRun{Workflow: "internal/test/workflows/testdata/act/infra.yml", Event: "push", Env: env})

	got := results(log)
	t.Logf("step outputs seen by the workflow: %v", got)
	if m := readyRe.FindStringSubmatch(log); m != nil {
		t.Logf("actions/_bin/run: %s", m[0])
	}
	for k, want := range map[string]string{
		"apply.cluster_name":        "aks-daedalus-act",
		"apply.resource_group_name": "rg-daedalus-act",
		"output.cluster_name":       "aks-daedalus-act",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if got["apply.to-add"] == "" || got["apply.to-add"] == "0" {
		t.Errorf("apply.to-add = %q: the first apply must add resources", got["apply.to-add"])
	}
	expires, err := time.Parse(time.RFC3339, got["apply.expires_at"])
	if err != nil {
		t.Fatalf("apply.expires_at %q: %v\n%s", got["apply.expires_at"], err, log)
	}
	if lo, hi := before.Add(6*time.Hour-time.Minute), time.Now().UTC().Add(6*time.Hour+time.Minute); expires.Before(lo) || expires.After(hi) {
		t.Errorf("expires_at %s is not 6 h (ttl-hours) after the run", expires)
	}
	if got["output.expires_at"] != got["apply.expires_at"] {
		t.Errorf("output read expires_at %q, apply deployed %q", got["output.expires_at"], got["apply.expires_at"])
	}
	if !strings.Contains(log, "daedalus-infra: built from source") {
		t.Errorf("the action did not get its binary through actions/_bin/run:\n%s", log)
	}

	// terraform ran with the GitHub OIDC request settings the azurerm provider and
	// backend sign in with, pointing at the stand-in.
	dump, err := os.ReadFile(envDump)
	if err != nil {
		t.Fatalf("terraform left no environment dump: %v\n%s", err, log)
	}
	for _, want := range []string{"ARM_USE_OIDC=true", "ARM_OIDC_REQUEST_URL=" + gh.URL, "ARM_TENANT_ID=00000000-0000-0000-0000-00000000000b", "ARM_SUBSCRIPTION_ID=00000000-0000-0000-0000-00000000000a"} {
		if !strings.Contains(string(dump), want+"\n") {
			t.Errorf("terraform's environment lacks %s", want)
		}
	}
	if strings.Contains(log, gh.RequestToken) {
		t.Errorf("the OIDC request token appears in the log")
	}
}
