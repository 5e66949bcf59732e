package smoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/daedalus-dev/daedalus/proxy/contract"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

var (
	crdGVR       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	scaledJobGVR = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledjobs"}
)

// Deps are the clients Run uses. Main wires the real ones.
type Deps struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// NATS connects to the release's NATS; the returned close function ends the
	// connection (and any port-forward).
	NATS func(ctx context.Context) (*nats.Conn, func(), error)
	// OperatorLog returns the KEDA operator's last n log lines. Nil reads the logs of the
	// operator's pods in the KEDA namespace.
	OperatorLog func(ctx context.Context, n int) ([]string, error)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logf prints progress (nothing when nil).
	Logf func(format string, args ...any)
	// NewTaskID names each task (a unique id from the clock when nil).
	NewTaskID func(i int) string
}

// runner holds one run's state.
type runner struct {
	cfg  Config
	deps Deps
	rep  *Report

	js        jetstream.JetStream
	closeNATS func()
	watch     *watcher
	trigger   triggerMeta
}

type triggerMeta struct{ stream, consumer, endpoint string }

// Run performs the checks in order and stops at the first that fails; it then reads
// what the cluster shows into diagnoses. The error is a *CheckError when a check failed.
func Run(ctx context.Context, cfg Config, deps Deps) (*Report, error) {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logf == nil {
		deps.Logf = func(string, ...any) {}
	}
	if deps.NewTaskID == nil {
		stamp := strconv.FormatInt(time.Now().UnixNano(), 36)
		deps.NewTaskID = func(i int) string { return fmt.Sprintf("smoke-%s-%d", stamp, i+1) }
	}
	r := &runner{cfg: cfg, deps: deps, rep: newReport()}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer func() {
		if r.closeNATS != nil {
			r.closeNATS()
		}
	}()
	err := r.run(ctx)
	var ce *CheckError
	if errors.As(err, &ce) {
		r.rep.set(ce.Check, Failed, ce.Problem)
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		ce.Diagnoses = r.diagnose(dctx, ce)
		dcancel()
		r.rep.Diagnoses = ce.Diagnoses
	}
	return r.rep, err
}

func fail(check, format string, args ...any) error {
	return &CheckError{Check: check, Problem: fmt.Sprintf(format, args...)}
}

func (r *runner) pass(check, format string, args ...any) {
	detail := fmt.Sprintf(format, args...)
	r.rep.set(check, Passed, detail)
	r.deps.Logf("✓ %s: %s", check, detail)
}

func (r *runner) run(ctx context.Context) error {
	for _, step := range []func(context.Context) error{r.prerequisites, r.kedaCRD, r.release, r.baseline} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	conn, closeNATS, err := r.deps.NATS(ctx)
	if err != nil {
		return fail(CheckPublish, "connecting to NATS: %v", err)
	}
	r.closeNATS = closeNATS // after the diagnosis, which reads NATS too
	if r.js, err = jetstream.New(conn); err != nil {
		return fail(CheckPublish, "opening JetStream: %v", err)
	}
	if err := r.streams(ctx); err != nil {
		return err
	}
	for i := range r.cfg.Tasks {
		if err := r.task(ctx, i); err != nil {
			return err
		}
	}
	r.timings()
	return nil
}

// prerequisites: the cluster answers, the namespace exists, the token secret has its key.
func (r *runner) prerequisites(ctx context.Context) error {
	v, err := r.deps.Kube.Discovery().ServerVersion()
	if err != nil {
		return fail(CheckPrerequisites, "the cluster is not reachable: %v", err)
	}
	if _, err := r.deps.Kube.CoreV1().Namespaces().Get(ctx, r.cfg.Namespace, metav1.GetOptions{}); err != nil {
		return fail(CheckPrerequisites, "namespace %s: %v (deploy first)", r.cfg.Namespace, err)
	}
	detail := fmt.Sprintf("cluster %s, namespace %s", v.GitVersion, r.cfg.Namespace)
	if r.cfg.TokenSecret != "" {
		s, err := r.deps.Kube.CoreV1().Secrets(r.cfg.Namespace).Get(ctx, r.cfg.TokenSecret, metav1.GetOptions{})
		if err != nil {
			return fail(CheckPrerequisites, "token secret %s/%s: %v", r.cfg.Namespace, r.cfg.TokenSecret, err)
		}
		if len(s.Data[TokenSecretKey]) == 0 {
			return fail(CheckPrerequisites, "token secret %s/%s has no key %s", r.cfg.Namespace, r.cfg.TokenSecret, TokenSecretKey)
		}
		detail += fmt.Sprintf(", secret %s holds %s", r.cfg.TokenSecret, TokenSecretKey)
	}
	r.pass(CheckPrerequisites, "%s", detail)
	return nil
}

// kedaCRD: scaledjobs.keda.sh is installed and Established.
func (r *runner) kedaCRD(ctx context.Context) error {
	crd, err := r.deps.Dynamic.Resource(crdGVR).Get(ctx, "scaledjobs.keda.sh", metav1.GetOptions{})
	if err != nil {
		return fail(CheckKEDACRD, "CRD scaledjobs.keda.sh: %v (install KEDA: the deploy step's install-keda)", err)
	}
	if crd.GetDeletionTimestamp() != nil {
		return fail(CheckKEDACRD, "CRD scaledjobs.keda.sh is being deleted (install KEDA again: the deploy step's install-keda)")
	}
	if s, _ := condition(crd, "Established"); s != "True" {
		return fail(CheckKEDACRD, "CRD scaledjobs.keda.sh is not Established")
	}
	r.pass(CheckKEDACRD, "scaledjobs.keda.sh established")
	return nil
}

// release: the newest revision of the Helm release is deployed (read from Helm's
// storage Secrets, whose labels carry the status).
func (r *runner) release(ctx context.Context) error {
	list, err := r.deps.Kube.CoreV1().Secrets(r.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "owner=helm,name=" + r.cfg.Release})
	if err != nil {
		return fail(CheckRelease, "listing Helm's release records: %v", err)
	}
	if len(list.Items) == 0 {
		return fail(CheckRelease, "no Helm release %s in namespace %s (deploy first)", r.cfg.Release, r.cfg.Namespace)
	}
	newest, rev := list.Items[0], -1
	for _, s := range list.Items {
		if v, _ := strconv.Atoi(s.Labels["version"]); v > rev {
			newest, rev = s, v
		}
	}
	if st := newest.Labels["status"]; st != "deployed" {
		return fail(CheckRelease, "release %s revision %d is %s, not deployed", r.cfg.Release, rev, st)
	}
	r.pass(CheckRelease, "release %s revision %d deployed", r.cfg.Release, rev)
	return nil
}

// baseline: the worker's ScaledJob exists, and it has no active Job with the queue empty.
func (r *runner) baseline(ctx context.Context) error {
	sj, err := r.scaledJob(ctx)
	if err != nil {
		return fail(CheckBaseline, "%v", err)
	}
	r.rep.ScaledJob = sj.GetName()
	if pi, ok, _ := unstructured.NestedInt64(sj.Object, "spec", "pollingInterval"); ok {
		r.rep.PollingInterval = time.Duration(pi) * time.Second
	} else {
		r.rep.PollingInterval = 30 * time.Second // KEDA's default
	}
	r.trigger = triggerOf(sj)
	r.rep.ScalingMode = scalingMode(sj)
	r.watch, err = startWatcher(ctx, r.deps.Kube, r.cfg.Namespace, sj.GetName(), r.deps.Now)
	if err != nil {
		return fail(CheckBaseline, "%v", err)
	}
	if active := r.watch.active(); len(active) > 0 {
		return fail(CheckBaseline, "%d Job(s) of ScaledJob %s are active before any task was published: %s",
			len(active), sj.GetName(), strings.Join(active, ", "))
	}
	r.pass(CheckBaseline, "ScaledJob %s has 0 active Jobs (%s mode, pollingInterval %s)", sj.GetName(), r.rep.ScalingMode, r.rep.PollingInterval)
	return nil
}

func (r *runner) scaledJob(ctx context.Context) (*unstructured.Unstructured, error) {
	sel := "app.kubernetes.io/instance=" + r.cfg.Release + ",daedalus.dev/worker=" + r.cfg.Worker
	list, err := r.deps.Dynamic.Resource(scaledJobGVR).Namespace(r.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing ScaledJobs: %w", err)
	}
	if len(list.Items) != 1 {
		return nil, fmt.Errorf("want one ScaledJob labelled %s in %s, found %d (is keda.enabled=true in the release's values?)", sel, r.cfg.Namespace, len(list.Items))
	}
	return &list.Items[0], nil
}

func triggerOf(sj *unstructured.Unstructured) triggerMeta {
	triggers, _, _ := unstructured.NestedSlice(sj.Object, "spec", "triggers")
	for _, t := range triggers {
		m, _ := t.(map[string]any)
		if m["type"] != "nats-jetstream" {
			continue
		}
		md, _ := m["metadata"].(map[string]any)
		s := func(k string) string { v, _ := md[k].(string); return v }
		return triggerMeta{stream: s("stream"), consumer: s("consumer"), endpoint: s("natsServerMonitoringEndpoint")}
	}
	return triggerMeta{}
}

// Scaling modes of a ScaledJob (the chart's scaler.mode).
const (
	ModePoll = "poll"
	ModePush = "push"
)

// scalingMode tells the chart's scaler.mode from the ScaledJob's triggers: push when one
// is the Daedalus scaler's (type external or external-push), else poll.
func scalingMode(sj *unstructured.Unstructured) string {
	triggers, _, _ := unstructured.NestedSlice(sj.Object, "spec", "triggers")
	for _, t := range triggers {
		if m, _ := t.(map[string]any); m["type"] == "external" || m["type"] == "external-push" {
			return ModePush
		}
	}
	return ModePoll
}

// condition returns the status and message of the object's condition typ.
func condition(o *unstructured.Unstructured, typ string) (status, message string) {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			s, _ := m["status"].(string)
			msg, _ := m["message"].(string)
			return s, msg
		}
	}
	return "", ""
}

// streams: the tasks stream and the worker's consumer exist (the deploy's bootstrap
// hook creates them; the smoke step never papers over their absence), and the results
// stream too.
func (r *runner) streams(ctx context.Context) error {
	if _, err := r.js.Stream(ctx, r.cfg.TasksStream); err != nil {
		return fail(CheckPublish, "stream %s: %v", r.cfg.TasksStream, err)
	}
	if _, err := r.js.Consumer(ctx, r.cfg.TasksStream, r.cfg.Worker); err != nil {
		return fail(CheckPublish, "consumer %s on stream %s: %v", r.cfg.Worker, r.cfg.TasksStream, err)
	}
	if _, err := r.js.Stream(ctx, r.cfg.ResultsStream); err != nil {
		return fail(CheckPublish, "stream %s: %v", r.cfg.ResultsStream, err)
	}
	return nil
}

type result struct {
	at   time.Time
	task contract.Result
}

// task runs one task from scale-to-zero: publish, wait for its Job, its result and the
// Job's completion, then for the namespace to return to zero active Jobs.
func (r *runner) task(ctx context.Context, i int) error {
	id := r.deps.NewTaskID(i)
	subject := contract.ResultSubject(id)
	results := make(chan result, 4)
	cons, err := r.js.OrderedConsumer(ctx, r.cfg.ResultsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fail(CheckResult, "reading %s from stream %s: %v", subject, r.cfg.ResultsStream, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		res := result{at: r.deps.Now()}
		if err := json.Unmarshal(m.Data(), &res.task); err != nil {
			res.task.Status.State = "undecodable: " + err.Error()
		}
		select {
		case results <- res:
		default:
		}
	})
	if err != nil {
		return fail(CheckResult, "reading %s: %v", subject, err)
	}
	defer cc.Stop()

	t := TaskTiming{TaskID: id, Published: r.deps.Now()}
	if _, err := contract.PublishTask(ctx, r.js, r.cfg.Worker, id, r.cfg.Prompt); err != nil {
		return fail(CheckPublish, "publishing task %s to %s: %v", id, r.cfg.subject(), err)
	}
	r.pass(CheckPublish, "task %d/%d %s on %s", i+1, r.cfg.Tasks, id, r.cfg.subject())

	var job jobTimes
	if !r.watch.until(ctx, r.cfg.ColdStartTimeout, func() bool {
		var ok bool
		job, ok = r.watch.peek(t.Published)
		return ok
	}) {
		return fail(CheckColdStart, "no Job of ScaledJob %s within %s of publishing task %s", r.rep.ScaledJob, r.cfg.ColdStartTimeout, id)
	}
	job, _ = r.watch.claim(t.Published)
	t.Job, t.JobCreated = job.name, job.created
	r.pass(CheckColdStart, "task %d: Job %s created %s after publish", i+1, job.name, ms(t.JobCreated.Sub(t.Published)))

	deadline := time.NewTimer(r.cfg.JobTimeout)
	defer deadline.Stop()
	var res *result
	for res == nil {
		select {
		case got := <-results:
			res = &got
		case <-deadline.C:
			j := r.watch.get(job.name)
			if !j.failed.IsZero() {
				return fail(CheckJobCompletion, "Job %s failed (%s) and no result for task %s arrived within %s", job.name, j.failMsg, id, r.cfg.JobTimeout)
			}
			return fail(CheckResult, "no result for task %s on %s within %s", id, subject, r.cfg.JobTimeout)
		case <-ctx.Done():
			return fail(CheckResult, "waiting for the result of task %s: %v", id, ctx.Err())
		}
	}
	t.Result, t.State = res.at, res.task.Status.State
	t.Agent, t.AuthMethod = res.task.Metadata.Agent, res.task.Metadata.AuthMethod
	if tm := res.task.Metadata.Timings; tm != nil {
		offset := func(ms float64) time.Time { return t.Published.Add(time.Duration(ms * float64(time.Millisecond))) }
		t.TaskFetched, t.Prompted = offset(tm.QueuedMs), offset(tm.DispatchMs)
		t.AgentExecution = time.Duration(tm.ExecutionMs * float64(time.Millisecond))
	}
	if !r.watch.until(ctx, r.cfg.JobTimeout, func() bool { return !r.watch.get(job.name).active() }) {
		return fail(CheckJobCompletion, "Job %s did not complete within %s", job.name, r.cfg.JobTimeout)
	}
	j := r.watch.get(job.name)
	if !j.failed.IsZero() {
		return fail(CheckJobCompletion, "Job %s failed: %s", job.name, j.failMsg)
	}
	t.PodRunning, t.JobComplete = j.running, j.complete
	r.pass(CheckJobCompletion, "task %d: Job %s complete %s after its result", i+1, job.name, ms(t.JobComplete.Sub(t.Result)))

	if t.State != "completed" {
		why := res.task.Metadata.Error
		if why == "" && res.task.Status.Message != nil && len(res.task.Status.Message.Parts) > 0 {
			why = res.task.Status.Message.Parts[0].Text
		}
		return fail(CheckResult, "task %s ended %s: %s", id, t.State, why)
	}
	if n, err := r.count(ctx, subject); err != nil {
		return fail(CheckResult, "counting results on %s: %v", subject, err)
	} else if n != 1 {
		return fail(CheckResult, "task %s has %d final results on %s, want exactly 1", id, n, subject)
	}
	r.rep.Tasks = append(r.rep.Tasks, t)
	r.pass(CheckResult, "task %d: %s by %s, exactly one result", i+1, t.State, t.answeredBy())

	start := r.deps.Now()
	if !r.watch.until(ctx, r.cfg.RestoreTimeout, func() bool { return len(r.watch.active()) == 0 }) {
		return fail(CheckRestore, "%d Job(s) still active %s after the last result: %s", len(r.watch.active()), r.cfg.RestoreTimeout, strings.Join(r.watch.active(), ", "))
	}
	r.pass(CheckRestore, "0 active Jobs, %s after task %d's Job completed", ms(r.deps.Now().Sub(start)), i+1)
	return nil
}

// count is how many messages the results stream holds on subject.
func (r *runner) count(ctx context.Context, subject string) (uint64, error) {
	s, err := r.js.Stream(ctx, r.cfg.ResultsStream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return 0, err
	}
	return info.State.Subjects[subject], nil
}

func (r *runner) timings() {
	var parts []string
	for _, s := range Stages {
		st := Summarize(s, r.rep.Tasks)
		parts = append(parts, fmt.Sprintf("%s %s", strings.SplitN(s.Name, " (", 2)[0], st))
	}
	r.pass(CheckTimings, "%s", strings.Join(parts, "; "))
}

// Stats is min/median/max of a stage over the tasks.
type Stats struct{ Min, Median, Max time.Duration }

func (s Stats) String() string {
	return fmt.Sprintf("%s / %s / %s", ms(s.Min), ms(s.Median), ms(s.Max))
}

// Summarize returns the min, median and max of stage over tasks.
func Summarize(stage Stage, tasks []TaskTiming) Stats {
	if len(tasks) == 0 {
		return Stats{}
	}
	ds := make([]time.Duration, len(tasks))
	for i, t := range tasks {
		ds[i] = stage.Duration(t)
	}
	sort.Slice(ds, func(a, b int) bool { return ds[a] < ds[b] })
	med := ds[len(ds)/2]
	if len(ds)%2 == 0 {
		med = (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
	}
	return Stats{Min: ds[0], Median: med, Max: ds[len(ds)-1]}
}

// ms formats d in seconds with millisecond precision.
func ms(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

// podsOf lists the pods of the ScaledJob (every pod in the namespace when unknown).
func (r *runner) podsOf(ctx context.Context) ([]corev1.Pod, error) {
	opts := metav1.ListOptions{}
	if r.rep.ScaledJob != "" {
		opts.LabelSelector = JobLabel + "=" + r.rep.ScaledJob
	}
	list, err := r.deps.Kube.CoreV1().Pods(r.cfg.Namespace).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

func isNotFound(err error) bool {
	return apierrors.IsNotFound(err) || errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound)
}
