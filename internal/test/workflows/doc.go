// Package workflows holds the tests of the repository's GitHub Actions layer: the
// workflows under .github/workflows, the root action.yml that composes the steps, the
// per-step actions' wiring to their binaries, the binary fetcher actions/_bin/run and
// the release assets it downloads (scripts/release). It has no code of its own.
//
// What runs here, and against what:
//   - actionlint (the pinned build from mk/cleanup.mk; shellcheck when installed) over
//     every workflow, and over every action.yml turned into an equivalent workflow
//     (actionlint reads action metadata only through the workflows that use it).
//   - Policy: least-privilege permissions (attestations: write and, in release.yml,
//     id-token: write only in the release job), remote actions pinned by commit SHA,
//     concurrency groups and timeouts; the root action hands every step binary only
//     inputs that the step's own action.yml declares.
//   - The fetcher against a loopback release server (the documented
//     releases/download/<tag>/<asset> layout and the tags API): download, checksum
//     refusal, cache, SHA refs and floating tags, source builds, and its start-up time.
//     The attestation check is `gh attestation verify`, which needs GitHub: a gh written
//     by the test stands in for it (documented exit status 0 or 1) and records the
//     arguments, so the fetcher's decisions are tested, not the verification.
//   - A snapshot release of every cmd/<step>, fed back through the fetcher.
//   - scripts/publish-release (what release.yml runs) driving the real gh (`make gh`)
//     against a loopback stand-in for GitHub's REST and GraphQL APIs for releases,
//     release assets and git refs (fakeGitHub; gh's GH_HOST=github.localhost, routed
//     there by HTTP_PROXY), and end to end: scripts/release → publish → download →
//     sha256sum -c → the fetcher.
//   - act (nektos/act, host mode, no Docker) running the CI workflow's lint job, a
//     workflow that calls the infra composite action twice against the real terraform
//     engine with GitHub OIDC pointed at a loopback token server, and a workflow that
//     runs the root action (infra, publish, deploy; smoke off) against terraform, the
//     ACR and Entra stand-ins and a real kube-apiserver (TestActRootAction).
//
// What cannot run here: GitHub-hosted remote actions (actions/checkout, setup-go,
// cache, upload-artifact) are replaced under act by local stand-ins; Azure itself
// (Entra, ARM, AKS, ACR) is only ever a loopback stand-in; the smoke step needs KEDA and
// a node that runs images (internal/test/e2e); the sticky PR comment needs the GitHub API.
package workflows
