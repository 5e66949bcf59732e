package attest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// Policy is who must have signed an image.
type Policy struct {
	// Subject is the exact certificate identity (for GitHub Actions the workflow:
	// https://github.com/<owner>/<repo>/.github/workflows/<file>@<ref>).
	Subject string
	// SubjectRegexp matches the identity instead, e.g.
	// ^https://github\.com/octo/app/\.github/workflows/release\.yml@refs/tags/v.
	// Go RE2 syntax, anchored by the caller.
	SubjectRegexp string
	// Issuer is the exact OIDC issuer; default GitHubIssuer.
	Issuer string
}

// Validate checks the policy; it sets nothing.
func (p Policy) Validate() error {
	switch {
	case p.Subject == "" && p.SubjectRegexp == "":
		return errors.New("no signer identity")
	case p.Subject != "" && p.SubjectRegexp != "":
		return errors.New("both an exact identity and a regexp")
	}
	if p.SubjectRegexp != "" {
		if _, err := regexp.Compile(p.SubjectRegexp); err != nil {
			return fmt.Errorf("the identity regexp does not compile: %w", err)
		}
	}
	if p.Issuer == "" {
		return errors.New("no issuer")
	}
	return nil
}

func (p Policy) String() string {
	if p.SubjectRegexp != "" {
		return fmt.Sprintf("an identity matching %s issued by %s", p.SubjectRegexp, p.Issuer)
	}
	return fmt.Sprintf("identity %s issued by %s", p.Subject, p.Issuer)
}

func (p Policy) matches(subject, issuer string) bool {
	if issuer != p.Issuer {
		return false
	}
	if p.SubjectRegexp != "" {
		return regexp.MustCompile(p.SubjectRegexp).MatchString(subject)
	}
	return subject == p.Subject
}

// Verified is the signature that let an image through.
type Verified struct {
	Identity Identity
	Manifest v1.Hash // of the referrer that held the bundle
}

// RefusedError says why no bundle vouches for an image: one reason per bundle looked at.
type RefusedError struct {
	Image   v1.Hash
	Policy  Policy
	Reasons []string
}

func (e *RefusedError) Error() string {
	if len(e.Reasons) == 0 {
		return fmt.Sprintf("image %s has no Sigstore signature among its referrers: nothing vouches that it was built by %s", e.Image, e.Policy)
	}
	return fmt.Sprintf("no valid signature of image %s by %s: %s", e.Image, e.Policy, strings.Join(e.Reasons, "; "))
}

// Verify accepts image when one of the bundles is a valid image signature (predicate
// type PredicateSign) whose certificate chains to trusted, was logged in its
// transparency log, was issued to the policy's identity, and whose statement names image
// as its subject. Attestations (provenance, SBOM) do not count as signatures. A refusal
// is a *RefusedError.
func Verify(trusted root.TrustedMaterial, image v1.Hash, refs []Referred, p Policy) (*Verified, error) {
	opts := []verify.VerifierOption{verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1)}
	if len(trusted.CTLogs()) > 0 {
		// A trusted root that names certificate transparency logs (the public-good one
		// does) also requires the certificate's embedded SCT.
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	v, err := verify.NewVerifier(trusted, opts...)
	if err != nil {
		return nil, fmt.Errorf("setting up the verifier: %w", err)
	}
	want, err := hex.DecodeString(image.Hex)
	if err != nil || image.Algorithm != "sha256" {
		return nil, fmt.Errorf("image digest %s is not a sha256 digest", image)
	}
	refused := &RefusedError{Image: image, Policy: p}
	for _, r := range refs {
		reason, id := check(v, r, image, want, p)
		if reason == "" {
			return &Verified{Identity: id, Manifest: r.Manifest}, nil
		}
		if reason != skip {
			refused.Reasons = append(refused.Reasons, fmt.Sprintf("bundle %s: %s", r.Manifest, reason))
		}
	}
	return nil, refused
}

// skip is the reason of a valid bundle that is an attestation, not a signature.
const skip = "\x00skip"

// check returns "" and the signer when r vouches for image under p, else why not.
func check(v *verify.Verifier, r Referred, image v1.Hash, want []byte, p Policy) (string, Identity) {
	var id Identity
	var b bundle.Bundle
	if err := b.UnmarshalJSON(r.Bundle); err != nil {
		return fmt.Sprintf("not a Sigstore bundle: %v", err), id
	}
	// First the cryptography alone, so that each mismatch below can be named.
	res, err := v.Verify(&b, verify.NewPolicy(verify.WithoutArtifactUnsafe(), verify.WithoutIdentitiesUnsafe()))
	if err != nil {
		return fmt.Sprintf("does not verify against the trusted root (tampered, or signed elsewhere): %v", err), id
	}
	if res.Statement == nil {
		return "holds no in-toto statement", id
	}
	if res.Signature == nil || res.Signature.Certificate == nil {
		return "is not signed with a certificate", id
	}
	cert := res.Signature.Certificate
	id = Identity{Subject: cert.SubjectAlternativeName, Issuer: cert.Issuer, Extensions: cert.Extensions}
	if pt := res.Statement.GetPredicateType(); pt != PredicateSign {
		return skip, id
	}
	var subjects []string
	for _, s := range res.Statement.GetSubject() {
		subjects = append(subjects, "sha256:"+s.GetDigest()["sha256"])
	}
	found := false
	for _, s := range res.Statement.GetSubject() {
		if got, err := hex.DecodeString(s.GetDigest()["sha256"]); err == nil && bytes.Equal(got, want) {
			found = true
		}
	}
	if !found {
		return fmt.Sprintf("signs %s, not the image %s (a signature copied from another image)", strings.Join(subjects, ", "), image), id
	}
	if !p.matches(id.Subject, id.Issuer) {
		return fmt.Sprintf("signed by %s (issuer %s), not by %s", id.Subject, id.Issuer, p), id
	}
	// Then once more with the whole policy through sigstore-go, so that its checks, not
	// only the ones above, decide.
	ci, err := verify.NewShortCertificateIdentity(p.Issuer, "", p.Subject, p.SubjectRegexp)
	if err != nil {
		return fmt.Sprintf("policy: %v", err), id
	}
	if _, err := v.Verify(&b, verify.NewPolicy(verify.WithArtifactDigest("sha256", want), verify.WithCertificateIdentity(ci))); err != nil {
		return fmt.Sprintf("does not verify under the policy: %v", err), id
	}
	return "", id
}

// LoadTrustedRoot reads a trusted_root.json (Sigstore's TrustedRoot, JSON).
func LoadTrustedRoot(path string) (root.TrustedMaterial, error) {
	tr, err := root.NewTrustedRootFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("reading the trusted root %s: %w", path, err)
	}
	return tr, nil
}

// PublicTrustedRoot fetches the public-good instance's trusted root through Sigstore's
// TUF repository (verified from the root embedded in sigstore-go, cached in
// ~/.sigstore/root).
func PublicTrustedRoot() (root.TrustedMaterial, error) {
	tr, err := root.FetchTrustedRoot()
	if err != nil {
		return nil, fmt.Errorf("fetching the Sigstore public-good trusted root over TUF: %w", err)
	}
	return tr, nil
}
