package attest

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
)

// Public-good Sigstore instance, the default of the publish step's fulcio-url and
// rekor-url inputs.
const (
	PublicFulcio = "https://fulcio.sigstore.dev"
	PublicRekor  = "https://rekor.sigstore.dev"
)

// Audience is the audience of the GitHub OIDC token Fulcio accepts.
const Audience = "sigstore"

// GitHubIssuer is the OIDC issuer of GitHub Actions tokens.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// Signer signs in-toto statements keylessly: an ephemeral key, a certificate Fulcio issues
// to the identity of an OIDC token, and a Rekor entry for each signature.
type Signer struct {
	FulcioURL string
	RekorURL  string
	// IDToken returns an OIDC token with audience Audience. It is asked once per Sign,
	// and must mask the token before returning it.
	IDToken func(ctx context.Context) (string, error)
	// Transport carries the requests to Fulcio; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// TrustedRoot, when set, verifies each bundle right after it is made.
	TrustedRoot root.TrustedMaterial
}

// Identity is who signed: the certificate's subject alternative name (for GitHub Actions
// the job's workflow: https://github.com/<owner>/<repo>/<path>@<ref>) and the OIDC issuer.
type Identity struct {
	Subject string
	Issuer  string
	// Extensions are the rest of the claims Fulcio copied from the token (repository,
	// commit, workflow run).
	Extensions certificate.Extensions
}

// Sign signs each statement with one ephemeral key and one Fulcio certificate, and
// returns the Sigstore bundles (JSON, v0.3) in the order of statements.
func (s *Signer) Sign(ctx context.Context, statements ...[]byte) ([][]byte, Identity, error) {
	var id Identity
	if s.IDToken == nil {
		return nil, id, errors.New("signing: no OIDC token source")
	}
	tok, err := s.IDToken(ctx)
	if err != nil {
		return nil, id, fmt.Errorf("getting an OIDC token for Fulcio: %w", err)
	}
	key, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, id, fmt.Errorf("making the signing key: %w", err)
	}
	fulcio := &onceCertificate{inner: sign.NewFulcio(&sign.FulcioOptions{
		BaseURL: s.FulcioURL, Timeout: time.Minute, Retries: 2, Transport: s.Transport,
	})}
	opts := sign.BundleOptions{
		CertificateProvider:        fulcio,
		CertificateProviderOptions: &sign.CertificateProviderOptions{IDToken: tok},
		TransparencyLogs:           []sign.Transparency{sign.NewRekor(&sign.RekorOptions{BaseURL: s.RekorURL, Timeout: time.Minute, Retries: 2})},
		Context:                    ctx,
		TrustedRoot:                s.TrustedRoot,
	}
	out := make([][]byte, 0, len(statements))
	for _, st := range statements {
		pb, err := sign.Bundle(&sign.DSSEData{Data: st, PayloadType: PayloadType}, key, opts)
		if err != nil {
			return nil, id, fmt.Errorf("signing with %s and logging in %s: %w", s.FulcioURL, s.RekorURL, err)
		}
		b, err := bundle.NewBundle(pb)
		if err != nil {
			return nil, id, fmt.Errorf("reading the bundle back: %w", err)
		}
		raw, err := b.MarshalJSON()
		if err != nil {
			return nil, id, fmt.Errorf("encoding the bundle: %w", err)
		}
		out = append(out, raw)
	}
	cert, err := x509.ParseCertificate(fulcio.der)
	if err != nil {
		return nil, id, fmt.Errorf("reading the Fulcio certificate: %w", err)
	}
	sum, err := certificate.SummarizeCertificate(cert)
	if err != nil {
		return nil, id, fmt.Errorf("reading the Fulcio certificate: %w", err)
	}
	return out, Identity{Subject: sum.SubjectAlternativeName, Issuer: sum.Extensions.Issuer, Extensions: sum.Extensions}, nil
}

// onceCertificate asks Fulcio once and hands the same certificate to every bundle of one
// Sign: one token, one certificate, one key.
type onceCertificate struct {
	inner sign.CertificateProvider
	mu    sync.Mutex
	der   []byte
}

func (o *onceCertificate) GetCertificate(ctx context.Context, key sign.Keypair, opts *sign.CertificateProviderOptions) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.der == nil {
		der, err := o.inner.GetCertificate(ctx, key, opts)
		if err != nil {
			return nil, fmt.Errorf("getting a signing certificate: %w", err)
		}
		o.der = der
	}
	return o.der, nil
}
