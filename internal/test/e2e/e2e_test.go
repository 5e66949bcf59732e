//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daedalus-dev/daedalus/internal/step/smoke"
	"github.com/daedalus-dev/daedalus/proxy/contract"
)

// TestPipeline is `make e2e`: publish → deploy (KEDA mode) → smoke with five tasks,
// then the SIGTERM-during-task path, then the smoke step against broken set-ups.
// The scenarios share one control plane, KEDA operator and NATS server and run in
// order, each in its own namespace with its own worker.
func TestPipeline(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()

	t.Run("smoke with 5 tasks", func(t *testing.T) {
		s := scenario{ns: "daedalus", release: "daedalus", worker: "copilot"}
		w.deploy(ctx, s, "")
		rep, err, out, summary := w.smoke(ctx, s, map[string]string{smoke.InputTasks: "5"})
		if err != nil {
			t.Fatalf("smoke failed: %v\n%s\n%s", err, out, summary)
		}
		for _, c := range rep.Checks {
			if c.Status != smoke.Passed {
				t.Errorf("check %s: %s (%s)", c.Name, c.Status, c.Detail)
			}
		}
		if len(rep.Tasks) != 5 {
			t.Fatalf("%d tasks timed, want 5", len(rep.Tasks))
		}
		for _, tk := range rep.Tasks {
			for _, st := range smoke.Stages {
				if st.Duration(tk) <= 0 {
					t.Errorf("task %s: stage %q has no duration: %+v", tk.TaskID, st.Name, tk)
				}
			}
		}
		if rep.PollingInterval != time.Duration(pollingInterval)*time.Second {
			t.Errorf("pollingInterval read as %s, want %ds", rep.PollingInterval, pollingInterval)
		}
		for _, want := range []string{"| Cold start (publish → Job created) |", "```mermaid\ngantt", "cold-start-seconds"} {
			if !strings.Contains(summary+out, want) {
				t.Errorf("summary or outputs lack %q:\n%s\n%s", want, summary, out)
			}
		}
		if n := activeJobs(ctx, t, w, s.ns); n != 0 {
			t.Errorf("%d active Jobs after the smoke test, want 0", n)
		}
		if w.monitor.Hits(monitorHost) == 0 {
			t.Error("KEDA never read the NATS monitoring endpoint: the Jobs came from somewhere else")
		}
		var rows []string
		for _, st := range smoke.Stages {
			rows = append(rows, fmt.Sprintf("%-40s %s", st.Name, smoke.Summarize(st, rep.Tasks)))
		}
		t.Logf("stage timings over %d tasks (min / median / max), pollingInterval %s:\n%s", len(rep.Tasks), rep.PollingInterval, strings.Join(rows, "\n"))
	})

	t.Run("SIGTERM during an active task requeues it", func(t *testing.T) {
		s := scenario{ns: "sigterm", release: "sigterm", worker: "slow"}
		w.deploy(ctx, s, "")
		id := "sigterm-task-1"
		// The agent ignores session/cancel, so the proxy's drain (grace 10 s - 5 s)
		// runs out and it naks the task; the second Job runs it to the end.
		publishTask(ctx, t, w, s.worker, id, "@ignore-cancel\n@sleep 12s\nslow work")
		first := waitJobPod(ctx, t, w, s.ns, "", func(p *corev1.Pod) bool {
			return strings.Contains(w.node.Logs(p.Namespace, p.Name, "proxy"), id)
		})
		t.Logf("deleting pod %s of Job %s while it runs task %s", first.Name, first.Labels["job-name"], id)
		if err := w.cluster.Client.CoreV1().Pods(s.ns).Delete(ctx, first.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		res := waitResult(ctx, t, w, id, 3*time.Minute)
		if res.Status.State != "completed" {
			t.Errorf("final result %s, want completed: %+v", res.Status.State, res)
		}
		if res.Metadata.Attempt < 2 {
			t.Errorf("result from attempt %d, want a redelivery (attempt ≥ 2)", res.Metadata.Attempt)
		}
		if n := resultCount(ctx, t, w, id); n != 1 {
			t.Errorf("%d results for %s, want exactly 1", n, id)
		}
		if log := w.node.Logs(s.ns, first.Name, "proxy"); !strings.Contains(log, "handed back for redelivery") {
			t.Errorf("the first proxy did not hand the task back (nak) on SIGTERM:\n%s", log)
		}
		waitNoActiveJobs(ctx, t, w, s.ns)
	})

	broken := []struct {
		name     string
		s        scenario
		agent    string // agent image; "" is the published one
		sets     []string
		breakIt  func(t *testing.T, s scenario)
		inputs   map[string]string
		check    string
		diag     string
		evidence string
	}{
		{
			name:  "image the node cannot pull",
			s:     scenario{ns: "broken-image", release: "broken-image", worker: "pull"},
			agent: "", // set below: a tag the registry does not have
			check: smoke.CheckResult, diag: smoke.DiagImagePull, evidence: "ImagePullBackOff",
		},
		{
			name: "missing secret",
			s:    scenario{ns: "broken-secret", release: "broken-secret", worker: "secret"},
			breakIt: func(t *testing.T, s scenario) {
				if err := w.cluster.Client.CoreV1().Secrets(s.ns).Delete(ctx, "copilot-secret", metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			},
			inputs: map[string]string{smoke.InputTokenSecret: "none"},
			check:  smoke.CheckResult, diag: smoke.DiagCrashLoop, evidence: "Secret copilot-secret does not exist",
		},
		{
			name: "missing consumer",
			s:    scenario{ns: "broken-consumer", release: "broken-consumer", worker: "noconsumer"},
			breakIt: func(t *testing.T, s scenario) {
				if err := w.js.DeleteConsumer(ctx, contract.TasksStream, s.worker); err != nil {
					t.Fatal(err)
				}
			},
			// KEDA reads a missing consumer's lag as the stream's size: one Job at most.
			sets:  []string{"workers[0].maxReplicaCount=1"},
			check: smoke.CheckPublish, diag: smoke.DiagConsumer, evidence: "has no durable consumer noconsumer",
		},
	}
	broken[0].agent = "missing"
	for _, b := range broken {
		t.Run("broken: "+b.name, func(t *testing.T) {
			agent := ""
			if b.agent != "" {
				agent = w.registry + "/copilot-bridge:" + b.agent
			}
			w.deploy(ctx, b.s, agent, b.sets...)
			if b.breakIt != nil {
				b.breakIt(t, b.s)
			}
			in := map[string]string{smoke.InputColdStartTimeout: "30s", smoke.InputJobTimeout: "15s", smoke.InputRestoreTimeout: "10s"}
			for k, v := range b.inputs {
				in[k] = v
			}
			rep, err, out, summary := w.smoke(ctx, b.s, in)
			if err == nil {
				t.Fatalf("smoke passed on a broken set-up:\n%s", out)
			}
			if got := rep.Check(b.check); got.Status != smoke.Failed {
				t.Errorf("check %s is %s, want failed (error: %v)", b.check, got.Status, err)
			}
			var found bool
			for _, d := range rep.Diagnoses {
				if d.Title == b.diag && strings.Contains(strings.Join(d.Evidence, "\n"), b.evidence) && d.Fix != "" {
					found = true
				}
			}
			if !found {
				t.Errorf("no diagnosis %q with evidence %q; got %+v", b.diag, b.evidence, rep.Diagnoses)
			}
			for _, want := range []string{"::error::", "### Diagnosis", b.diag} {
				if !strings.Contains(out+summary, want) {
					t.Errorf("output lacks %q:\n%s\n%s", want, out, summary)
				}
			}
			if err := w.cluster.Client.CoreV1().Namespaces().Delete(ctx, b.s.ns, metav1.DeleteOptions{}); err != nil {
				t.Error(err)
			}
		})
	}
}

func activeJobs(ctx context.Context, t *testing.T, w *world, ns string) int {
	t.Helper()
	jobs, err := w.cluster.Client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, j := range jobs.Items {
		if !finished(&j) && j.Labels[smoke.JobLabel] != "" {
			n++
		}
	}
	return n
}

func finished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func waitNoActiveJobs(ctx context.Context, t *testing.T, w *world, ns string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for activeJobs(ctx, t, w, ns) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Jobs still active in %s after 2m", ns)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func publishTask(ctx context.Context, t *testing.T, w *world, worker, id, prompt string) {
	t.Helper()
	if _, err := contract.PublishTask(ctx, w.js, worker, id, prompt); err != nil {
		t.Fatal(err)
	}
}

// waitJobPod waits for a running pod of a KEDA Job in ns for which ok holds.
func waitJobPod(ctx context.Context, t *testing.T, w *world, ns, _ string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		pods, err := w.cluster.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: smoke.JobLabel})
		if err != nil {
			t.Fatal(err)
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && ok(p) {
				return p
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no running Job pod in %s took the task within 2m", ns)
	return nil
}

func waitResult(ctx context.Context, t *testing.T, w *world, id string, timeout time.Duration) contract.Result {
	t.Helper()
	c, err := w.js.OrderedConsumer(ctx, contract.ResultsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{contract.ResultSubject(id)}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Next(jetstream.FetchMaxWait(timeout))
	if err != nil {
		t.Fatalf("no result for %s within %s: %v", id, timeout, err)
	}
	var r contract.Result
	if err := json.Unmarshal(m.Data(), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func resultCount(ctx context.Context, t *testing.T, w *world, id string) uint64 {
	t.Helper()
	s, err := w.js.Stream(ctx, contract.ResultsStream)
	if err != nil {
		t.Fatal(err)
	}
	subj := contract.ResultSubject(id)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subj]
}
