package kubetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Phase is what the stand-in kubelet does with a pending pod.
type Phase int

const (
	// Ready marks the pod Running with every container ready.
	Ready Phase = iota
	// Succeeded marks the pod Succeeded (every container exited 0).
	Succeeded
	// Failed marks the pod Failed (its first container exited 1).
	Failed
	// Leave leaves the pod Pending.
	Leave
)

// Policy decides what happens to a pod. DefaultPolicy completes pods owned by a Job
// and makes every other pod ready.
type Policy func(*corev1.Pod) Phase

// DefaultPolicy is the Policy of a Kubelet whose Policy is nil.
func DefaultPolicy(p *corev1.Pod) Phase {
	for _, o := range p.OwnerReferences {
		if o.Kind == "Job" {
			return Succeeded
		}
	}
	return Ready
}

// Kubelet stands in for the kubelet: it runs no containers, it writes the status a
// kubelet would write once the containers reached the phase Policy chooses. Start it
// with Run; it handles each pod once.
type Kubelet struct {
	Client kubernetes.Interface
	Policy Policy
	// Interval between polls of the pod list (default 100 ms).
	Interval time.Duration

	mu   sync.Mutex
	seen map[string]Phase
	log  bytes.Buffer
}

// Run writes pod status until ctx ends. Errors writing one pod's status are retried on
// the next poll.
func (k *Kubelet) Run(ctx context.Context) {
	interval := k.Interval
	if interval == 0 {
		interval = 100 * time.Millisecond
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		k.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Start runs the kubelet in the background until the returned stop function is called.
func (k *Kubelet) Start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// Handled reports what the kubelet did with the pod namespace/name.
func (k *Kubelet) Handled(namespace, name string) (Phase, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	p, ok := k.seen[namespace+"/"+name]
	return p, ok
}

// Log returns one line per pod status the kubelet wrote.
func (k *Kubelet) Log() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.log.String()
}

func (k *Kubelet) poll(ctx context.Context) {
	pods, err := k.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Pending"})
	if err != nil {
		return
	}
	policy := k.Policy
	if policy == nil {
		policy = DefaultPolicy
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.DeletionTimestamp != nil {
			continue
		}
		key := pod.Namespace + "/" + pod.Name + "/" + string(pod.UID)
		k.mu.Lock()
		_, done := k.seen[key]
		k.mu.Unlock()
		if done {
			continue
		}
		phase := policy(pod)
		if phase != Leave {
			setStatus(pod, phase)
			if _, err := k.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
				continue
			}
		}
		k.mu.Lock()
		if k.seen == nil {
			k.seen = map[string]Phase{}
		}
		k.seen[key] = phase
		k.seen[pod.Namespace+"/"+pod.Name] = phase
		fmt.Fprintf(&k.log, "%s/%s: %s\n", pod.Namespace, pod.Name, phaseName(phase))
		k.mu.Unlock()
	}
}

func phaseName(p Phase) string {
	switch p {
	case Ready:
		return "Running, ready"
	case Succeeded:
		return "Succeeded"
	case Failed:
		return "Failed"
	}
	return "left Pending"
}

func setStatus(pod *corev1.Pod, phase Phase) {
	now := metav1.Now()
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		return corev1.PodCondition{Type: t, Status: s, LastTransitionTime: now}
	}
	running := phase == Ready
	pod.Status.StartTime = &now
	pod.Status.HostIP = "127.0.0.1"
	pod.Status.PodIP = "127.0.0.1"
	pod.Status.Conditions = []corev1.PodCondition{
		cond(corev1.PodScheduled, true),
		cond(corev1.PodInitialized, true),
		cond(corev1.ContainersReady, running),
		cond(corev1.PodReady, running),
	}
	status := func(c corev1.Container, i int) corev1.ContainerStatus {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: running}
		switch phase {
		case Ready:
			started := true
			cs.Started = &started
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
		case Succeeded:
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}
		case Failed:
			code := int32(0)
			if i == 0 {
				code = 1
			}
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: code, Reason: "Error", StartedAt: now, FinishedAt: now}
		}
		return cs
	}
	pod.Status.InitContainerStatuses = nil
	for i, c := range pod.Spec.InitContainers {
		pod.Status.InitContainerStatuses = append(pod.Status.InitContainerStatuses, status(c, i+1))
	}
	pod.Status.ContainerStatuses = nil
	for i, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, status(c, i))
	}
	switch phase {
	case Ready:
		pod.Status.Phase = corev1.PodRunning
	case Succeeded:
		pod.Status.Phase = corev1.PodSucceeded
	case Failed:
		pod.Status.Phase = corev1.PodFailed
	}
}
