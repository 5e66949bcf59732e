package composite_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/actions/composite"
	"github.com/daedalus-dev/daedalus/internal/test/proctest"
)

// runFixture runs testdata/fixture/action.yml with real bash and sh and returns the
// result, the error, the ids of the steps whose scripts ran (in order) and the log.
func runFixture(t *testing.T, inputs map[string]string) (composite.Result, error, []string, string) {
	t.Helper()
	ws, err := filepath.Abs("testdata/fixture")
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "marker")
	in := map[string]string{"marker": marker}
	for k, v := range inputs {
		in[k] = v
	}
	var log bytes.Buffer
	r := composite.Runner{
		Workspace: ws,
		Github:    map[string]string{"repository": "octo/daedalus"},
		Env:       []string{"PATH=" + os.Getenv("PATH")},
		Stdout:    &log,
	}
	res, err := r.Run(context.Background(), filepath.Join(ws, "action.yml"), in)
	raw, rerr := os.ReadFile(marker)
	if rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		t.Fatal(rerr)
	}
	return res, err, strings.Fields(string(raw)), log.String()
}

func TestRunPassesOutputsBetweenSteps(t *testing.T) {
	t.Parallel()
	res, err, ran, log := runFixture(t, map[string]string{"name": "Ada"})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log)
	}
	if want := []string{"greet", "use", "after"}; !reflect.DeepEqual(ran, want) {
		t.Errorf("steps that ran = %q, want %q (conditional and fail skipped by if:)", ran, want)
	}
	want := map[string]string{"greeting": "hello Ada", "mode": "apply", "lines": "one\ntwo"}
	if !reflect.DeepEqual(res.Outputs, want) {
		t.Errorf("outputs = %q, want %q", res.Outputs, want)
	}
	use := res.Steps[2]
	wantEnv := map[string]string{"GREETING": "hello Ada", "WHERE": "octo/daedalus/Ada", "MODE": "apply", "SKIPPED": "skipped"}
	if use.ID != "use" || !reflect.DeepEqual(use.Env, wantEnv) {
		t.Errorf("step %s env = %q, want %q", use.ID, use.Env, wantEnv)
	}
	for _, s := range []string{"==> [2/5] conditional: skipped (if: inputs.skip != 'true')", "==> [3/5] use", "### greeted Ada"} {
		if !strings.Contains(log, s) {
			t.Errorf("log lacks %q:\n%s", s, log)
		}
	}
}

func TestRunEvaluatesIfAndOperators(t *testing.T) {
	t.Parallel()
	res, err, ran, log := runFixture(t, map[string]string{"name": "Bo", "skip": "false", "destroy": "TRUE"})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, log)
	}
	if want := []string{"greet", "conditional", "use", "after"}; !reflect.DeepEqual(ran, want) {
		t.Errorf("steps that ran = %q, want %q", ran, want)
	}
	// == ignores the case of strings, as on GitHub.
	if res.Outputs["mode"] != "destroy" || res.Steps[2].Env["SKIPPED"] != "success" {
		t.Errorf("mode %q, conditional's outcome %q; want destroy, success", res.Outputs["mode"], res.Steps[2].Env["SKIPPED"])
	}
}

func TestRunStopsAtTheFailingStep(t *testing.T) {
	t.Parallel()
	res, err, ran, log := runFixture(t, map[string]string{"name": "Cy", "fail": "true"})
	var se *composite.StepError
	if !errors.As(err, &se) || se.ID != "fail" || se.Index != 4 || se.Total != 5 {
		t.Fatalf("err = %v, want a *StepError for step fail (4 of 5)\n%s", err, log)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(err.Error(), "step fail (4 of 5): bash: exit status 1") {
		t.Errorf("err = %q, want it to name the step and bash's exit status", err)
	}
	if want := []string{"greet", "use", "fail"}; !reflect.DeepEqual(ran, want) {
		t.Errorf("steps that ran = %q, want %q: nothing after the failing command or step", ran, want)
	}
	if len(res.Steps) != 4 || res.Outputs != nil {
		t.Errorf("result = %+v, want the 4 steps so far and no action outputs", res)
	}
}

func TestRunRefusesUnknownInputs(t *testing.T) {
	t.Parallel()
	_, err, ran, _ := runFixture(t, map[string]string{"name": "Di", "nmae": "typo"})
	if err == nil || !strings.Contains(err.Error(), "no input nmae; the action declares destroy, fail, marker, name, skip") || len(ran) != 0 {
		t.Errorf("err = %v, steps ran %q; want the unknown input named and nothing run", err, ran)
	}
}

func TestRunRefusesWhatItCannotRun(t *testing.T) {
	t.Parallel()
	for name, step := range map[string]string{
		"unknown context":  "      shell: bash\n      run: echo ${{ secrets.TOKEN }}\n",
		"unknown function": "      shell: bash\n      run: echo ${{ hashFiles('x') }}\n",
		"uses":             "      uses: actions/checkout@v4\n",
		"shell":            "      shell: pwsh\n      run: echo\n",
		"bad expression":   "      if: inputs.x ==\n      shell: bash\n      run: echo\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			yml := "name: x\ndescription: x\ninputs:\n  x:\n    description: x\nruns:\n  using: composite\n  steps:\n    - id: only\n" + step
			if err := os.WriteFile(filepath.Join(dir, "action.yml"), []byte(yml), 0o600); err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			r := composite.Runner{Workspace: dir, Env: []string{"PATH=" + os.Getenv("PATH")}, Stdout: &log}
			_, err := r.Run(context.Background(), filepath.Join(dir, "action.yml"), nil)
			var se *composite.StepError
			if !errors.As(err, &se) || se.ID != "only" {
				t.Errorf("err = %v, want a *StepError for step only\n%s", err, log.String())
			}
			t.Log(err)
		})
	}
}

// TestCancelStopsTheStepsChildren: a cancelled run signals the step's whole process
// group, so what the step started (terraform holding a state lock) does not outlive it.
func TestCancelStopsTheStepsChildren(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	action := `name: cancel
runs:
  using: composite
  steps:
    - id: long
      shell: bash
      run: |
        sleep 300 &
        echo $! >"` + pidFile + `"
        wait
`
	if err := os.WriteFile(filepath.Join(dir, "action.yml"), []byte(action), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		r := composite.Runner{Workspace: dir, Env: []string{"PATH=" + os.Getenv("PATH")}, Stdout: &bytes.Buffer{}}
		_, err := r.Run(ctx, filepath.Join(dir, "action.yml"), nil)
		done <- err
	}()
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the step never started its child")
		}
		if raw, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(raw), "\n") {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
		}
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled run reported success")
	}
	for deadline := time.Now().Add(5 * time.Second); proctest.Running(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the step's child %d still runs after the run was cancelled", pid)
		}
	}
}
