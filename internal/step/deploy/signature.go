package deploy

import (
	"context"
	"fmt"
	"os"
	"regexp"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/attest"
)

// Signature is the optional signature requirement on the proxy image: an admission-free
// check in the step, before anything reaches the cluster. It is not admission control:
// whoever can create pods in the namespace by other means is not stopped by it.
type Signature struct {
	// Required turns the check on (verify-signature: true).
	Required bool
	// Policy is who must have signed (signer-identity or signer-identity-regexp, and
	// signer-issuer).
	Policy attest.Policy
	// TrustedRoot is a trusted_root.json; "" means the Sigstore public-good instance's
	// root, fetched and verified over TUF.
	TrustedRoot string
}

// validate checks the inputs of the signature requirement (part of Config.Validate).
func (s Signature) validate(proxyImage string) []error {
	var errs []error
	bad := func(input, problem, fix string) { errs = append(errs, actions.Invalid(input, problem, fix)) }
	if !s.Required {
		if s.Policy.Subject != "" || s.Policy.SubjectRegexp != "" || s.TrustedRoot != "" {
			bad(InputVerifySignature, "is not true, but signer-identity, signer-identity-regexp or trusted-root is set",
				"set verify-signature: true to require the signature, or drop the signer inputs")
		}
		return errs
	}
	if proxyImage == "" {
		bad(InputProxyImage, "is empty, but verify-signature is true", "set proxy-image to the image publish pushed (its image output, repository@sha256:…)")
	}
	p := s.Policy
	switch {
	case p.Subject == "" && p.SubjectRegexp == "":
		bad(InputSignerIdentity, "is empty, but verify-signature is true",
			"set it to the workflow that signs the image, e.g. https://github.com/<owner>/<repo>/.github/workflows/release.yml@refs/heads/main (publish's signer-identity output)")
	case p.Subject != "" && p.SubjectRegexp != "":
		bad(InputSignerIdentityRegexp, "is set together with signer-identity", "set one of them")
	case p.SubjectRegexp != "":
		if _, err := regexp.Compile(p.SubjectRegexp); err != nil {
			bad(InputSignerIdentityRegexp, fmt.Sprintf("does not compile: %v", err), `use a Go regular expression anchored with ^, e.g. ^https://github\.com/octo/app/\.github/workflows/release\.yml@refs/tags/v`)
		}
	}
	if p.Issuer == "" {
		bad(InputSignerIssuer, "is empty", "leave it unset for GitHub Actions ("+attest.GitHubIssuer+")")
	}
	if s.TrustedRoot != "" {
		if _, err := os.Stat(s.TrustedRoot); err != nil {
			bad(InputTrustedRoot, fmt.Sprintf("%s cannot be read: %v", s.TrustedRoot, err), "give the path of a Sigstore trusted_root.json, or leave it empty for the public-good instance")
		}
	}
	return errs
}

// VerifiedImage is the proxy image that passed the check, pinned by digest.
type VerifiedImage struct {
	Image    string // repository@sha256:…, what deploy rolls out
	Identity attest.Identity
}

// verifySignature resolves the proxy image's digest, fetches its referrers and refuses
// the image unless one Sigstore bundle among them is a valid signature of exactly that
// digest by the configured identity. It changes nothing anywhere.
func verifySignature(ctx context.Context, cfg Config, deps Deps) (*VerifiedImage, error) {
	ref, err := name.ParseReference(cfg.ProxyImage)
	if err != nil {
		return nil, actions.Invalid(InputProxyImage, err.Error(), "use registry/name@sha256:…")
	}
	var opts []remote.Option
	if deps.Registry != nil {
		if opts, err = deps.Registry(ctx, ref.Context().Registry); err != nil {
			return nil, err
		}
	}
	opts = append(opts, remote.WithContext(ctx), remote.WithUserAgent("daedalus-deploy"))
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", ref, err)
	}
	if d, ok := ref.(name.Digest); ok && d.DigestStr() != desc.Digest.String() {
		return nil, fmt.Errorf("the registry serves %s for %s", desc.Digest, ref)
	}
	digest := ref.Context().Digest(desc.Digest.String())
	refs, err := attest.Fetch(ctx, digest, opts...)
	if err != nil {
		return nil, err
	}
	var trusted root.TrustedMaterial
	switch {
	case deps.TrustedRoot != nil:
		trusted, err = deps.TrustedRoot()
	case cfg.Signature.TrustedRoot != "":
		trusted, err = attest.LoadTrustedRoot(cfg.Signature.TrustedRoot)
	default:
		trusted, err = attest.PublicTrustedRoot()
	}
	if err != nil {
		return nil, err
	}
	v, err := attest.Verify(trusted, desc.Digest, refs, cfg.Signature.Policy)
	if err != nil {
		return nil, fmt.Errorf("refusing to deploy %s: %w", ref, err)
	}
	return &VerifiedImage{Image: digest.String(), Identity: v.Identity}, nil
}
