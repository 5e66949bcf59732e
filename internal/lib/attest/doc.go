// Package attest signs the proxy image keylessly and checks such signatures: the Sigstore
// side of the publish and deploy steps.
//
// Publish (Signer) builds in-toto statements about the image index (Statement): a
// signature statement whose predicate type is cosign's image signature
// (PredicateSign), SLSA provenance v1 (Provenance) and the SPDX SBOM (PredicateSPDX).
// Each is signed with an ephemeral key whose certificate Fulcio issues to the job's
// GitHub OIDC identity, logged in Rekor, and packed as a Sigstore bundle v0.3. Artifact
// wraps a bundle as an OCI 1.1 artifact manifest whose subject is the index, the layout
// cosign uses for its bundle format, so `cosign verify` and `cosign verify-attestation`
// read them too.
//
// Deploy (Fetch, Verify) lists the referrers of the image digest, and accepts the image
// only if one signature bundle verifies against the trusted root, was issued to the
// configured workflow identity by the configured issuer, and names exactly that digest as
// its subject. A refusal is a *RefusedError that says what did not match.
package attest
