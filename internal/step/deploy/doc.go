// Package deploy installs Daedalus on a Kubernetes cluster: the `deploy` step of the
// pipeline (cmd/deploy, actions/deploy).
//
// With verify-signature (Signature), it first refuses a proxy image that carries no valid
// Sigstore signature by the configured workflow identity (internal/lib/attest; an
// admission-free check in the step, not admission control) and deploys the verified image
// by digest. It renders the chart in deploy/helm/daedalus with the Helm SDK before touching the
// cluster (so bad values, a placeholder image or a bad namespace fail with nothing
// changed), then makes sure of KEDA (AKS's managed add-on is checked, not installed; with
// Helm, the KEDA chart that KEDA's compatibility table gives for the cluster's Kubernetes
// minor is installed, and a pin that does not fit is refused), upserts the namespace and
// the agent token Secret, in push mode generates or renews the certificates KEDA and the
// scaler authenticate each other with (EnsureScalerTLS; Secrets it did not create are left
// alone), and upgrades-or-installs the Daedalus release (with a workload identity client
// id, its worker pods labelled for AKS's workload identity webhook), waiting for
// readiness and rolling back on failure. A release left pending by
// a cancelled run is recovered once it is older than the timeout; a run cancelled
// itself marks its release failed rather than leaving it pending.
package deploy
