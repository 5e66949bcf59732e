package workflows

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// runRootStep runs the run: script of the root action's step id with real bash, as the
// runner does (bash --noprofile --norc -eo pipefail), with env as the step's environment,
// and returns its outputs as the runner reads them, its log and its exit error.
func runRootStep(t *testing.T, id string, env map[string]string) (map[string]string, string, error) {
	t.Helper()
	a := readAction(t, filepath.Join(engine.RepoRoot(t), "action.yml"))
	var script string
	for _, s := range a.Runs.Steps {
		if s.ID == id {
			script = s.Run
			for k := range env {
				if _, ok := s.Env[k]; !ok {
					t.Fatalf("step %s has no env %s", id, k)
				}
			}
		}
	}
	if script == "" {
		t.Fatalf("the root action has no run: step %s", id)
	}
	dir := t.TempDir()
	path, output := filepath.Join(dir, "step.sh"), filepath.Join(dir, "output")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(output, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", path)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GITHUB_OUTPUT=" + output, "RUNNER_TEMP=" + dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	log, err := cmd.CombinedOutput()
	raw, rerr := os.ReadFile(output)
	if rerr != nil {
		t.Fatal(rerr)
	}
	outs, perr := actions.ParseOutputs(string(raw))
	if perr != nil {
		t.Fatalf("GITHUB_OUTPUT of step %s: %v\n%s", id, perr, raw)
	}
	return outs, string(log), err
}

// TestRootActionRefusesForgedImageTag reproduces an output forgery: an image-tag with a
// newline wrote a second image= line, so the deploy step got an image of the caller's
// choosing from another registry. The env step (before anything changes) and the image
// step must refuse it with an annotation naming the input, and write no output.
func TestRootActionRefusesForgedImageTag(t *testing.T) {
	t.Parallel()
	forged := "1.0.0\nimage=evil.example/backdoor:1"
	var exit *exec.ExitError
	outs, log, err := runRootStep(t, "image", map[string]string{"REGISTRY": "acrdaedalustest.azurecr.io", "TAG": forged})
	if !errors.As(err, &exit) || len(outs) != 0 {
		t.Errorf("image step with image-tag %q: err %v, outputs %v, log:\n%s\nwant exit 1 and no output", forged, err, outs, log)
	}
	env := map[string]string{"ENVIRONMENT": "test", "REPOSITORY": "o/r", "TAG": forged}
	outs, log, err = runRootStep(t, "env", env)
	if !errors.As(err, &exit) || !strings.Contains(log, "::error title=Input image-tag::") || len(outs) != 0 {
		t.Errorf("env step with image-tag %q: err %v, outputs %v, log:\n%s\nwant exit 1, an image-tag annotation and no output", forged, err, outs, log)
	}
	outs, _, err = runRootStep(t, "image", map[string]string{"REGISTRY": "acrdaedalustest.azurecr.io", "TAG": "1.0.0"})
	if err != nil || outs["image"] != "acrdaedalustest.azurecr.io/daedalus-proxy:1.0.0" {
		t.Errorf("image step with a good tag: err %v, outputs %v", err, outs)
	}
}

// TestRootActionVarFilesKeepTheirLines reproduces a cut output: a var-files line equal to
// the fixed heredoc delimiter ended the var-files output early (dropping the generated
// tfvars that sets env_name) and let the following lines define outputs. The delimiter
// is random now, so every line arrives as given.
func TestRootActionVarFilesKeepTheirLines(t *testing.T) {
	t.Parallel()
	lines := []string{"a.tfvars", "DAEDALUS_EOF", "backend-config<<X", "key=stolen.tfstate", "X", "ghadelimiter_x", "b.tfvars"}
	outs, log, err := runRootStep(t, "env", map[string]string{
		"ENVIRONMENT": "pr7", "REPOSITORY": "o/r", "VAR_FILES": strings.Join(lines, "\n"),
	})
	if err != nil {
		t.Fatalf("env step: %v\n%s", err, log)
	}
	got := strings.Split(outs["var-files"], "\n")
	if len(got) != len(lines)+1 || strings.Join(got[:len(lines)], "\n") != strings.Join(lines, "\n") || !strings.HasSuffix(got[len(lines)], "daedalus-pr7.tfvars") {
		t.Errorf("var-files output = %q, want the input lines then the generated tfvars", got)
	}
	if v, forged := outs["backend-config"]; forged {
		t.Errorf("a var-files line defined output backend-config = %q", v)
	}
}
