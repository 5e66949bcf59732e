// Package smoke is the `smoke` step: it proves a deployed Daedalus release works end to
// end and, when it does not, says which known failure it is and how to fix it.
//
// Run performs ten checks, in order:
// prerequisites (cluster reachable, release namespace, token secret), the KEDA
// scaledjobs.keda.sh CRD established, the Helm release deployed, a scale-to-zero
// baseline, publishing a task (the stream and the worker's consumer must already
// exist), the cold-start timer (publish → Job created), Job completion, the result
// check (the final result for this task id, read from the results stream), the timing
// summary and the scale-to-zero restore.
//
// Stage times come from the API server's watch events, not from polling: each stage
// ends when the event arrives (publish → Job created → first container running (the
// agent sidecar starts first) → result → Job complete). With Tasks > 1 the tasks run one after another, each from scale-to-zero,
// so every figure is a cold start; the summary reports min/median/max per stage and a
// Mermaid gantt of the median task.
//
// When a check fails, Diagnose reads what the cluster shows (pods waiting in
// ImagePullBackOff or CreateContainerConfigError, crash loops, the ScaledJob's
// conditions and KEDA's events and log lines, the JetStream stream and consumer) and
// names the known failure and its fix (docs/runbook.md, Troubleshooting, lists them).
//
// The entry point of cmd/smoke is Main.
package smoke
