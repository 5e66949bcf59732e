package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
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

// emptyConfig is the OCI 1.1 empty descriptor's content.
var emptyConfig = []byte("{}")

// sbomArtifact is an OCI 1.1 artifact manifest: artifactType application/spdx+json, the
// empty config, one layer holding the SPDX document, subject = the index.
func sbomArtifact(b *Built) (v1.Image, error) {
	layer := static.NewLayer(b.SBOM, types.MediaType(SBOMMediaType))
	ld, err := partial.Descriptor(layer)
	if err != nil {
		return nil, err
	}
	ld.Annotations = map[string]string{"org.opencontainers.image.title": "sbom.spdx.json"}
	subject, err := partial.Descriptor(b.Index)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(emptyConfig)
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  SBOMMediaType,
		Config: v1.Descriptor{
			MediaType: "application/vnd.oci.empty.v1+json",
			Size:      int64(len(emptyConfig)),
			Digest:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])},
		},
		Layers:      []v1.Descriptor{*ld},
		Subject:     &v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest},
		Annotations: map[string]string{AnnotationCreated: b.Labels[AnnotationCreated]},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&artifact{manifest: raw, layer: layer})
}

type artifact struct {
	manifest []byte
	layer    v1.Layer
}

func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *artifact) RawConfigFile() ([]byte, error)      { return emptyConfig, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if d, err := a.layer.Digest(); err == nil && d == h {
		return a.layer, nil
	}
	sum := sha256.Sum256(emptyConfig)
	if h.Hex == hex.EncodeToString(sum[:]) {
		return static.NewLayer(emptyConfig, "application/vnd.oci.empty.v1+json"), nil
	}
	return nil, fmt.Errorf("artifact has no blob %s", h)
}
