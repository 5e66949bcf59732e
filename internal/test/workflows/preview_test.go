package workflows

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

var stickyFilterRe = regexp.MustCompile(`--jq '([^']*daedalus-preview[^']*)'`)

// TestStickyCommentMatchesAuthor reproduces a hijack of the preview comment: anyone can
// post a comment starting with the marker, and the workflow then edited that one (its
// text, with the preview's endpoint, under the attacker's name) instead of its own. Every
// filter preview.yml uses to find the sticky comment runs with real jq over a page of
// comments where the forged one comes first; it must pick the workflow's own.
func TestStickyCommentMatchesAuthor(t *testing.T) {
	t.Parallel()
	jq, err := exec.LookPath("jq")
	if err != nil {
		t.Skip("jq is not installed (the runner's gh evaluates the same filter)")
	}
	raw, err := os.ReadFile(filepath.Join(engine.RepoRoot(t), ".github", "workflows", "preview.yml"))
	if err != nil {
		t.Fatal(err)
	}
	filters := stickyFilterRe.FindAllStringSubmatch(string(raw), -1)
	if len(filters) != 1 {
		t.Fatalf("found %d sticky-comment filters in preview.yml, want 1 (the comment job)", len(filters))
	}
	comments := `[
	  {"id": 101, "user": {"login": "mallory"}, "body": "<!-- daedalus-preview -->\n### Preview: click here"},
	  {"id": 102, "user": {"login": "octocat"}, "body": "looks good"},
	  {"id": 103, "user": {"login": "github-actions[bot]"}, "body": "<!-- daedalus-preview -->\n### Preview pr7"},
	  {"id": 104, "user": {"login": "deploy-bot"}, "body": "<!-- daedalus-preview -->\n### Preview pr7"}
	]`
	for _, f := range filters {
		for me, want := range map[string]string{"github-actions[bot]": "103", "deploy-bot": "103\n104"} {
			cmd := exec.Command(jq, "-r", f[1])
			cmd.Stdin = strings.NewReader(comments)
			cmd.Env = []string{"ME=" + me}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("jq %s: %v\n%s", f[1], err, out)
			}
			if got := strings.TrimSpace(string(out)); got != want {
				t.Errorf("with the token's user %s, filter %s picks %q, want %q", me, f[1], got, want)
			}
		}
	}
}
