// Package actionstest runs a step's Main as the Actions runner runs its binary: the inputs
// as INPUT_<NAME> variables, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY as files in a temporary
// directory, GITHUB_ACTIONS=true; and reads back what the runner would show: the outputs
// parsed as the runner parses them, the step summary and the log (annotations included).
//
//	s := actionstest.New(t, map[string]string{"dry-run": "false"}, nil)
//	rep, err := cleanup.Main(ctx, s.Action, deps)
//	got := s.Finish(err)
//	got.Outputs["deleted"], got.Summary, got.Log
package actionstest

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/syncbuf"
)

// Step is one run of a step in progress.
type Step struct {
	// Action is what the step's Main reads its inputs from and writes to.
	Action *actions.Action
	// Env is every variable the step sees; change it before Main runs.
	Env map[string]string

	t   testing.TB
	log *syncbuf.Buffer
}

// Result is what the runner shows after the step.
type Result struct {
	Outputs map[string]string
	Summary string
	// Log is everything the step wrote, with Fail's ::error:: lines when it failed.
	Log string
	Err error
}

// New prepares a run with inputs (by their action.yml names) and env, which adds to or
// overrides the runner's variables (an empty value unsets one, e.g. GITHUB_ACTIONS to run
// outside Actions).
func New(t testing.TB, inputs, env map[string]string) *Step {
	t.Helper()
	dir := t.TempDir()
	s := &Step{t: t, log: &syncbuf.Buffer{}, Env: map[string]string{
		"GITHUB_ACTIONS":      "true",
		"GITHUB_WORKSPACE":    dir,
		"RUNNER_TEMP":         dir,
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
	}}
	for _, f := range []string{"output", "summary"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range inputs {
		s.Env["INPUT_"+strings.ToUpper(k)] = v
	}
	for k, v := range env {
		s.Env[k] = v
	}
	s.Action = actions.New(actions.WithGetenv(func(k string) string { return s.Env[k] }), actions.WithWriter(s.log))
	return s
}

// Finish reports err as the step's main would (Fail), and returns what the runner shows.
func (s *Step) Finish(err error) Result {
	s.t.Helper()
	if err != nil {
		s.Action.Fail(err)
	}
	r := Result{Err: err, Outputs: map[string]string{}}
	if path := s.Env["GITHUB_OUTPUT"]; path != "" {
		raw, rerr := os.ReadFile(path)
		if rerr != nil {
			s.t.Fatal(rerr)
		}
		if r.Outputs, rerr = actions.ParseOutputs(string(raw)); rerr != nil {
			s.t.Fatal(rerr)
		}
	}
	if path := s.Env["GITHUB_STEP_SUMMARY"]; path != "" {
		raw, rerr := os.ReadFile(path)
		if rerr != nil {
			s.t.Fatal(rerr)
		}
		r.Summary = string(raw)
	}
	r.Log = s.log.String()
	return r
}

// Writer is the step's log, for what else a step writes to it (a tool's own output).
func (s *Step) Writer() io.Writer { return s.log }
