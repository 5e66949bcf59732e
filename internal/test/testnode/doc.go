// Package testnode is a Kubernetes node for tests that runs each pod's containers as
// local processes: the one piece of a cluster that cannot run here (a container
// runtime) stood in for by fork/exec, so that everything above it — the job
// controller, KEDA, Helm's hooks — works on a real API server.
//
// It is the tests' one kubelet. A Node registers a Node object (Ready, with Labels and
// without the not-ready taint), binds every pending pod to itself (there is no
// scheduler) and then behaves like a kubelet: it resolves each container's image to an
// executable through Images (an error is reported as ErrImagePull, then
// ImagePullBackOff), builds the environment from literal values and secret, config map
// and field references (a missing Secret or key is CreateContainerConfigError, with the
// kubelet's message), starts native sidecars (init containers with restartPolicy
// Always), then plain init containers to completion, then the containers, and writes
// pod status (phase, conditions, container states, pod IP) as it changes. Containers
// are restarted under the pod's restartPolicy, with CrashLoopBackOff in between. When
// the containers of a pod with restartPolicy Never or OnFailure have all succeeded the
// sidecars get SIGTERM and the pod ends Succeeded (Failed if one failed). Deleting a pod
// sends SIGTERM to its containers, SIGKILL after the grace period, then removes it.
// A container is ready once it runs: probes are not run.
//
// A test that needs pods to reach a state rather than do work (Helm's readiness waits,
// a Job's completion, a rollout) sets no Images, or a Policy: the node then stands in
// for a pod's images with a /bin/sh script in each container's place that does what a
// working image does (Healthy: a Job's pod succeeds, any other runs, ready), fails
// (Failing: Failed, or CrashLoopBackOff under restartPolicy Always or OnFailure), or
// cannot be pulled (Unpullable: ImagePullBackOff). Everything else above — environment,
// sidecars, restarts, status, deletion — is the same as for executables.
//
// What is not a container runtime: there is no file system or user isolation
// (securityContext is ignored), emptyDir volumes are temporary directories and the
// node substitutes their host path for the mount path in env values and arguments, and
// the pod network is a loopback address per pod (127.0.x.y): the node substitutes it for
// 127.0.0.1 and localhost in env values and arguments that name one of the pod's
// declared container ports, so two pods can both "listen on :3000".
package testnode
