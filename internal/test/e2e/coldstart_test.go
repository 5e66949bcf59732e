//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/daedalus-dev/daedalus/proxy/contract"
)

// ColdStartEnv opts in to TestColdStart, which `make bench-coldstart` runs: it measures,
// and asserts no speed.
const ColdStartEnv = "DAEDALUS_COLDSTART"

// TestColdStart measures a task's cold start on KEDA's real operator for each way the
// chart can scale a worker, all at once in their own namespaces. Tasks arrive at random
// (exponential gaps, mean 4 s), so they fall anywhere in a poll interval. Each Job's pod
// is the chart's (the proxy in job mode beside the reference agent), run by the node from
// the published images. Three stages per task, all on this machine's clock:
//
//   - publish → Job created: when the API server's watch delivers the Job's creation (its
//     creationTimestamp has a resolution of one second). The k-th Job answers the k-th
//     task: each publish raises the lag by one over the Jobs still running, and KEDA
//     creates the difference. The last column counts the Jobs: more Jobs than tasks
//     would mean KEDA made a Job no task needed, and the pairing would drift.
//   - Job created → task fetched: from the creation of the Job whose pod took the task to
//     the timestamp of the proxy's first status event for it ("working", published as the
//     proxy receives the task). This span holds the pod's start: the job controller, the
//     node binding and starting the containers, the proxy connecting to NATS.
//   - publish → prompt at the agent: the reference agent's "prompt received" log line.
func TestColdStart(t *testing.T) {
	if os.Getenv(ColdStartEnv) == "" {
		t.Skipf("a measurement: run it with `make bench-coldstart` (%s=1)", ColdStartEnv)
	}
	tasks := 20
	if n, err := strconv.Atoi(os.Getenv("DAEDALUS_COLDSTART_TASKS")); err == nil && n > 0 {
		tasks = n
	}
	w := newScalerWorld(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()

	modes := []struct {
		name     string
		interval int
		tr       triggers
	}{
		{"poll@15s", 15, triggers{poll: true}},
		{"poll@1s", 1, triggers{poll: true}},
		{"push@15s", 15, triggers{scaler: "external", poll: true}},
		{"push@1s", 1, triggers{scaler: "external", poll: true}},
	}
	// Namespace and worker are named after the mode.
	key := func(i int) string { return fmt.Sprintf("coldstart-%d", i) }
	taskID := func(i, k int) string { return fmt.Sprintf("%s-task-%d", key(i), k) }
	for i, m := range modes {
		w.scaledJob(ctx, key(i), key(i), m.interval, m.tr)
	}
	jobs := watchJobs(ctx, t, w.world)

	published := make([][]time.Time, len(modes))
	var wg sync.WaitGroup
	for i := range modes {
		wg.Go(func() {
			for k := range tasks {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Duration(rand.ExpFloat64() * float64(4*time.Second))):
				}
				at := time.Now()
				if _, err := contract.PublishTask(ctx, w.js, key(i), taskID(i, k), "hi"); err != nil {
					t.Errorf("publishing %s: %v", taskID(i, k), err)
					return
				}
				published[i] = append(published[i], at)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var ids []string
	for i := range modes {
		for k := range tasks {
			ids = append(ids, taskID(i, k))
		}
	}
	w.waitCompleted(ctx, ids, 3*time.Minute)
	fetched := w.firstWorking(ctx)

	rows := []string{
		fmt.Sprintf("%-10s |%s |%s |%s", "", column("publish → Job created"), column("Job created → task fetched"), column("publish → prompt at agent")),
		fmt.Sprintf("%-10s |%s |%s |%s | Jobs", "mode", statsHeader, statsHeader, statsHeader),
	}
	for i, m := range modes {
		created := jobs.waitFor(t, key(i), tasks, time.Minute)
		runs := w.podRuns(ctx, key(i))
		var toJob, toFetch, toPrompt []time.Duration
		for k, pub := range published[i] {
			id := taskID(i, k)
			toJob = append(toJob, created[k].at.Sub(pub))
			run, ok := runs[id]
			if !ok {
				t.Errorf("%s: no pod's proxy logged receiving %s", m.name, id)
				continue
			}
			at, ok := fetched[id]
			jobAt := jobs.createdAt(run.job)
			if ok && !jobAt.IsZero() {
				toFetch = append(toFetch, at.Sub(jobAt))
			} else {
				t.Errorf("%s: %s has no working status event (%v) or its Job %q was not seen created", m.name, id, ok, run.job)
			}
			if run.prompted.IsZero() {
				t.Errorf("%s: the agent of Job %s logged no prompt for %s", m.name, run.job, id)
				continue
			}
			toPrompt = append(toPrompt, run.prompted.Sub(pub))
		}
		rows = append(rows, fmt.Sprintf("%-10s |%s |%s |%s | %d", m.name, stats(toJob), stats(toFetch), stats(toPrompt), len(created)))
	}
	t.Logf("cold start on KEDA's operator, %d tasks per mode, seconds:\n%s", tasks, strings.Join(rows, "\n"))
}

// jobWatch records each Job's creation as the API server's watch delivers it.
type jobWatch struct {
	mu      sync.Mutex
	byNS    map[string][]jobSeen // in the order seen
	created map[string]time.Time // namespace/name → seen
}

type jobSeen struct {
	name string
	at   time.Time
}

func watchJobs(ctx context.Context, t *testing.T, w *world) *jobWatch {
	t.Helper()
	wch, err := w.cluster.Client.BatchV1().Jobs("").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(wch.Stop)
	jw := &jobWatch{byNS: map[string][]jobSeen{}, created: map[string]time.Time{}}
	go func() {
		for ev := range wch.ResultChan() {
			if j, ok := ev.Object.(*batchv1.Job); ok && ev.Type == watch.Added {
				now := time.Now()
				jw.mu.Lock()
				jw.byNS[j.Namespace] = append(jw.byNS[j.Namespace], jobSeen{j.Name, now})
				jw.created[j.Namespace+"/"+j.Name] = now
				jw.mu.Unlock()
			}
		}
	}()
	return jw
}

// waitFor waits until ns has at least n Jobs and returns them in creation order.
func (jw *jobWatch) waitFor(t *testing.T, ns string, n int, wait time.Duration) []jobSeen {
	t.Helper()
	for deadline := time.Now().Add(wait); ; time.Sleep(100 * time.Millisecond) {
		jw.mu.Lock()
		seen := slices.Clone(jw.byNS[ns])
		jw.mu.Unlock()
		if len(seen) >= n {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d Jobs for %d tasks", ns, len(seen), n)
		}
	}
}

// createdAt is when the Job namespace/name was seen created (zero if it was not).
func (jw *jobWatch) createdAt(nsName string) time.Time {
	jw.mu.Lock()
	defer jw.mu.Unlock()
	return jw.created[nsName]
}

// waitCompleted waits until AGENT_RESULTS holds a result for every id, and fails the test
// for a result that is not completed.
func (w *scalerWorld) waitCompleted(ctx context.Context, ids []string, wait time.Duration) {
	t := w.t
	t.Helper()
	s, err := w.js.Stream(ctx, contract.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(wait); ; time.Sleep(200 * time.Millisecond) {
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(contract.ResultsPrefix+">"))
		if err != nil {
			t.Fatal(err)
		}
		var missing []string
		for _, id := range ids {
			if info.State.Subjects[contract.ResultSubject(id)] == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no result within %s for %d tasks: %s", wait, len(missing), strings.Join(missing, ", "))
		}
	}
	for _, id := range ids {
		m, err := s.GetLastMsgForSubject(ctx, contract.ResultSubject(id))
		if err != nil {
			t.Fatal(err)
		}
		var r contract.Result
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatal(err)
		}
		if r.Status.State != contract.StateCompleted {
			t.Errorf("task %s ended %s: %s", id, r.Status.State, r.Metadata.Error)
		}
	}
}

// firstWorking reads AGENT_STATUS and returns, per task id, the timestamp of its first
// working event: the proxy publishes it as it receives the task.
func (w *scalerWorld) firstWorking(ctx context.Context) map[string]time.Time {
	t := w.t
	t.Helper()
	s, err := w.js.Stream(ctx, contract.StatusStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Time{}
	for range info.State.Msgs {
		m, err := c.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatalf("reading %s: %v", contract.StatusStream, err)
		}
		var ev contract.StatusEvent
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			t.Fatal(err)
		}
		if _, seen := out[ev.TaskID]; !seen && ev.Status.State == contract.StateWorking {
			out[ev.TaskID] = ev.Status.Timestamp
		}
	}
	return out
}

// podRun is what one Job's pod did: its Job (namespace/name) and when its agent received
// the prompt.
type podRun struct {
	job      string
	prompted time.Time
}

// podRuns reads the logs of every pod in ns and returns, per task id, the pod's Job that
// ran it: in job mode a pod's proxy runs one task.
func (w *scalerWorld) podRuns(ctx context.Context, ns string) map[string]podRun {
	t := w.t
	t.Helper()
	pods, err := w.cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]podRun{}
	for _, p := range pods.Items {
		id := logField(w.node.Logs(ns, p.Name, "proxy"), "task received", "task_id")
		if id == "" {
			continue
		}
		run := podRun{job: ns + "/" + p.Labels[batchv1.JobNameLabel]}
		if at := logField(w.node.Logs(ns, p.Name, "agent"), "prompt received", "at"); at != "" {
			if run.prompted, err = time.Parse(time.RFC3339Nano, at); err != nil {
				t.Fatalf("pod %s/%s: the agent's prompt time: %v", ns, p.Name, err)
			}
		}
		out[id] = run
	}
	return out
}

// logField returns field of the first JSON log line whose msg is msg ("" if none).
func logField(log, msg, field string) string {
	for _, line := range strings.Split(log, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != msg {
			continue
		}
		s, _ := rec[field].(string)
		return s
	}
	return ""
}

const statsHeader = "    p50    p95    min    max"

// column is s as wide as statsHeader (counting characters, not bytes), led by a space.
func column(s string) string {
	return " " + s + strings.Repeat(" ", max(len(statsHeader)-1-utf8.RuneCountInString(s), 0))
}

// stats is the p50, p95, min and max of d in seconds, as statsHeader heads them.
func stats(d []time.Duration) string {
	if len(d) == 0 {
		return column("no data")
	}
	d = slices.Sorted(slices.Values(d))
	var b strings.Builder
	for _, v := range []time.Duration{pct(d, 50), pct(d, 95), d[0], d[len(d)-1]} {
		fmt.Fprintf(&b, " %6.2f", v.Seconds())
	}
	return b.String()
}

// pct is the nearest-rank percentile of sorted d.
func pct(d []time.Duration, p int) time.Duration {
	i := (p*len(d)+99)/100 - 1
	return d[max(i, 0)]
}
