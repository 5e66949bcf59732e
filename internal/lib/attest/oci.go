package attest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The OCI 1.1 empty descriptor, the config of every artifact manifest.
var emptyConfig = []byte("{}")

const emptyMediaType = "application/vnd.oci.empty.v1+json"

// maxBundle bounds what Fetch reads of one referrer's layer.
const maxBundle = 4 << 20

// Artifact returns an OCI 1.1 artifact manifest: artifactType, the empty config, one layer
// holding content (of mediaType, with layerAnnotations), subject = subject, and the
// manifest annotations.
func Artifact(subject v1.Descriptor, artifactType, mediaType string, content []byte, layerAnnotations, annotations map[string]string) (v1.Image, error) {
	layer := static.NewLayer(content, types.MediaType(mediaType))
	ld, err := partial.Descriptor(layer)
	if err != nil {
		return nil, err
	}
	ld.Annotations = layerAnnotations
	sum := sha256.Sum256(emptyConfig)
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config: v1.Descriptor{
			MediaType: emptyMediaType,
			Size:      int64(len(emptyConfig)),
			Digest:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])},
		},
		Layers:      []v1.Descriptor{*ld},
		Subject:     &v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest},
		Annotations: annotations,
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
		return static.NewLayer(emptyConfig, emptyMediaType), nil
	}
	return nil, fmt.Errorf("artifact has no blob %s", h)
}

// BundleArtifact is a Sigstore bundle as a referrer of subject, laid out as cosign lays
// out its bundles: artifactType and layer media type BundleMediaType, annotated with the
// statement's predicate type.
func BundleArtifact(subject v1.Descriptor, bundle []byte, predicateType, created string) (v1.Image, error) {
	ann := map[string]string{
		AnnotationContent:       "dsse-envelope",
		AnnotationPredicateType: predicateType,
	}
	if created != "" {
		ann["org.opencontainers.image.created"] = created
	}
	return Artifact(subject, BundleMediaType, BundleMediaType, bundle, nil, ann)
}

// PushBundle writes bundle as a referrer of subject in repo and returns its manifest's
// digest.
func PushBundle(ctx context.Context, repo name.Repository, subject v1.Descriptor, bundle []byte, predicateType, created string, opts ...remote.Option) (v1.Hash, error) {
	art, err := BundleArtifact(subject, bundle, predicateType, created)
	if err != nil {
		return v1.Hash{}, err
	}
	d, err := art.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	opts = append(opts, remote.WithContext(ctx))
	if err := remote.Write(repo.Digest(d.String()), art, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("pushing the %s bundle for %s: %w", predicateType, subject.Digest, err)
	}
	return d, nil
}

// Referred is one bundle found among an image's referrers.
type Referred struct {
	Manifest      v1.Hash // the referrer's manifest digest
	PredicateType string  // as annotated; the verified statement is what counts
	Bundle        []byte
}

// Fetch lists the referrers of image and returns every Sigstore bundle among them. A
// registry without the referrers API is served through the fallback tag, as go-
// containerregistry does.
func Fetch(ctx context.Context, image name.Digest, opts ...remote.Option) ([]Referred, error) {
	opts = append(opts, remote.WithContext(ctx))
	idx, err := remote.Referrers(image, opts...)
	if err != nil {
		return nil, fmt.Errorf("listing the referrers of %s: %w", image, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("listing the referrers of %s: %w", image, err)
	}
	var out []Referred
	for _, desc := range im.Manifests {
		// Registries should report the manifest's artifactType; some (go-containerregistry's
		// own) report the config's media type instead, so cosign's annotation also counts.
		// The layer's media type decides below.
		if desc.ArtifactType != BundleMediaType && desc.Annotations[AnnotationPredicateType] == "" {
			continue
		}
		ref := image.Context().Digest(desc.Digest.String())
		img, err := remote.Image(ref, opts...)
		if err != nil {
			return nil, fmt.Errorf("reading the referrer %s: %w", ref, err)
		}
		layers, err := img.Layers()
		if err != nil {
			return nil, fmt.Errorf("reading the referrer %s: %w", ref, err)
		}
		for _, l := range layers {
			if mt, err := l.MediaType(); err != nil || mt != BundleMediaType {
				continue
			}
			rc, err := l.Compressed()
			if err != nil {
				return nil, fmt.Errorf("reading the bundle in %s: %w", ref, err)
			}
			raw, err := io.ReadAll(io.LimitReader(rc, maxBundle))
			rc.Close()
			if err != nil {
				return nil, fmt.Errorf("reading the bundle in %s: %w", ref, err)
			}
			out = append(out, Referred{Manifest: desc.Digest, PredicateType: desc.Annotations[AnnotationPredicateType], Bundle: raw})
		}
	}
	return out, nil
}
