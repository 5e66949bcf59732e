package cleanup_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/step/cleanup"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", name, got)
	}
}

// stable clears the timings, the only part of a report that differs between runs.
func stable(r *cleanup.Report) *cleanup.Report {
	r.Elapsed, r.ElapsedSec = 1500*time.Millisecond, 1.5
	for i := range r.Groups {
		r.Groups[i].Seconds = 0
	}
	return r
}

func TestReportGolden(t *testing.T) {
	t.Parallel()
	r := stable(run(t, environment(), config(false)))
	golden(t, "summary.md", []byte(r.Markdown()))
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "report.json", b)
}

func TestReportDryRunGolden(t *testing.T) {
	t.Parallel()
	r := stable(run(t, environment(), config(true)))
	golden(t, "summary-dry-run.md", []byte(r.Markdown()))
}

func TestReportCellsAreEscaped(t *testing.T) {
	t.Parallel()
	r := &cleanup.Report{Groups: []cleanup.Entry{{
		Name: "rg", ExpiresAt: "a|b\n<script>`x`", Action: cleanup.ActionSkip,
		Reason: cleanup.ReasonBadExpiry, Result: cleanup.ResultKept, Detail: "x|y",
	}}}
	md := r.Markdown()
	row := md[strings.LastIndex(md, "| rg"):]
	if strings.Count(row, "\n") != 1 || strings.Contains(row, "<script>") || strings.Count(row, " | ") != 4 {
		t.Errorf("row not escaped: %q", row)
	}
}

func TestReportEmpty(t *testing.T) {
	t.Parallel()
	md := (&cleanup.Report{}).Markdown()
	if !strings.Contains(md, "No resource group carries an `auto-destroy` tag") {
		t.Errorf("empty report: %q", md)
	}
}
