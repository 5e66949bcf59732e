package testnode

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Outcome is what a pod's containers do. Exec runs their images; the others stand in
// for the images with a /bin/sh script in each container's place, so a test that only
// needs its pods to reach a state needs no executables, and the pod still goes through
// the node's states, restarts and shutdown.
type Outcome int

const (
	// Exec runs each container's image, resolved to an executable through Images.
	Exec Outcome = iota
	// Healthy containers do what a working image does: plain init containers and the
	// containers of a pod that runs to completion (restartPolicy Never or OnFailure)
	// exit 0; native sidecars and the containers of a pod that restarts them (Always)
	// run until SIGTERM. A Job's pod ends Succeeded; the pod of a Deployment,
	// StatefulSet or DaemonSet runs, ready.
	Healthy
	// Failing is Healthy but for the pod's first container, which exits 1: a pod with
	// restartPolicy Never ends Failed, any other restarts it in CrashLoopBackOff.
	Failing
	// Unpullable images cannot be pulled: the containers wait in ErrImagePull, then
	// ImagePullBackOff, and the pod stays Pending.
	Unpullable
)

func (o Outcome) String() string {
	switch o {
	case Exec:
		return "Exec"
	case Healthy:
		return "Healthy"
	case Failing:
		return "Failing"
	case Unpullable:
		return "Unpullable"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Policy chooses the Outcome of a pod when the node first sees it.
type Policy func(*corev1.Pod) Outcome

// The stand-in scripts; $0 is the image they stand in for.
const (
	serveScript  = `trap 'exit 0' TERM; echo "standing in for $0: running until SIGTERM"; while :; do sleep 1; done`
	finishScript = `echo "standing in for $0: done"`
	failScript   = `echo "standing in for $0: failing" >&2; exit 1`
)

var errUnpullable = errors.New("not found (the node's Policy made it Unpullable)")

func (n *Node) outcome(pod *corev1.Pod) Outcome {
	switch {
	case n.Policy != nil:
		return n.Policy(pod)
	case n.Images != nil:
		return Exec
	}
	return Healthy
}

// program resolves what c runs: its image's executable with the container's command
// and arguments, or a stand-in script. An error means the image cannot be pulled.
func (p *pod) program(ctx context.Context, c *container) (exe string, args []string, err error) {
	switch p.outcome {
	case Exec:
		if p.n.Images == nil {
			return "", nil, errors.New("the node has no Images to resolve it")
		}
		if exe, err = p.n.Images(ctx, c.spec.Image); err != nil {
			return "", nil, err
		}
		if len(c.spec.Command) > 1 {
			args = append(args, c.spec.Command[1:]...)
		}
		args = append(args, c.spec.Args...)
		for i := range args {
			args[i] = p.rewrite(c.spec, args[i])
		}
		return exe, args, nil
	case Unpullable:
		return "", nil, errUnpullable
	}
	return "/bin/sh", []string{"-c", p.script(c), c.spec.Image}, nil
}

// script is what c does under the pod's stand-in outcome.
func (p *pod) script(c *container) string {
	switch c.kind {
	case sidecar:
		return serveScript
	case initContainer:
		return finishScript
	}
	if p.outcome == Failing && c.spec.Name == p.obj.Spec.Containers[0].Name {
		return failScript
	}
	if rp := p.obj.Spec.RestartPolicy; rp == corev1.RestartPolicyNever || rp == corev1.RestartPolicyOnFailure {
		return finishScript
	}
	return serveScript
}
