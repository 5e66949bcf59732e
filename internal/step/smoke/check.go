package smoke

import (
	"fmt"
	"strings"
	"time"
)

// The ten checks, in the order they run.
const (
	CheckPrerequisites = "Prerequisites"
	CheckKEDACRD       = "KEDA CRD"
	CheckRelease       = "Helm release"
	CheckBaseline      = "Scale-to-zero baseline"
	CheckPublish       = "Publish test task"
	CheckColdStart     = "Cold-start timer"
	CheckJobCompletion = "Job completion"
	CheckResult        = "Result check"
	CheckTimings       = "Timing summary"
	CheckRestore       = "Scale-to-zero restore"
)

// Checks lists the checks in order.
var Checks = []string{
	CheckPrerequisites, CheckKEDACRD, CheckRelease, CheckBaseline, CheckPublish,
	CheckColdStart, CheckJobCompletion, CheckResult, CheckTimings, CheckRestore,
}

// Status of a check.
type Status string

// Statuses.
const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	NotRun  Status = "not run"
	Skipped Status = "skipped"
)

// CheckOutcome is the outcome of one check.
type CheckOutcome struct {
	Name   string
	Status Status
	Detail string
}

// Diagnosis names a known failure (docs/runbook.md, Troubleshooting), with
// what the cluster shows that points to it and the fix.
type Diagnosis struct {
	// Title is the troubleshooting entry, e.g. "AcrPull missing".
	Title string
	// Evidence is what the cluster shows, one fact a line.
	Evidence []string
	// Fix is what to do.
	Fix string
}

func (d Diagnosis) String() string {
	var b strings.Builder
	b.WriteString(d.Title)
	for _, e := range d.Evidence {
		b.WriteString("\n  - " + e)
	}
	if d.Fix != "" {
		b.WriteString("\n  Fix: " + d.Fix)
	}
	return b.String()
}

// CheckError is the error Run returns when a check fails.
type CheckError struct {
	Check     string
	Problem   string
	Diagnoses []Diagnosis
}

func (e *CheckError) Error() string {
	msg := fmt.Sprintf("%s: %s", strings.ToLower(e.Check[:1])+e.Check[1:], e.Problem)
	for _, d := range e.Diagnoses {
		msg += "; diagnosis: " + d.Title
	}
	return msg
}

// TaskTiming is the stage times of one task, each measured from watch events.
type TaskTiming struct {
	TaskID string
	Job    string
	// Published is when the task was published; the other instants follow it.
	Published   time.Time
	JobCreated  time.Time
	PodRunning  time.Time
	Result      time.Time
	JobComplete time.Time
	// State is the result's status.state.
	State string
	// TaskFetched and Prompted are when the proxy received the task and sent the prompt
	// to the agent: the proxy's own offsets from the task's publish time in JetStream
	// (metadata.timings), added to Published, so no clock of the cluster is compared with
	// the runner's.
	TaskFetched, Prompted time.Time
	// AgentExecution is the proxy's own prompt → answer time (metadata.timings).
	AgentExecution time.Duration
	// Agent is the agent's name and version as it introduced itself to the proxy, and
	// AuthMethod the ACP auth method the proxy authenticated with (empty: none).
	Agent, AuthMethod string
}

// answeredBy names the agent and its auth method, e.g. "codex-acp 0.16.0 (ACP auth
// openai-api-key)".
func (t TaskTiming) answeredBy() string {
	agent := t.Agent
	if agent == "" {
		agent = "an agent that gave no name"
	}
	auth := "no ACP auth"
	if t.AuthMethod != "" {
		auth = "ACP auth " + t.AuthMethod
	}
	return agent + " (" + auth + ")"
}

// Stage is one measured span of a task. Key names it in the timings-json output.
type Stage struct {
	Name string
	Key  string
	From func(TaskTiming) time.Time
	To   func(TaskTiming) time.Time
}

// Stages are the spans the summary reports, in order: cold start first and end to end
// last (the cold-start-seconds and end-to-end-seconds outputs are theirs).
var Stages = []Stage{
	{"Cold start (publish → Job created)", "coldStart", func(t TaskTiming) time.Time { return t.Published }, func(t TaskTiming) time.Time { return t.JobCreated }},
	{"Pod start (Job created → first container running)", "podStart", func(t TaskTiming) time.Time { return t.JobCreated }, func(t TaskTiming) time.Time { return t.PodRunning }},
	{"Task fetched (Job created → the proxy has the task)", "taskFetched", func(t TaskTiming) time.Time { return t.JobCreated }, func(t TaskTiming) time.Time { return t.TaskFetched }},
	{"Prompt (publish → prompt at the agent)", "prompt", func(t TaskTiming) time.Time { return t.Published }, func(t TaskTiming) time.Time { return t.Prompted }},
	{"Execution (container running → result)", "execution", func(t TaskTiming) time.Time { return t.PodRunning }, func(t TaskTiming) time.Time { return t.Result }},
	{"Job exit (result → Job complete)", "jobExit", func(t TaskTiming) time.Time { return t.Result }, func(t TaskTiming) time.Time { return t.JobComplete }},
	{"End to end (publish → result)", "endToEnd", func(t TaskTiming) time.Time { return t.Published }, func(t TaskTiming) time.Time { return t.Result }},
}

// Duration is the stage's length for t (0 when an end is unknown or out of order).
func (s Stage) Duration(t TaskTiming) time.Duration {
	a, b := s.From(t), s.To(t)
	if a.IsZero() || b.IsZero() || b.Before(a) {
		return 0
	}
	return b.Sub(a)
}

// Report is everything Run found.
type Report struct {
	Checks    []CheckOutcome
	Tasks     []TaskTiming
	Diagnoses []Diagnosis
	// ScaledJob is the worker's ScaledJob; PollingInterval its spec.pollingInterval.
	ScaledJob       string
	PollingInterval time.Duration
	// ScalingMode is how KEDA learns of a task for this ScaledJob: ModePoll (its
	// nats-jetstream trigger only) or ModePush (the Daedalus scaler's trigger, with
	// nats-jetstream beside it as the fallback); "" before the ScaledJob was read.
	ScalingMode string
}

func newReport() *Report {
	r := &Report{}
	for _, c := range Checks {
		r.Checks = append(r.Checks, CheckOutcome{Name: c, Status: NotRun})
	}
	return r
}

func (r *Report) set(name string, s Status, detail string) {
	for i := range r.Checks {
		if r.Checks[i].Name == name {
			r.Checks[i].Status, r.Checks[i].Detail = s, detail
		}
	}
}

// Check returns the result of the named check.
func (r *Report) Check(name string) CheckOutcome {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return CheckOutcome{Name: name, Status: NotRun}
}

// Passed reports whether every check passed.
func (r *Report) Passed() bool {
	for _, c := range r.Checks {
		if c.Status != Passed && c.Status != Skipped {
			return false
		}
	}
	return true
}
