// Package e2e holds `make e2e`: the whole Daedalus pipeline on one machine, no cloud.
//
// Real engines throughout: kube-apiserver, etcd and kube-controller-manager (the job
// controller) from internal/test/kubetest, the KEDA operator built from the KEDA Go module
// and run out of cluster against that API server, NATS JetStream embedded in the test,
// and an in-process OCI registry. The publish step's build and push put the proxy and
// reference-agent images in that registry, the deploy step installs the chart in KEDA
// mode, and the smoke step runs its checks. Only the container runtime is stood in for:
// internal/test/testnode pulls each image from the registry and runs its entrypoint as a
// local process.
//
// Two stand-ins for cluster networking, each for what a cluster would do: the KEDA
// operator reaches the external NATS server's monitoring endpoint (a name set with
// nats.externalMonitoringEndpoint) through an HTTP proxy (HTTP_PROXY, which KEDA's HTTP
// client honours) that routes it to the embedded server's monitor; and the chart's NATS is
// disabled (nats.externalUrl points at the embedded server), because its StatefulSet
// would need the nats image to run.
//
// The tests carry the build tag e2e, so a plain `go test ./...` does not build them;
// `make e2e` and `make test` build every engine and run them with -tags e2e.
package e2e
