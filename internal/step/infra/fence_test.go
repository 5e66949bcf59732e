package infra

import (
	"context"
	"strings"
	"testing"
	"time"
)

// liveCommands returns the workflow commands a runner acts on in log: lines that start
// with "::" after leading spaces, except those between ::stop-commands::<token> and
// ::<token>::.
func liveCommands(log string) []string {
	var live []string
	token := ""
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimLeft(line, " \t")
		if !strings.HasPrefix(line, "::") {
			continue
		}
		if token != "" {
			if strings.TrimRight(line, "\r") == "::"+token+"::" {
				token = ""
			}
			continue
		}
		if t, ok := strings.CutPrefix(line, "::stop-commands::"); ok {
			token = t
			continue
		}
		live = append(live, line)
	}
	return live
}

func TestLiveCommands(t *testing.T) {
	t.Parallel()
	log := "::group::x\n  ::warning::a\n::stop-commands::t1\n::error::b\n::t2::\n::notice::c\n::t1::\n::endgroup::\n"
	got := strings.Join(liveCommands(log), "|")
	if want := "::group::x|::warning::a|::endgroup::"; got != want {
		t.Errorf("liveCommands = %q, want %q", got, want)
	}
}

// TestStackOutputCannotIssueCommands applies a stack whose output holds workflow
// commands. Terraform prints it (in the plan and after apply); the runner must see it as
// text: every command in the log is the step's own.
func TestStackOutputCannotIssueCommands(t *testing.T) {
	t.Parallel()
	tf := terraformBin(t)
	s := newStep(t, "hostile", tf)
	r := s.run(context.Background(), time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC), map[string]string{
		"command":           "apply",
		"working-directory": "stack",
		"subscription-id":   testSubscription,
	})
	if r.err != nil {
		t.Fatalf("apply: %v\n%s", r.err, r.log)
	}
	if !strings.Contains(r.log, "a stack output issued a workflow command") {
		t.Fatalf("terraform's output is not in the log:\n%s", r.log)
	}
	for _, c := range liveCommands(r.log) {
		if strings.Contains(c, "forged") {
			t.Errorf("the runner would act on %q from terraform's output", c)
		}
	}
	if got := r.outputs["motd"]; !strings.HasPrefix(got, "::warning title=forged::") {
		t.Errorf("output motd = %q: the step output must still carry the value as is", got)
	}
}
