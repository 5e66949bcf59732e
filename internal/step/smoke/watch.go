package smoke

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// JobLabel is the label KEDA puts on every Job (and its pods) of a ScaledJob.
const JobLabel = "scaledjob.keda.sh/name"

// jobTimes is what the watch saw of one Job, in the local clock at each event's arrival.
type jobTimes struct {
	name     string
	created  time.Time // first event for the Job
	running  time.Time // first event showing one of its pods Running
	complete time.Time // first event showing condition Complete
	failed   time.Time // first event showing condition Failed
	failMsg  string
	claimed  bool
}

func (j jobTimes) active() bool { return j.complete.IsZero() && j.failed.IsZero() }

// watcher follows the ScaledJob's Jobs and pods through informers (list, then watch):
// every time it records is the arrival of the API server's watch event, not a poll.
type watcher struct {
	now func() time.Time

	mu      sync.Mutex
	jobs    map[string]*jobTimes
	changed chan struct{} // closed and replaced on every change
}

func startWatcher(ctx context.Context, kube kubernetes.Interface, namespace, scaledJob string, now func() time.Time) (*watcher, error) {
	w := &watcher{now: now, jobs: map[string]*jobTimes{}, changed: make(chan struct{})}
	f := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = JobLabel + "=" + scaledJob }))
	jobs := f.Batch().V1().Jobs().Informer()
	pods := f.Core().V1().Pods().Informer()
	jobsReg, err := jobs.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.job(o) },
		UpdateFunc: func(_, o any) { w.job(o) },
	})
	if err != nil {
		return nil, fmt.Errorf("watching Jobs: %w", err)
	}
	podsReg, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.pod(o) },
		UpdateFunc: func(_, o any) { w.pod(o) },
	})
	if err != nil {
		return nil, fmt.Errorf("watching pods: %w", err)
	}
	f.Start(ctx.Done())
	// The handlers' own sync, not only the caches': a synced cache may not yet have
	// handed its initial list to the handlers, and the baseline reads what they saw.
	if !cache.WaitForCacheSync(ctx.Done(), jobsReg.HasSynced, podsReg.HasSynced) {
		return nil, fmt.Errorf("watching Jobs and pods in %s: the initial list did not arrive: %w", namespace, ctx.Err())
	}
	return w, nil
}

func (w *watcher) entry(name string) *jobTimes {
	j := w.jobs[name]
	if j == nil {
		j = &jobTimes{name: name, created: w.now()}
		w.jobs[name] = j
	}
	return j
}

func (w *watcher) notify() {
	close(w.changed)
	w.changed = make(chan struct{})
}

func (w *watcher) job(o any) {
	job, ok := o.(*batchv1.Job)
	if !ok {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	j := w.entry(job.Name)
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			if j.complete.IsZero() {
				j.complete = w.now()
			}
		case batchv1.JobFailed:
			if j.failed.IsZero() {
				j.failed, j.failMsg = w.now(), c.Reason+": "+c.Message
			}
		}
	}
	w.notify()
}

func (w *watcher) pod(o any) {
	pod, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	name := pod.Labels[batchv1.JobNameLabel]
	if name == "" {
		name = pod.Labels["job-name"]
	}
	if name == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	j := w.entry(name)
	if j.running.IsZero() && started(pod) {
		j.running = w.now()
	}
	w.notify()
}

// started reports whether the pod runs or ran a container: its phase is past Pending,
// or a container (a native sidecar starts before the others) is running or has run.
func started(pod *corev1.Pod) bool {
	switch pod.Status.Phase {
	case corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed:
		return true
	}
	for _, cs := range allStatuses(*pod) {
		if cs.State.Running != nil || cs.State.Terminated != nil {
			return true
		}
	}
	return false
}

// snapshot returns a copy of every Job seen, oldest first, and a channel closed at the
// next change.
func (w *watcher) snapshot() ([]jobTimes, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]jobTimes, 0, len(w.jobs))
	for _, j := range w.jobs {
		out = append(out, *j)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].created.Before(out[b].created) })
	return out, w.changed
}

// active returns the names of the Jobs that have neither completed nor failed.
func (w *watcher) active() []string {
	jobs, _ := w.snapshot()
	var names []string
	for _, j := range jobs {
		if j.active() {
			names = append(names, j.name)
		}
	}
	return names
}

// peek returns the first Job created after t that no earlier task claimed.
func (w *watcher) peek(t time.Time) (jobTimes, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if j := w.first(t); j != nil {
		return *j, true
	}
	return jobTimes{}, false
}

func (w *watcher) first(t time.Time) *jobTimes {
	var best *jobTimes
	for _, j := range w.jobs {
		if j.claimed || j.created.Before(t) {
			continue
		}
		if best == nil || j.created.Before(best.created) {
			best = j
		}
	}
	return best
}

// claim returns the first Job created after t that no earlier task claimed.
func (w *watcher) claim(t time.Time) (jobTimes, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	best := w.first(t)
	if best == nil {
		return jobTimes{}, false
	}
	best.claimed = true
	return *best, true
}

func (w *watcher) get(name string) jobTimes {
	w.mu.Lock()
	defer w.mu.Unlock()
	if j := w.jobs[name]; j != nil {
		return *j
	}
	return jobTimes{}
}

// until waits until cond holds for the watcher's state, ctx ends, or the timeout passes.
func (w *watcher) until(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		_, changed := w.snapshot()
		if cond() {
			return true
		}
		select {
		case <-changed:
		case <-t.C:
			return cond()
		case <-ctx.Done():
			return false
		}
	}
}
