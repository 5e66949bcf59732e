package composite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/actions/actionyml"
)

// Runner runs the steps of a composite action on this machine as the GitHub runner runs
// them. The zero value is not ready: set Workspace, Env and Stdout.
type Runner struct {
	// Workspace is GITHUB_WORKSPACE, the checkout the action works on; a relative
	// working-directory is resolved against it, and steps run there by default.
	Workspace string
	// Github holds the github context besides action_path and workspace, which the
	// runner sets: e.g. repository, token, action_repository, action_ref. Missing
	// properties are null, as on GitHub.
	Github map[string]string
	// Env is the environment every step starts from (e.g. os.Environ()); the runner's
	// variables and then the step's env: are added to it.
	Env []string
	// Stdout receives the steps' output (stdout and stderr, in order), a banner before
	// each step and each step summary after it.
	Stdout io.Writer
}

// Result is what a run did, step by step, and the action's outputs.
type Result struct {
	Steps []StepResult
	// Outputs are the action's outputs, evaluated after its last step.
	Outputs map[string]string
}

// StepResult is one step of a run.
type StepResult struct {
	ID      string
	Skipped bool              // its if: was false
	Env     map[string]string // its env: as evaluated, what the step saw
	Outputs map[string]string // what it wrote to GITHUB_OUTPUT
}

// StepError is a step that could not run or failed: its id and place in the action, so
// the reader knows which one.
type StepError struct {
	ID           string
	Index, Total int // 1-based place among the action's steps
	Err          error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("step %s (%d of %d): %v", e.ID, e.Index, e.Total, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// shells are the shells a step may name, with the command the runner runs its script
// file with ({0} in GitHub's terms is the last argument).
var shells = map[string][]string{
	"bash": {"bash", "--noprofile", "--norc", "-eo", "pipefail"},
	"sh":   {"sh", "-e"},
}

// Run runs the composite action at path (its action.yml) with inputs, by their declared
// names; an input left out takes its default. As on GitHub, required is not enforced:
// an empty input reaches the steps, which say what they miss. It stops at the first step
// that fails and returns a *StepError naming it, with the steps run so far.
func (r *Runner) Run(ctx context.Context, path string, inputs map[string]string) (Result, error) {
	a, err := actionyml.Load(path)
	if err != nil {
		return Result{}, err
	}
	if a.Runs.Using != "composite" {
		return Result{}, fmt.Errorf("%s: runs.using is %q; this runner runs composite actions only", path, a.Runs.Using)
	}
	actionPath, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return Result{}, err
	}
	temp, err := os.MkdirTemp("", "daedalus-runner-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(temp)

	github := map[string]any{"action_path": actionPath, "workspace": r.Workspace}
	for k, v := range r.Github {
		github[strings.ToLower(k)] = v
	}
	steps := map[string]any{}
	c := Contexts{
		"github": github,
		"runner": map[string]any{"temp": temp, "os": "Linux"},
		"steps":  steps,
	}
	in, err := c.inputs(a.Inputs, inputs)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", path, err)
	}
	c["inputs"] = in

	var res Result
	total := len(a.Runs.Steps)
	for i, s := range a.Runs.Steps {
		id := s.ID
		if id == "" {
			id = fmt.Sprintf("step%d", i+1)
		}
		// Context properties are case-insensitive (the parser lowercases them), as on GitHub.
		key := strings.ToLower(id)
		fail := func(err error) (Result, error) {
			return res, &StepError{ID: id, Index: i + 1, Total: total, Err: err}
		}
		run, err := c.Condition(s.If)
		if err != nil {
			return fail(fmt.Errorf("if: %w", err))
		}
		if !run {
			fmt.Fprintf(r.Stdout, "\n==> [%d/%d] %s: skipped (if: %s)\n", i+1, total, id, strings.TrimSpace(s.If))
			steps[key] = map[string]any{"outputs": map[string]any{}, "outcome": "skipped", "conclusion": "skipped"}
			res.Steps = append(res.Steps, StepResult{ID: id, Skipped: true})
			continue
		}
		fmt.Fprintf(r.Stdout, "\n==> [%d/%d] %s\n", i+1, total, title(id, s))
		sr, err := r.step(ctx, c, s, id, filepath.Join(temp, fmt.Sprintf("%02d-%s", i+1, id)), temp)
		res.Steps = append(res.Steps, sr)
		if err != nil {
			return fail(err)
		}
		outs := map[string]any{}
		for k, v := range sr.Outputs {
			outs[strings.ToLower(k)] = v
		}
		steps[key] = map[string]any{"outputs": outs, "outcome": "success", "conclusion": "success"}
	}
	res.Outputs = map[string]string{}
	for name, o := range a.Outputs {
		v, err := c.Interpolate(o.Value)
		if err != nil {
			return res, fmt.Errorf("output %s: %w", name, err)
		}
		res.Outputs[name] = v
	}
	return res, nil
}

// inputs is the inputs context: every declared input, given or its default (defaults may
// hold expressions, e.g. ${{ github.token }}). An input the action does not declare is an
// error, so a misspelt name is not silently dropped.
func (c Contexts) inputs(declared map[string]actionyml.Input, given map[string]string) (map[string]any, error) {
	var unknown []string
	for k := range given {
		if _, ok := declared[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		names := make([]string, 0, len(declared))
		for k := range declared {
			names = append(names, k)
		}
		slices.Sort(unknown)
		slices.Sort(names)
		return nil, fmt.Errorf("no input %s; the action declares %s", strings.Join(unknown, ", "), strings.Join(names, ", "))
	}
	in := map[string]any{}
	for name, d := range declared {
		v, ok := given[name]
		if !ok && d.Default != nil {
			var err error
			if v, err = c.Interpolate(*d.Default); err != nil {
				return nil, fmt.Errorf("default of input %s: %w", name, err)
			}
		}
		in[strings.ToLower(name)] = v
	}
	return in, nil
}

// step runs one step whose files go to base.* and returns what it saw and wrote.
func (r *Runner) step(ctx context.Context, c Contexts, s actionyml.Step, id, base, temp string) (StepResult, error) {
	sr := StepResult{ID: id, Env: map[string]string{}}
	if s.Uses != "" {
		return sr, fmt.Errorf("uses: %s: this runner runs run: steps only", s.Uses)
	}
	shell, ok := shells[s.Shell]
	if !ok {
		return sr, fmt.Errorf("shell %q: this runner knows bash and sh", s.Shell)
	}
	for k, v := range s.Env {
		val, err := c.Interpolate(v)
		if err != nil {
			return sr, fmt.Errorf("env %s: %w", k, err)
		}
		sr.Env[k] = val
	}
	dir, err := c.Interpolate(s.WorkingDirectory)
	if err != nil {
		return sr, fmt.Errorf("working-directory: %w", err)
	}
	if dir == "" {
		dir = r.Workspace
	} else if !filepath.IsAbs(dir) {
		dir = filepath.Join(r.Workspace, dir)
	}
	script, err := c.Interpolate(s.Run)
	if err != nil {
		return sr, fmt.Errorf("run: %w", err)
	}
	output, summary := base+".output", base+".summary"
	for _, f := range []struct{ name, data string }{{base + ".sh", script}, {output, ""}, {summary, ""}} {
		if err := os.WriteFile(f.name, []byte(f.data), 0o600); err != nil {
			return sr, err
		}
	}

	cmd := exec.CommandContext(ctx, shell[0], append(shell[1:], base+".sh")...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = r.Stdout, r.Stdout
	// The step runs in its own process group, and cancelling it signals the whole group,
	// so a step's children (terraform holding a state lock) stop with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	cmd.Env = append(slices.Clip(r.Env),
		"GITHUB_WORKSPACE="+r.Workspace,
		"GITHUB_ACTION_PATH="+String(c["github"].(map[string]any)["action_path"]),
		"RUNNER_TEMP="+temp,
		"GITHUB_OUTPUT="+output,
		"GITHUB_STEP_SUMMARY="+summary,
	)
	for k, v := range sr.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	runErr := cmd.Run()

	if raw, err := os.ReadFile(summary); err == nil && len(raw) > 0 {
		fmt.Fprintf(r.Stdout, "\n%s\n", strings.TrimRight(string(raw), "\n"))
	}
	raw, err := os.ReadFile(output)
	if err != nil {
		return sr, err
	}
	if sr.Outputs, err = actions.ParseOutputs(string(raw)); err != nil {
		return sr, errors.Join(runErr, err)
	}
	if runErr != nil {
		return sr, fmt.Errorf("%s: %w", s.Shell, runErr)
	}
	return sr, nil
}

// title is what the banner calls a step: its name, else its id.
func title(id string, s actionyml.Step) string {
	if s.Name != "" {
		return id + ": " + s.Name
	}
	return id
}
