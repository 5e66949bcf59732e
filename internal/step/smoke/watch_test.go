package smoke

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestWatcherTimeline feeds the watcher the events an informer delivers and checks the
// instants it records, which Job a task claims, and that until wakes on a change.
func TestWatcherTimeline(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := &watcher{now: func() time.Time { return clock }, jobs: map[string]*jobTimes{}, changed: make(chan struct{})}
	job := func(name string, conds ...batchv1.JobConditionType) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}}
		for _, c := range conds {
			j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: c, Status: corev1.ConditionTrue})
		}
		return j
	}
	pod := func(jobName string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: jobName + "-x", Labels: map[string]string{batchv1.JobNameLabel: jobName}},
			Status: corev1.PodStatus{Phase: phase}}
	}

	w.job(job("old", batchv1.JobComplete)) // existed before the task
	published := clock.Add(time.Second)
	clock = clock.Add(2 * time.Second)
	w.job(job("a"))
	clock = clock.Add(time.Second)
	w.pod(pod("a", corev1.PodPending))
	clock = clock.Add(time.Second)
	w.pod(pod("a", corev1.PodRunning))
	clock = clock.Add(time.Second)
	w.pod(pod("a", corev1.PodSucceeded)) // must not move the running instant
	w.job(job("a", batchv1.JobComplete))
	w.job(job("b"))

	if got := w.active(); len(got) != 1 || got[0] != "b" {
		t.Errorf("active = %v, want [b]", got)
	}
	a, ok := w.claim(published)
	if !ok || a.name != "a" {
		t.Fatalf("claim = %+v %v, want Job a", a, ok)
	}
	want := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if !a.created.Equal(want.Add(2*time.Second)) || !a.running.Equal(want.Add(4*time.Second)) || !a.complete.Equal(want.Add(5*time.Second)) {
		t.Errorf("times created %s running %s complete %s", a.created, a.running, a.complete)
	}
	if b, ok := w.claim(published); !ok || b.name != "b" {
		t.Errorf("second claim = %+v %v, want Job b (a is taken)", b, ok)
	}
	if _, ok := w.claim(published); ok {
		t.Error("a third claim found a Job")
	}

	go func() {
		time.Sleep(50 * time.Millisecond)
		w.job(job("b", batchv1.JobFailed))
	}()
	if !w.until(context.Background(), 5*time.Second, func() bool { return len(w.active()) == 0 }) {
		t.Error("until did not see Job b fail")
	}
	if w.until(context.Background(), 50*time.Millisecond, func() bool { return false }) {
		t.Error("until reported a condition that never held")
	}
}
