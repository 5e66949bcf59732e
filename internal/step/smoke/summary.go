package smoke

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
)

// Summary is the step summary: the checks, the stage table (min/median/max over the
// tasks), each task's figures, a Mermaid gantt of the median task, and diagnoses.
func (r *Report) Summary() string {
	var b strings.Builder
	verdict := "passed"
	if !r.Passed() {
		verdict = "failed"
	}
	fmt.Fprintf(&b, "## Smoke test %s\n\n", verdict)
	rows := make([][]string, 0, len(r.Checks))
	for i, c := range r.Checks {
		mark := map[Status]string{Passed: "✅", Failed: "❌", NotRun: "⏭️", Skipped: "➖"}[c.Status]
		rows = append(rows, []string{fmt.Sprint(i + 1), c.Name, mark + " " + string(c.Status), c.Detail})
	}
	b.WriteString(actions.Table([]string{"#", "Check", "Status", "Detail"}, rows))

	if len(r.Diagnoses) > 0 {
		b.WriteString("\n### Diagnosis\n\n")
		for _, d := range r.Diagnoses {
			fmt.Fprintf(&b, "**%s**\n\n", d.Title)
			for _, e := range d.Evidence {
				fmt.Fprintf(&b, "- %s\n", e)
			}
			fmt.Fprintf(&b, "\nFix: %s\n\n", d.Fix)
		}
	}

	if len(r.Tasks) > 0 {
		fmt.Fprintf(&b, "\n### Stage timings over %d task(s)\n\nAnswered by %s. From the API server's watch events; ScaledJob `%s`, %s mode, pollingInterval %s.\n\n",
			len(r.Tasks), r.Tasks[len(r.Tasks)-1].answeredBy(), r.ScaledJob, r.ScalingMode, r.PollingInterval)
		rows = rows[:0]
		for _, s := range Stages {
			st := Summarize(s, r.Tasks)
			rows = append(rows, []string{s.Name, ms(st.Min), ms(st.Median), ms(st.Max)})
		}
		b.WriteString(actions.Table([]string{"Stage", "Min", "Median", "Max"}, rows))

		b.WriteString("\n<details><summary>Per task</summary>\n\n")
		rows = rows[:0]
		for _, t := range r.Tasks {
			row := []string{t.TaskID, t.Job}
			for _, s := range Stages {
				row = append(row, ms(s.Duration(t)))
			}
			rows = append(rows, append(row, ms(t.AgentExecution)))
		}
		header := []string{"Task", "Job"}
		for _, s := range Stages {
			header = append(header, strings.SplitN(s.Name, " (", 2)[0])
		}
		b.WriteString(actions.Table(append(header, "Agent (proxy timings)"), rows))
		b.WriteString("\n</details>\n\n")
		b.WriteString(r.Gantt())
	}
	return b.String()
}

// median returns the task whose end-to-end time is the median.
func (r *Report) median() TaskTiming {
	ts := append([]TaskTiming(nil), r.Tasks...)
	e2e := Stages[len(Stages)-1]
	sort.Slice(ts, func(a, b int) bool { return e2e.Duration(ts[a]) < e2e.Duration(ts[b]) })
	return ts[len(ts)/2]
}

// Gantt is a Mermaid gantt chart of the median task's stages, in milliseconds from
// its publish.
func (r *Report) Gantt() string {
	if len(r.Tasks) == 0 {
		return ""
	}
	t := r.median()
	var b strings.Builder
	fmt.Fprintf(&b, "```mermaid\ngantt\n  title Task %s (median end to end)\n  dateFormat x\n  axisFormat %%S.%%L s\n  section %s\n", t.TaskID, t.Job)
	at := func(x time.Time) int64 { return x.Sub(t.Published).Milliseconds() }
	for i, s := range Stages[:len(Stages)-1] {
		from, to := s.From(t), s.To(t)
		if from.IsZero() || to.IsZero() {
			continue
		}
		name := strings.SplitN(s.Name, " (", 2)[0]
		fmt.Fprintf(&b, "  %s %s :s%d, %d, %d\n", name, ms(s.Duration(t)), i, at(from), max(at(to), at(from)+1))
	}
	b.WriteString("```\n")
	return b.String()
}

// Output names of actions/smoke/action.yml.
const (
	OutputResult      = "result"
	OutputFailedCheck = "failed-check"
	OutputDiagnosis   = "diagnosis"
	OutputColdStart   = "cold-start-seconds"
	OutputEndToEnd    = "end-to-end-seconds"
	OutputTimings     = "timings-json"
	OutputTasks       = "tasks"
	OutputAgent       = "agent"
	OutputAuthMethod  = "auth-method"
	OutputScalingMode = "scaling-mode"
)

// Outputs are the step outputs: the verdict, the failed check and its diagnoses, and
// the figures a PR comment quotes.
func (r *Report) Outputs() map[string]string {
	out := map[string]string{OutputResult: "passed", OutputFailedCheck: "", OutputDiagnosis: "", OutputTasks: fmt.Sprint(len(r.Tasks))}
	for _, c := range r.Checks {
		if c.Status == Failed {
			out[OutputResult], out[OutputFailedCheck] = "failed", c.Name
		}
	}
	var titles []string
	for _, d := range r.Diagnoses {
		titles = append(titles, d.Title)
	}
	out[OutputDiagnosis] = strings.Join(titles, "; ")
	type stat struct {
		MinMs    int64 `json:"minMs"`
		MedianMs int64 `json:"medianMs"`
		MaxMs    int64 `json:"maxMs"`
	}
	stats := map[string]stat{}
	for _, s := range Stages {
		st := Summarize(s, r.Tasks)
		stats[s.Key] = stat{st.Min.Milliseconds(), st.Median.Milliseconds(), st.Max.Milliseconds()}
	}
	js, _ := json.Marshal(map[string]any{"tasks": len(r.Tasks), "pollingIntervalSeconds": r.PollingInterval.Seconds(),
		"scalingMode": r.ScalingMode, "stages": stats})
	out[OutputTimings] = string(js)
	out[OutputScalingMode] = r.ScalingMode
	out[OutputAgent], out[OutputAuthMethod] = "", ""
	if len(r.Tasks) > 0 {
		last := r.Tasks[len(r.Tasks)-1]
		out[OutputAgent], out[OutputAuthMethod] = last.Agent, last.AuthMethod
		out[OutputColdStart] = fmt.Sprintf("%.3f", Summarize(Stages[0], r.Tasks).Median.Seconds())
		out[OutputEndToEnd] = fmt.Sprintf("%.3f", Summarize(Stages[len(Stages)-1], r.Tasks).Median.Seconds())
	} else {
		out[OutputColdStart], out[OutputEndToEnd] = "", ""
	}
	return out
}
