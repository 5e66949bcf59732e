// Package kubetest starts a real Kubernetes control plane for tests: etcd and
// kube-apiserver (through controller-runtime's envtest) and, optionally,
// kube-controller-manager running the workload controllers (Jobs, StatefulSets,
// Deployments, ReplicaSets, garbage collection).
//
// The binaries come from `make kube` (mk/deploy.mk), which builds them from the Go
// module proxy and caches them outside the clone; KUBEBUILDER_ASSETS (or
// DAEDALUS_KUBE_ASSETS) points at that directory. Under `make test` a missing binary
// fails the test and names the target; under `go test -short` the test is skipped.
//
// Nothing here schedules or runs pods: without a kubelet a pod stays Pending forever.
// The kubelet is stood in for by internal/test/testnode, a node that runs each pod's
// containers as local processes, or stands in for their images when a test only needs
// its pods to reach a state.
package kubetest
