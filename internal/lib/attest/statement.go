package attest

import (
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Media types and predicate types of what Signer produces.
const (
	// BundleMediaType is the artifact type (and layer media type) of a pushed bundle.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// PayloadType is the DSSE payload type of an in-toto statement.
	PayloadType = "application/vnd.in-toto+json"
	// StatementType is the in-toto statement version.
	StatementType = "https://in-toto.io/Statement/v1"

	// PredicateSign marks a statement that signs the image itself, the predicate type
	// cosign's bundle format gives image signatures.
	PredicateSign = "https://sigstore.dev/cosign/sign/v1"
	// PredicateSLSA is SLSA provenance v1.
	PredicateSLSA = "https://slsa.dev/provenance/v1"
	// PredicateSPDX is an SPDX document.
	PredicateSPDX = "https://spdx.dev/Document"
)

// Annotations of a bundle's artifact manifest, as cosign writes them.
const (
	AnnotationContent       = "dev.sigstore.bundle.content"
	AnnotationPredicateType = "dev.sigstore.bundle.predicateType"
)

// Statement is an in-toto statement v1.
type Statement struct {
	Type          string          `json:"_type"`
	Subject       []Subject       `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// Subject is one artifact a statement is about.
type Subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// NewStatement returns the statement that predicate (of predicateType) holds for the
// image name@digest. A nil predicate is an empty object.
func NewStatement(name string, digest v1.Hash, predicateType string, predicate any) ([]byte, error) {
	raw := json.RawMessage("{}")
	switch p := predicate.(type) {
	case nil:
	case []byte:
		raw = p
	default:
		b, err := json.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encoding the %s predicate: %w", predicateType, err)
		}
		raw = b
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("the %s predicate is not JSON", predicateType)
	}
	return json.Marshal(Statement{
		Type:          StatementType,
		Subject:       []Subject{{Name: name, Digest: map[string]string{digest.Algorithm: digest.Hex}}},
		PredicateType: predicateType,
		Predicate:     raw,
	})
}
