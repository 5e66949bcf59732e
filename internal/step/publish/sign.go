package publish

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/attest"
)

// Signed is what Sign pushed beside the index.
type Signed struct {
	Identity   attest.Identity
	Signature  v1.Hash // referrer holding the image signature bundle
	Provenance v1.Hash // referrer holding the SLSA provenance bundle
	SBOM       v1.Hash // referrer holding the SBOM attestation bundle (zero without SBOM)
	LogEntries int     // transparency-log entries made, one per bundle
	RekorURL   string
}

// signing says whether the step signs, and if not, why not.
func (c Config) signing() (bool, string) {
	switch c.Sign {
	case SignFalse:
		return false, "the sign input is false"
	case SignTrue:
		return true, ""
	}
	if !c.IDTokenAvailable {
		return false, "the job cannot request a GitHub OIDC token (grant it `permissions: id-token: write`), or this is not GitHub Actions"
	}
	return true, ""
}

// validSigstoreURL accepts https URLs, and http only on loopback (a private instance in
// tests).
func validSigstoreURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return u.Scheme == "http" && (u.Hostname() == "localhost" || ip != nil && ip.IsLoopback())
}

// Sign signs the pushed index keylessly with the job's GitHub OIDC identity and pushes
// three Sigstore bundles as referrers of the index: the image signature, SLSA provenance
// of the build, and the SBOM as an SPDX attestation.
func Sign(ctx context.Context, a *actions.Action, cfg Config, o origin, b *Built, p *Pushed, repo name.Repository, opts ...remote.Option) (*Signed, error) {
	subject, err := partial.Descriptor(b.Index)
	if err != nil {
		return nil, err
	}
	gc, err := a.Context()
	if err != nil {
		return nil, err
	}
	server := strings.TrimSuffix(gc.ServerURL, "/")
	if server == "" {
		server = "https://github.com"
	}
	params := map[string]any{
		"package": cfg.Package, "platforms": cfg.Platforms, "base-image": cfg.Base,
		"version": b.Labels[AnnotationVersion], "tags": p.Tags, "image": repo.Name(),
	}
	internal := map[string]any{
		"github_event_name": gc.EventName, "github_run_id": fmt.Sprint(gc.RunID),
		"github_run_attempt": fmt.Sprint(gc.RunAttempt), "github_actor_id": gc.ActorID,
		"runner_os": a.Getenv("RUNNER_OS"), "runner_arch": a.Getenv("RUNNER_ARCH"),
	}
	var deps []attest.Resource
	if base, ok := b.Labels[AnnotationBaseName]; ok && base != "" {
		res := attest.Resource{URI: "oci://" + base}
		if d := b.Labels[AnnotationBaseDig]; strings.HasPrefix(d, "sha256:") {
			res.Digest = map[string]string{"sha256": strings.TrimPrefix(d, "sha256:")}
		}
		deps = append(deps, res)
	}
	build := attest.Build{
		BuilderID:    server + "/" + a.Getenv("GITHUB_WORKFLOW_REF"),
		Repository:   o.Source,
		Ref:          o.Ref,
		Commit:       o.Revision,
		Parameters:   params,
		Internal:     internal,
		Dependencies: deps,
		InvocationID: fmt.Sprintf("%s/%s/actions/runs/%d/attempts/%d", server, gc.Repository, gc.RunID, gc.RunAttempt),
		StartedOn:    time.Now(),
	}
	type stmt struct {
		predicateType string
		predicate     any
		into          *v1.Hash
	}
	out := &Signed{RekorURL: cfg.RekorURL}
	stmts := []stmt{
		{attest.PredicateSign, nil, &out.Signature},
		{attest.PredicateSLSA, attest.Provenance(build), &out.Provenance},
	}
	if len(b.SBOM) > 0 {
		stmts = append(stmts, stmt{attest.PredicateSPDX, b.SBOM, &out.SBOM})
	}
	raw := make([][]byte, len(stmts))
	for i, s := range stmts {
		if raw[i], err = attest.NewStatement(repo.Name(), p.Digest, s.predicateType, s.predicate); err != nil {
			return nil, err
		}
	}
	signer := &attest.Signer{
		FulcioURL: cfg.FulcioURL,
		RekorURL:  cfg.RekorURL,
		// Action.IDToken masks the token before anything could print it.
		IDToken: func(ctx context.Context) (string, error) { return a.IDToken(ctx, attest.Audience) },
	}
	bundles, id, err := signer.Sign(ctx, raw...)
	if err != nil {
		return nil, err
	}
	out.Identity, out.LogEntries = id, len(bundles)
	created := b.Labels[AnnotationCreated]
	for i, s := range stmts {
		if *s.into, err = attest.PushBundle(ctx, repo, *subject, bundles[i], s.predicateType, created, opts...); err != nil {
			return nil, err
		}
	}
	return out, nil
}
