package infra

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/actions/actionstest"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// Well-formed ids; nothing here talks to Azure.
const (
	testSubscription = "3f2b8c1e-7d4a-4e5b-9c6d-0a1b2c3d4e5f"
	testTenant       = "11111111-2222-4333-8444-555555555555"
	testClient       = "66666666-7777-4888-9999-000000000000"
)

// terraformBin is the pinned terraform the Makefile builds (`make terraform`).
func terraformBin(t *testing.T) string {
	t.Helper()
	engine.Heavy(t)
	return engine.Path(t, "DAEDALUS_TERRAFORM", "terraform", "terraform")
}

// step runs the infra step as a workflow would, against a copy of a fixture: the inputs
// arrive as INPUT_* variables, outputs and the summary go to files, as on a runner.
type step struct {
	t       *testing.T
	dir     string // the workspace
	tf      string
	home    string
	environ []string
	// releases is where a missing terraform is installed from.
	releases Releases
}

// newStep copies testdata/<fixture> to <workspace>/stack.
func newStep(t *testing.T, fixture, tf string) *step {
	t.Helper()
	ws := t.TempDir()
	copyDir(t, filepath.Join("testdata", fixture), filepath.Join(ws, "stack"))
	home := t.TempDir()
	rc, err := filepath.Abs(filepath.Join("testdata", "terraformrc"))
	if err != nil {
		t.Fatal(err)
	}
	return &step{t: t, dir: ws, tf: tf, home: home, environ: []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"TF_CLI_CONFIG_FILE=" + rc,
		"TF_VAR_admin_token=from-the-environment", // must not reach terraform
	}}
}

// run is one step run: its result, error, log, step outputs and summary.
type run struct {
	res     *Result
	err     error
	log     string
	outputs map[string]string
	summary string
}

// An inputs key "env:NAME" sets the variable NAME instead of an input, and
// outsideActions as an inputs key runs the step as on a workstation: no GITHUB_* files.
const outsideActions = "(outside actions)"

func (s *step) run(ctx context.Context, now time.Time, inputs map[string]string) run {
	s.t.Helper()
	env := map[string]string{
		"GITHUB_WORKSPACE": s.dir,
		"INPUT_TERRAFORM":  s.tf,
		// A job with id-token: write, signing in as testClient.
		"ACTIONS_ID_TOKEN_REQUEST_URL":   "https://pipelines.actions.invalid/idtoken?api-version=2.0",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token-6f1c0a",
		"INPUT_TENANT-ID":                testTenant,
		"INPUT_CLIENT-ID":                testClient,
	}
	for k, v := range inputs {
		if k == outsideActions {
			for _, k := range []string{"GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"} {
				env[k] = ""
			}
			continue
		}
		if name, ok := strings.CutPrefix(k, "env:"); ok {
			env[name] = v
			continue
		}
		env["INPUT_"+strings.ToUpper(k)] = v
	}
	st := actionstest.New(s.t, nil, env)
	res, err := Main(ctx, st.Action, Deps{
		Environ:  s.environ,
		Now:      func() time.Time { return now },
		Log:      st.Writer(),
		Releases: s.releases,
	})
	got := st.Finish(nil) // the tests look at err themselves
	return run{res: res, err: err, log: got.Log, outputs: got.Outputs, summary: got.Summary}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
