// Package deploy installs Daedalus on a Kubernetes cluster: the `deploy` step of the
// pipeline (cmd/deploy, actions/deploy).
//
// It renders the chart in deploy/helm/daedalus with the Helm SDK before touching the
// cluster (so bad values, a placeholder image or a bad namespace fail with nothing
// changed), then installs or upgrades KEDA, upserts the namespace (labelled for
// workload identity) and the agent token Secret, and upgrades-or-installs the Daedalus
// release, waiting for readiness and rolling back on failure. A release left pending by
// a cancelled run is recovered once it is older than the timeout; a run cancelled
// itself marks its release failed rather than leaving it pending.
package deploy
