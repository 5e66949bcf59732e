// Package publish builds the proxy image and pushes it to Azure Container Registry with no
// Docker daemon, no az CLI and no client secret.
//
// Build compiles a main package (default ./cmd/proxy) with CGO_ENABLED=0 and -trimpath for
// every platform (default linux/amd64 and linux/arm64), lays each static binary on a base
// image (default distroless static, non-root; "scratch" for none) and assembles one OCI
// image index. The image runs as user 65532; its labels and annotations carry source,
// revision, version and creation time, and every timestamp is the commit time, so building
// the same commit twice gives a byte-identical digest. An SPDX SBOM of the binary's Go
// modules is pushed beside the index as an OCI referrer (subject = the index).
//
// Push signs in to the registry the ACR way: an Entra token (from internal/lib/azure) is
// exchanged at https://<registry>/oauth2/exchange for a refresh token, which is handed only
// to that one registry host (PinnedKeychain, PinnedTransport); layers already in the
// registry are not uploaded again. Tags default to the commit SHA, the branch or tag slug,
// pr-<N> on pull requests and latest on the default branch (Tags).
//
// Sign (when the job can request a GitHub OIDC token, or sign: true) signs the pushed
// index keylessly with the job's identity through internal/lib/attest: a Fulcio certificate,
// Rekor entries, and three Sigstore bundles pushed as referrers of the index (the image
// signature, SLSA provenance v1, the SBOM as an SPDX attestation).
//
// Main is the whole step as cmd/publish runs it: inputs → validation → sign in (step.go),
// then Run: build → push → sign (run.go), then the outputs image, digest, tags and
// signer-identity and a step summary.
package publish
