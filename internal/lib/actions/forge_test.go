package actions_test

import (
	"testing"

	"github.com/daedalus-dev/daedalus/internal/lib/actions/actionstest"
)

// TestOutputValuesCannotForgeOutputs writes values whose lines look like the delimiters
// other writers use (go-githubactions' fixed one, a guessed random-looking one) and like
// further outputs. Read back as the runner reads GITHUB_OUTPUT, each must come back whole
// and define no other output.
func TestOutputValuesCannotForgeOutputs(t *testing.T) {
	t.Parallel()
	s := actionstest.New(t, nil, nil)
	values := map[string]string{
		"report": "x\n_GitHubActionsFileCommandDelimeter_\nimage=evil.example/backdoor:1",
		"notes":  "ghadelimiter_AAAA\ndigest<<EOF\nsha256:forged\nEOF",
		"digest": "sha256:abc",
	}
	for _, name := range []string{"report", "notes", "digest"} {
		if err := s.Action.SetOutput(name, values[name]); err != nil {
			t.Fatalf("SetOutput(%s): %v", name, err)
		}
	}
	got := s.Finish(nil).Outputs
	if len(got) != len(values) {
		t.Errorf("outputs %q, want exactly %v", got, values)
	}
	for k, v := range values {
		if got[k] != v {
			t.Errorf("output %s = %q, want %q", k, got[k], v)
		}
	}
}
