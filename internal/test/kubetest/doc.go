// Package kubetest starts a real Kubernetes control plane for tests: etcd and
// kube-apiserver (through controller-runtime's envtest), optionally
// kube-controller-manager running the workload controllers (Jobs, StatefulSets,
// Deployments, ReplicaSets, garbage collection), and a stand-in kubelet that moves pods
// to the phase a test chooses.
//
// The binaries come from `make kube` (mk/deploy.mk), which builds them from the Go
// module proxy and caches them outside the clone; KUBEBUILDER_ASSETS (or
// DAEDALUS_KUBE_ASSETS) points at that directory. Under `make test` a missing binary
// fails the test and names the target; under `go test -short` the test is skipped.
//
// Nothing here schedules or runs containers: without a kubelet a pod stays Pending
// forever. The stand-in kubelet (Kubelet) writes pod status instead, which is what the
// controllers and Helm's readiness checks read.
package kubetest
