package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

type workflow struct {
	On struct {
		Schedule []struct {
			Cron string `yaml:"cron"`
		} `yaml:"schedule"`
		WorkflowDispatch struct {
			Inputs map[string]struct {
				Type    string `yaml:"type"`
				Default any    `yaml:"default"`
			} `yaml:"inputs"`
		} `yaml:"workflow_dispatch"`
	} `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Concurrency struct {
		Group            string `yaml:"group"`
		CancelInProgress bool   `yaml:"cancel-in-progress"`
	} `yaml:"concurrency"`
	Jobs map[string]struct {
		TimeoutMinutes int `yaml:"timeout-minutes"`
		Steps          []struct {
			Uses string            `yaml:"uses"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// TestNightlyWorkflow checks the workflow's contract: the daily 09:17 UTC schedule, a manual
// run with dry-run (on by default) and prefix, only the permissions OIDC needs, one run at a
// time, a timeout, and a schedule that deletes while a manual run defaults to a dry run.
func TestNightlyWorkflow(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", ".github", "workflows", "nightly-cleanup.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	if len(w.On.Schedule) != 1 || w.On.Schedule[0].Cron != "17 9 * * *" {
		t.Errorf("schedule = %+v, want the one cron 17 9 * * *", w.On.Schedule)
	}
	in := w.On.WorkflowDispatch.Inputs
	if d, ok := in["dry-run"]; !ok || d.Type != "boolean" || d.Default != true {
		t.Errorf("workflow_dispatch input dry-run = %+v, want a boolean defaulting to true", d)
	}
	if _, ok := in["prefix"]; !ok {
		t.Error("workflow_dispatch has no prefix input")
	}
	if len(w.Permissions) != 2 || w.Permissions["id-token"] != "write" || w.Permissions["contents"] != "read" {
		t.Errorf("permissions = %v, want exactly id-token: write, contents: read", w.Permissions)
	}
	if w.Concurrency.Group == "" || w.Concurrency.CancelInProgress {
		t.Errorf("concurrency = %+v, want a group that never cancels a run in progress", w.Concurrency)
	}
	var found bool
	for name, job := range w.Jobs {
		if job.TimeoutMinutes <= 0 || job.TimeoutMinutes > 360 {
			t.Errorf("job %s timeout-minutes = %d", name, job.TimeoutMinutes)
		}
		for _, s := range job.Steps {
			if s.Uses != "./actions/cleanup" {
				continue
			}
			found = true
			if got := s.With["dry-run"]; !strings.Contains(got, "github.event_name == 'schedule' && 'false' || inputs.dry-run") {
				t.Errorf("dry-run = %q: the schedule must delete and a manual run follow its dry-run input", got)
			}
			if !strings.Contains(s.With["prefix"], "inputs.prefix") {
				t.Errorf("prefix = %q, want the workflow_dispatch input passed on", s.With["prefix"])
			}
		}
	}
	if !found {
		t.Error("no step uses ./actions/cleanup")
	}
}
