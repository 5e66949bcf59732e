package publish

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/daedalus-dev/daedalus/internal/lib/attest"
)

// Pushed is what Push put in the registry.
type Pushed struct {
	Image  string  // repository@digest of the index
	Digest v1.Hash // of the index
	Tags   []string
	SBOM   v1.Hash // digest of the SBOM artifact manifest (zero if none)
}

// Push writes the index under every tag (blobs the registry already holds are not
// uploaded again; later tags cost one manifest PUT each) and the SBOM, if any, as an OCI
// referrer of the index.
func Push(ctx context.Context, b *Built, repo name.Repository, tags []string, opts ...remote.Option) (*Pushed, error) {
	if len(tags) == 0 {
		return nil, fmt.Errorf("pushing to %s: no tags", repo)
	}
	opts = append(opts, remote.WithContext(ctx))
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return nil, fmt.Errorf("pushing to %s: %w", repo, err)
	}
	opts = append(opts, remote.Reuse(pusher))
	dig, err := b.Index.Digest()
	if err != nil {
		return nil, err
	}
	for _, t := range tags {
		tag := repo.Tag(t)
		if err := remote.WriteIndex(tag, b.Index, opts...); err != nil {
			return nil, fmt.Errorf("pushing %s: %w", tag, err)
		}
	}
	out := &Pushed{Image: repo.Digest(dig.String()).String(), Digest: dig, Tags: tags}
	if len(b.SBOM) > 0 {
		art, err := sbomArtifact(b)
		if err != nil {
			return nil, err
		}
		if out.SBOM, err = art.Digest(); err != nil {
			return nil, err
		}
		if err := remote.Write(repo.Digest(out.SBOM.String()), art, opts...); err != nil {
			return nil, fmt.Errorf("pushing the SBOM of %s: %w", out.Image, err)
		}
	}
	return out, nil
}

// sbomArtifact is an OCI 1.1 artifact manifest: artifactType application/spdx+json, the
// empty config, one layer holding the SPDX document, subject = the index.
func sbomArtifact(b *Built) (v1.Image, error) {
	subject, err := partial.Descriptor(b.Index)
	if err != nil {
		return nil, err
	}
	return attest.Artifact(*subject, SBOMMediaType, SBOMMediaType, b.SBOM,
		map[string]string{"org.opencontainers.image.title": "sbom.spdx.json"},
		map[string]string{AnnotationCreated: b.Labels[AnnotationCreated]})
}
