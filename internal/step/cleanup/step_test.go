package cleanup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/actions/actionstest"
	"github.com/daedalus-dev/daedalus/internal/step/cleanup"
	"github.com/daedalus-dev/daedalus/internal/step/cleanup/cleanuptest"
)

// step runs the cleanup step as a runner would: inputs as INPUT_* variables, outputs and
// summary in the runner's files, the ARM requests going to the fake s. files holds the
// log, the GITHUB_OUTPUT file as written, the summary and the JSON report.
func step(t *testing.T, s *cleanuptest.Subscription, inputs map[string]string) (*cleanup.Report, error, map[string]string) {
	t.Helper()
	st := actionstest.New(t, inputs, map[string]string{
		"INPUT_TENANT-ID": "00000000-0000-4000-8000-0000000000aa",
		"INPUT_CLIENT-ID": "00000000-0000-4000-8000-0000000000bb",
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := cleanup.Main(ctx, st.Action, cleanup.Deps{
		Now:        func() time.Time { return now },
		WriteFile:  func(name string, data []byte) error { return os.WriteFile(name, data, 0o644) },
		Credential: cleanuptest.Credential(),
		Transport:  s,
	})
	got := st.Finish(err)
	files := map[string]string{"log": got.Log, "summary": got.Summary}
	for name, path := range map[string]string{
		"output":              st.Env["GITHUB_OUTPUT"],
		"cleanup-report.json": filepath.Join(st.Env["GITHUB_WORKSPACE"], "cleanup-report.json"),
	} {
		b, _ := os.ReadFile(path)
		files[name] = string(b)
	}
	return r, err, files
}

func TestStepReapsAndReports(t *testing.T) {
	t.Parallel()
	s := environment()
	r, err, files := step(t, s, map[string]string{
		"subscription-id":  cleanuptest.SubscriptionID,
		"prefix":           "rg-",
		"dry-run":          "false",
		"purge-key-vaults": "true",
		"concurrency":      "3",
		"poll-interval":    "10ms",
	})
	var fe *cleanup.FailedError
	if !errors.As(err, &fe) || fe.Failed != 1 {
		t.Fatalf("Main error = %v, want a FailedError for rg-fails", err)
	}
	if r == nil || r.Deleted != 6 || len(s.Deleted()) != 5 {
		t.Fatalf("report %v, fake deletions %v", r, s.Deleted())
	}
	for _, want := range []string{"deleted<<", "\n6\n", "failed<<", "\n1\n", "report<<", `"name":"rg-aks"`, "report-file<<"} {
		if !strings.Contains(files["output"], want) {
			t.Errorf("GITHUB_OUTPUT lacks %q:\n%s", want, files["output"])
		}
	}
	if !strings.Contains(files["summary"], "| rg-fails | `") || !strings.Contains(files["summary"], "| Group | expires-at | Past expiry | Action | Result |") {
		t.Errorf("step summary:\n%s", files["summary"])
	}
	if !strings.Contains(files["cleanup-report.json"], `"failed": 1`) {
		t.Errorf("report file:\n%s", files["cleanup-report.json"])
	}
	// The report, its outputs and the summary show the subscription id short, as the logs do.
	for _, f := range []string{"output", "summary", "cleanup-report.json", "log"} {
		if strings.Contains(files[f], cleanuptest.SubscriptionID) {
			t.Errorf("%s holds the full subscription id %s", f, cleanuptest.SubscriptionID)
		}
	}
	if want := `"subscription": "` + cleanup.ShortSubscription(cleanuptest.SubscriptionID) + `"`; !strings.Contains(files["cleanup-report.json"], want) {
		t.Errorf("report file lacks %s", want)
	}
	for _, want := range []string{"::error::rg-fails: failed: deleting rg-fails: DeleteFailed (HTTP 409)", "::warning::rg-bad-expiry kept:", "::warning::rg-no-expiry kept:", "::group::Delete expired resource groups", "::error::1 of 7 planned deletions"} {
		if !strings.Contains(files["log"], want) {
			t.Errorf("log lacks %q:\n%s", want, files["log"])
		}
	}
}

func TestStepDefaultsToDryRun(t *testing.T) {
	t.Parallel()
	s := environment()
	r, err, files := step(t, s, map[string]string{"subscription-id": cleanuptest.SubscriptionID, "prefix": "rg-", "poll-interval": "10ms"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Deleted()) != 0 || r.WouldDelete == 0 {
		t.Errorf("without dry-run: false the step deleted %v (would delete %d)", s.Deleted(), r.WouldDelete)
	}
	if !strings.Contains(files["summary"], "dry run: nothing was deleted") {
		t.Errorf("summary:\n%s", files["summary"])
	}
}

func TestStepBadInputsTouchNothing(t *testing.T) {
	t.Parallel()
	s := environment()
	_, err, files := step(t, s, map[string]string{
		"subscription-id": "my-subscription",
		"dry-run":         "maybe",
		"concurrency":     "lots",
		"prefix":          "rg/*",
		"poll-interval":   "soon",
	})
	if err == nil {
		t.Fatal("bad inputs gave no error")
	}
	if n := s.Calls(); n != 0 {
		t.Errorf("%d ARM calls despite bad inputs", n)
	}
	for _, input := range []string{"subscription-id", "dry-run", "concurrency", "prefix", "poll-interval"} {
		if n := strings.Count(files["log"], "::error title=Input "+input+"::"); n != 1 {
			t.Errorf("%d ::error:: annotations for input %s, want one:\n%s", n, input, files["log"])
		}
	}
	if files["output"] != "" || files["summary"] != "" || files["cleanup-report.json"] != "" {
		t.Errorf("bad inputs wrote outputs %q, summary %q, report %q", files["output"], files["summary"], files["cleanup-report.json"])
	}
}

// TestStepPrefixDefaultsToTheStacksGroups: without a prefix input the step considers only
// the groups the Terraform stack names (rg-daedalus-…); an expired group of any other name
// is kept and reported as outside the prefix.
func TestStepPrefixDefaultsToTheStacksGroups(t *testing.T) {
	t.Parallel()
	s := cleanuptest.New()
	s.AddGroup(cleanuptest.Group{Name: "rg-daedalus-pr-7", Tags: ttl(past(time.Hour))})
	s.AddGroup(cleanuptest.Group{Name: "rg-payroll", Tags: ttl(past(time.Hour))})
	r, err, _ := step(t, s, map[string]string{"subscription-id": cleanuptest.SubscriptionID, "dry-run": "false", "poll-interval": "10ms"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Groups(); !slices.Equal(got, []string{"rg-payroll"}) {
		t.Errorf("groups left = %v, want [rg-payroll]", got)
	}
	if r.Prefix != "rg-daedalus-" {
		t.Errorf("report prefix = %q, want rg-daedalus-", r.Prefix)
	}
	for _, e := range r.Groups {
		if e.Name == "rg-payroll" && e.Reason != cleanup.ReasonOutsidePrefix {
			t.Errorf("rg-payroll kept for %s (%s), want %s", e.Reason, e.Detail, cleanup.ReasonOutsidePrefix)
		}
	}
}
