package testnode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

type kind int

const (
	mainContainer kind = iota
	initContainer
	sidecar
)

// container is one container's process and the status the node reports for it.
type container struct {
	spec     corev1.Container
	kind     kind
	exe      string
	args     []string
	env      []string
	state    corev1.ContainerState
	restarts int32
	ready    bool
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the current process has exited
}

type pod struct {
	n       *Node
	obj     *corev1.Pod
	ip      string
	dir     string
	outcome Outcome

	mu          sync.Mutex
	containers  []*container
	phase       corev1.PodPhase
	initialized bool
	started     metav1.Time
	terminating chan struct{} // closed by terminate
	grace       time.Duration
	termOnce    sync.Once
	killed      bool
}

func newPod(n *Node, obj *corev1.Pod, ip string) *pod {
	p := &pod{n: n, obj: obj, ip: ip, outcome: n.outcome(obj), phase: corev1.PodPending, terminating: make(chan struct{}), started: metav1.Now()}
	p.dir = filepath.Join(n.Dir, "pods", obj.Namespace+"_"+obj.Name+"_"+string(obj.UID))
	for _, c := range obj.Spec.InitContainers {
		k := initContainer
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			k = sidecar
		}
		p.containers = append(p.containers, &container{spec: c, kind: k, state: waiting("PodInitializing", "")})
	}
	for _, c := range obj.Spec.Containers {
		p.containers = append(p.containers, &container{spec: c, kind: mainContainer, state: waiting("ContainerCreating", "")})
	}
	return p
}

func waiting(reason, msg string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
}

func (p *pod) key() string { return p.obj.Namespace + "/" + p.obj.Name }

// terminate starts the pod's shutdown: SIGTERM now, SIGKILL after grace.
func (p *pod) terminate(grace time.Duration) {
	p.termOnce.Do(func() {
		p.mu.Lock()
		p.grace = grace
		p.mu.Unlock()
		close(p.terminating)
	})
}

func (p *pod) isTerminating() bool {
	select {
	case <-p.terminating:
		return true
	default:
		return false
	}
}

// kill ends every process at once (the node is stopping).
func (p *pod) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killed = true
	for _, c := range p.containers {
		if c.cmd != nil && c.cmd.Process != nil {
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
}

// sleep waits d, or until the pod is terminating or ctx ends (false).
func (p *pod) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.terminating:
		return false
	case <-ctx.Done():
		return false
	}
}

func (p *pod) run(ctx context.Context) {
	if err := p.bind(ctx); err != nil {
		p.n.logf("binding pod %s: %v", p.key(), err)
		return
	}
	p.push(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if p.prepare(ctx) && p.startInit(ctx) {
			p.startMain(ctx)
		}
	}()
	select {
	case <-p.terminating:
	case <-done:
		// The pod ended on its own (a terminal pod is removed by the API server at once).
		if !p.isTerminating() {
			return
		}
	case <-ctx.Done():
		<-done
		return
	}
	p.waitEnd(ctx)
	<-done
}

func (p *pod) bind(ctx context.Context) error {
	if p.obj.Spec.NodeName != "" {
		return nil
	}
	err := p.n.Client.CoreV1().Pods(p.obj.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: p.obj.Name, Namespace: p.obj.Namespace, UID: p.obj.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: p.n.Name},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsConflict(err) {
		return err
	}
	return nil
}

// prepare resolves programs, volumes and environments, reporting the kubelet's waiting
// reasons and retrying until everything resolves or the pod is deleted.
func (p *pod) prepare(ctx context.Context) bool {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return false
	}
	for _, v := range p.obj.Spec.Volumes {
		_ = os.MkdirAll(filepath.Join(p.dir, "volumes", v.Name), 0o755)
	}
	backoff := false
	for {
		var problem bool
		for _, c := range p.containers {
			exe, args, err := p.program(ctx, c)
			if err != nil {
				reason := "ErrImagePull"
				if backoff {
					reason = "ImagePullBackOff"
				}
				p.setState(c, waiting(reason, fmt.Sprintf("Failed to pull image %q: %v", c.spec.Image, err)))
				problem = true
				continue
			}
			env, err := p.environment(ctx, c.spec)
			if err != nil {
				p.setState(c, waiting("CreateContainerConfigError", err.Error()))
				problem = true
				continue
			}
			p.mu.Lock()
			c.exe, c.args, c.env = exe, args, env
			p.mu.Unlock()
		}
		if !problem {
			return true
		}
		p.push(ctx)
		backoff = true
		if !p.sleep(ctx, 2*time.Second) {
			return false
		}
	}
}

func (p *pod) setState(c *container, s corev1.ContainerState) {
	p.mu.Lock()
	c.state = s
	p.mu.Unlock()
}

// startInit starts the sidecars and runs the plain init containers, in order.
func (p *pod) startInit(ctx context.Context) bool {
	for _, c := range p.containers {
		switch c.kind {
		case sidecar:
			p.start(ctx, c)
			p.mu.Lock()
			c.ready = true
			p.mu.Unlock()
			p.push(ctx)
			go p.supervise(ctx, c)
		case initContainer:
			for {
				p.start(ctx, c)
				p.push(ctx)
				<-c.exited
				p.push(ctx)
				if c.state.Terminated != nil && c.state.Terminated.ExitCode == 0 {
					break
				}
				if p.obj.Spec.RestartPolicy == corev1.RestartPolicyNever || !p.crashBackoff(ctx, c) {
					p.finish(ctx, corev1.PodFailed)
					return false
				}
			}
		}
	}
	p.mu.Lock()
	p.initialized = true
	p.mu.Unlock()
	return true
}

func (p *pod) startMain(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range p.containers {
		if c.kind != mainContainer {
			continue
		}
		p.start(ctx, c)
		p.mu.Lock()
		c.ready = true
		p.phase = corev1.PodRunning
		p.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.supervise(ctx, c)
		}()
	}
	p.push(ctx)
	wg.Wait()
	if p.isTerminating() || ctx.Err() != nil {
		return
	}
	// Every container has ended for good (restartPolicy Never or OnFailure).
	phase := corev1.PodSucceeded
	p.mu.Lock()
	for _, c := range p.containers {
		if c.kind == mainContainer && (c.state.Terminated == nil || c.state.Terminated.ExitCode != 0) {
			phase = corev1.PodFailed
		}
	}
	p.mu.Unlock()
	p.stopSidecars(ctx, p.gracePeriod())
	p.finish(ctx, phase)
}

func (p *pod) gracePeriod() time.Duration {
	if g := p.obj.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// supervise restarts c under the restart policy until it ends for good.
func (p *pod) supervise(ctx context.Context, c *container) {
	for {
		<-c.exited
		p.push(ctx)
		if p.isTerminating() || ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		code := c.state.Terminated.ExitCode
		p.mu.Unlock()
		restart := c.kind == sidecar || p.obj.Spec.RestartPolicy == corev1.RestartPolicyAlways ||
			(p.obj.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && code != 0)
		if c.kind == sidecar && p.allMainDone() {
			return
		}
		if !restart || !p.crashBackoff(ctx, c) {
			return
		}
		p.start(ctx, c)
		p.mu.Lock()
		c.ready = true
		p.mu.Unlock()
		p.push(ctx)
	}
}

func (p *pod) allMainDone() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.containers {
		if c.kind == mainContainer && c.state.Terminated == nil {
			return false
		}
	}
	return true
}

// crashBackoff reports CrashLoopBackOff and waits before a restart.
func (p *pod) crashBackoff(ctx context.Context, c *container) bool {
	p.mu.Lock()
	last := c.state.Terminated
	c.restarts++
	c.ready = false
	c.state = waiting("CrashLoopBackOff", fmt.Sprintf("back-off restarting failed container %s in pod %s", c.spec.Name, p.obj.Name))
	c.state.Waiting.Message += fmt.Sprintf(" (last exit code %d)", last.ExitCode)
	p.mu.Unlock()
	p.push(ctx)
	return p.sleep(ctx, p.n.RestartBackoff)
}

// start runs c's process; c.exited is closed when it ends, with c.state terminated.
func (p *pod) start(ctx context.Context, c *container) {
	cmd := exec.Command(c.exe, c.args...)
	cmd.Env = append(append(append([]string{}, p.n.Env...), "HOSTNAME="+p.obj.Name), c.env...)
	cmd.Dir = p.dir
	if c.spec.WorkingDir != "" {
		if d := p.rewrite(c.spec, c.spec.WorkingDir); d != c.spec.WorkingDir {
			cmd.Dir = d
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := p.output(c.spec.Name)
	cmd.Stdout, cmd.Stderr = out, out
	exited := make(chan struct{})
	now := metav1.Now()
	p.mu.Lock()
	c.exited = exited
	c.cmd = cmd
	err := cmd.Start()
	if err != nil {
		c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error(), StartedAt: now, FinishedAt: now}}
		p.mu.Unlock()
		close(exited)
		_ = out.Close()
		return
	}
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
	killed := p.killed
	p.mu.Unlock()
	if killed {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	go func() {
		err := cmd.Wait()
		_ = out.Close()
		code, reason := int32(0), "Completed"
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			reason = "Error"
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				code = 128 + int32(ws.Signal())
			} else {
				code = int32(ee.ExitCode())
			}
		} else if err != nil {
			code, reason = 128, "Error"
		}
		p.mu.Lock()
		c.ready = false
		c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, StartedAt: now, FinishedAt: metav1.Now()}}
		p.mu.Unlock()
		close(exited)
	}()
}

// output is the container's log file, and Node.Output with a prefix per line.
func (p *pod) output(name string) io.WriteCloser {
	path := p.n.logPath(p.obj.Namespace, p.obj.Name, name)
	_ = os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		f = nil
	}
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text() + "\n"
			if f != nil {
				_, _ = f.WriteString(line)
			}
			if p.n.Output != nil {
				p.n.outMu.Lock()
				_, _ = fmt.Fprintf(p.n.Output, "%s/%s: %s", p.key(), name, line)
				p.n.outMu.Unlock()
			}
		}
		_, _ = io.Copy(io.Discard, pr)
		if f != nil {
			_ = f.Close()
		}
	}()
	return pw
}

// rewrite maps the pod network and volume mounts of a container into the node's.
func (p *pod) rewrite(c corev1.Container, s string) string {
	for _, cc := range p.containers {
		for _, port := range cc.spec.Ports {
			ps := fmt.Sprint(port.ContainerPort)
			for _, host := range []string{"127.0.0.1:", "localhost:", "0.0.0.0:"} {
				s = strings.ReplaceAll(s, host+ps, p.ip+":"+ps)
			}
			if s == ":"+ps {
				s = p.ip + ":" + ps
			}
		}
	}
	for _, m := range c.VolumeMounts {
		if s == m.MountPath || strings.HasPrefix(s, m.MountPath+"/") {
			return filepath.Join(p.dir, "volumes", m.Name) + strings.TrimPrefix(s, m.MountPath)
		}
	}
	return s
}

// waitEnd handles the pod's deletion: SIGTERM to the containers, then the sidecars,
// SIGKILL after the grace period, the final status, and the removal from the API.
func (p *pod) waitEnd(ctx context.Context) {
	p.mu.Lock()
	grace := p.grace
	p.mu.Unlock()
	deadline := time.Now().Add(grace)
	p.signal(mainContainer, deadline)
	p.stopSidecars(ctx, time.Until(deadline))
	phase := corev1.PodSucceeded
	p.mu.Lock()
	for _, c := range p.containers {
		if c.kind == mainContainer && (c.state.Terminated == nil || c.state.Terminated.ExitCode != 0) {
			phase = corev1.PodFailed
		}
	}
	if p.phase == corev1.PodSucceeded || p.phase == corev1.PodFailed {
		phase = p.phase
	}
	p.mu.Unlock()
	p.finish(ctx, phase)
	zero := int64(0)
	_ = p.n.Client.CoreV1().Pods(p.obj.Namespace).Delete(ctx, p.obj.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &p.obj.UID},
	})
}

func (p *pod) stopSidecars(ctx context.Context, grace time.Duration) {
	p.signal(sidecar, time.Now().Add(max(grace, 0)))
	p.push(ctx)
}

// signal sends SIGTERM to the running processes of kind k and SIGKILL to those still
// running at deadline; it returns when they have all exited.
func (p *pod) signal(k kind, deadline time.Time) {
	var waits []chan struct{}
	p.mu.Lock()
	for _, c := range p.containers {
		if c.kind != k || c.cmd == nil || c.state.Running == nil {
			continue
		}
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
		waits = append(waits, c.exited)
	}
	p.mu.Unlock()
	for i, w := range waits {
		select {
		case <-w:
		case <-time.After(time.Until(deadline)):
			p.mu.Lock()
			for _, c := range p.containers {
				if c.exited == waits[i] && c.cmd != nil {
					_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
				}
			}
			p.mu.Unlock()
			<-w
		}
	}
}

func (p *pod) finish(ctx context.Context, phase corev1.PodPhase) {
	p.mu.Lock()
	p.phase = phase
	for _, c := range p.containers {
		c.ready = false // a container that never started keeps its waiting reason
	}
	p.mu.Unlock()
	p.push(ctx)
}

// push writes the pod's status, retrying on conflicts.
func (p *pod) push(ctx context.Context) {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := p.n.Client.CoreV1().Pods(p.obj.Namespace).Get(ctx, p.obj.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != p.obj.UID {
			return nil
		}
		st := p.status()
		st.QOSClass = cur.Status.QOSClass // set by the API server, immutable
		cur.Status = st
		_, err = p.n.Client.CoreV1().Pods(p.obj.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) {
		p.n.logf("writing the status of pod %s: %v", p.key(), err)
	}
}

func (p *pod) status() corev1.PodStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := metav1.Now()
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		return corev1.PodCondition{Type: t, Status: s, LastTransitionTime: now}
	}
	allReady := p.phase == corev1.PodRunning
	st := corev1.PodStatus{Phase: p.phase, HostIP: "127.0.0.1", PodIP: p.ip, PodIPs: []corev1.PodIP{{IP: p.ip}},
		HostIPs: []corev1.HostIP{{IP: "127.0.0.1"}}, StartTime: &p.started}
	for _, c := range p.containers {
		started := c.state.Running != nil
		cs := corev1.ContainerStatus{Name: c.spec.Name, Image: c.spec.Image, ImageID: c.spec.Image, State: c.state,
			Ready: c.ready, RestartCount: c.restarts, Started: &started}
		if c.state.Running != nil {
			cs.ContainerID = fmt.Sprintf("testnode://%d", c.cmd.Process.Pid)
		}
		if c.kind == mainContainer {
			st.ContainerStatuses = append(st.ContainerStatuses, cs)
			allReady = allReady && c.ready
		} else {
			st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
			if c.kind == sidecar {
				allReady = allReady && c.ready
			}
		}
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodScheduled, true), cond(corev1.PodInitialized, p.initialized),
		cond(corev1.ContainersReady, allReady), cond(corev1.PodReady, allReady),
	}
	return st
}

// describe is the pod's line in Node.Describe.
func (p *pod) describe() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var b strings.Builder
	b.WriteString(p.key())
	if p.outcome != Exec {
		fmt.Fprintf(&b, " (%s)", p.outcome)
	}
	fmt.Fprintf(&b, ": %s", p.phase)
	for _, c := range p.containers {
		s := c.state
		switch {
		case s.Waiting != nil:
			fmt.Fprintf(&b, "; %s waiting: %s", c.spec.Name, s.Waiting.Reason)
			if s.Waiting.Message != "" {
				fmt.Fprintf(&b, " (%s)", s.Waiting.Message)
			}
		case s.Running != nil:
			fmt.Fprintf(&b, "; %s running", c.spec.Name)
		case s.Terminated != nil:
			fmt.Fprintf(&b, "; %s exited %d", c.spec.Name, s.Terminated.ExitCode)
		}
		if c.restarts > 0 {
			fmt.Fprintf(&b, " (%d restarts)", c.restarts)
		}
	}
	return b.String()
}
