package smoke

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func timing(id string, at0 time.Time, cold, pod, exec, exit time.Duration) TaskTiming {
	t := TaskTiming{TaskID: id, Job: "job-" + id, Published: at0, State: "completed"}
	t.JobCreated = t.Published.Add(cold)
	t.PodRunning = t.JobCreated.Add(pod)
	// The proxy has the task 40 ms after its container runs and prompts 10 ms later.
	t.TaskFetched = t.PodRunning.Add(40 * time.Millisecond)
	t.Prompted = t.TaskFetched.Add(10 * time.Millisecond)
	t.Result = t.PodRunning.Add(exec)
	t.JobComplete = t.Result.Add(exit)
	return t
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := time.Second
	tests := []struct {
		name  string
		cold  []time.Duration
		stats Stats
	}{
		{"one", []time.Duration{3 * s}, Stats{3 * s, 3 * s, 3 * s}},
		{"odd", []time.Duration{5 * s, 1 * s, 3 * s}, Stats{1 * s, 3 * s, 5 * s}},
		{"even", []time.Duration{4 * s, 1 * s, 2 * s, 8 * s}, Stats{1 * s, 3 * s, 8 * s}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ts []TaskTiming
			for i, c := range tc.cold {
				ts = append(ts, timing(string(rune('a'+i)), at, c, s, s, s))
			}
			if got := Summarize(Stages[0], ts); got != tc.stats {
				t.Errorf("Summarize = %v, want %v", got, tc.stats)
			}
		})
	}
	if got := (Stage{From: Stages[0].To, To: Stages[0].From}).Duration(timing("x", at, s, s, s, s)); got != 0 {
		t.Errorf("a stage that ends before it starts = %s, want 0", got)
	}
}

func TestReportSummaryAndOutputs(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	r := newReport()
	for _, c := range Checks {
		r.set(c, Passed, "ok")
	}
	r.ScaledJob, r.PollingInterval, r.ScalingMode = "daedalus-copilot", 15*time.Second, ModePush
	r.Tasks = []TaskTiming{
		timing("t1", at, 1200*ms, 300*ms, 900*ms, 100*ms),
		timing("t2", at, 15100*ms, 250*ms, 800*ms, 120*ms),
		timing("t3", at, 7000*ms, 280*ms, 950*ms, 90*ms),
	}
	r.Tasks[2].Agent, r.Tasks[2].AuthMethod = "codex-acp 0.16.0", "openai-api-key"
	sum := r.Summary()
	for _, want := range []string{
		"## Smoke test passed",
		"| 6 | Cold-start timer | ✅ passed | ok |",
		"| Cold start (publish → Job created) | 1.200s | 7.000s | 15.100s |",
		"push mode, pollingInterval 15s",
		"Answered by codex-acp 0.16.0 (ACP auth openai-api-key).",
		"```mermaid\ngantt",
		"title Task t3 (median end to end)",
		"Cold start 7.000s :s0, 0, 7000",
		"Pod start 0.280s :s1, 7000, 7280",
		"| Task fetched (Job created → the proxy has the task) | 0.290s | 0.320s | 0.340s |",
		"| Prompt (publish → prompt at the agent) | 1.550s | 7.330s | 15.400s |",
	} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	out := r.Outputs()
	if out[OutputResult] != "passed" || out[OutputColdStart] != "7.000" || out[OutputTasks] != "3" || out[OutputFailedCheck] != "" ||
		out[OutputAgent] != "codex-acp 0.16.0" || out[OutputAuthMethod] != "openai-api-key" || out[OutputScalingMode] != ModePush {
		t.Errorf("outputs %v", out)
	}
	var js struct {
		Tasks  int `json:"tasks"`
		Stages map[string]struct {
			MinMs, MedianMs, MaxMs int64
		} `json:"stages"`
		Poll float64 `json:"pollingIntervalSeconds"`
		Mode string  `json:"scalingMode"`
	}
	if err := json.Unmarshal([]byte(out[OutputTimings]), &js); err != nil {
		t.Fatal(err)
	}
	if js.Tasks != 3 || js.Poll != 15 || js.Mode != ModePush || js.Stages["coldStart"].MaxMs != 15100 || js.Stages["endToEnd"].MinMs != 2400 ||
		js.Stages["taskFetched"].MedianMs != 320 || js.Stages["prompt"].MaxMs != 15400 || len(js.Stages) != len(Stages) {
		t.Errorf("timings-json %s", out[OutputTimings])
	}

	failed := newReport()
	failed.set(CheckPrerequisites, Passed, "ok")
	failed.set(CheckPublish, Failed, "consumer copilot on stream AGENT_TASKS: consumer not found")
	failed.Diagnoses = []Diagnosis{{Title: DiagConsumer, Evidence: []string{"stream AGENT_TASKS has no durable consumer copilot"}, Fix: "re-run the deploy step"}}
	sum = failed.Summary()
	for _, want := range []string{"## Smoke test failed", "❌ failed", "⏭️ not run", "### Diagnosis", "**" + DiagConsumer + "**", "Fix: re-run the deploy step"} {
		if !strings.Contains(sum, want) {
			t.Errorf("failed summary lacks %q:\n%s", want, sum)
		}
	}
	if strings.Contains(sum, "mermaid") {
		t.Error("a run without tasks has a gantt")
	}
	out = failed.Outputs()
	if out[OutputResult] != "failed" || out[OutputFailedCheck] != CheckPublish || out[OutputDiagnosis] != DiagConsumer || out[OutputColdStart] != "" {
		t.Errorf("failed outputs %v", out)
	}
}
