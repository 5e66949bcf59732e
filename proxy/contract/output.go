package contract

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// OutputsBucket is the JetStream Object Store bucket holding the answers too large to travel
// in their result message. Bootstrap creates it, its objects expiring with the results.
const OutputsBucket = "AGENT_OUTPUTS"

// OutputRef points at a task's whole answer in the object store.
type OutputRef struct {
	Bucket string `json:"bucket"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	// Digest is the object store's digest of the answer: "SHA-256=" and the base64url hash.
	Digest string `json:"digest"`
	// URI names the object: nats-object://<bucket>/<name>.
	URI string `json:"uri"`
}

// OutputInfo is in a result's metadata when the answer did not travel whole in it.
type OutputInfo struct {
	// Bytes is the size of the answer the proxy kept.
	Bytes int64 `json:"bytes"`
	// DroppedBytes is what the agent sent past the output limit: lost.
	DroppedBytes int64 `json:"droppedBytes,omitempty"`
	// ExcerptBytes, when set, says the answer artifact's text part holds only this many
	// leading bytes; the whole answer is in Object.
	ExcerptBytes int        `json:"excerptBytes,omitempty"`
	Object       *OutputRef `json:"object,omitempty"`
}

// ReadOutput reads a stored answer whole. The object store checks the digest as it reads; the
// size is checked here.
func ReadOutput(ctx context.Context, js jetstream.JetStream, ref OutputRef) ([]byte, error) {
	obs, err := js.ObjectStore(ctx, ref.Bucket)
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", ref.Bucket, err)
	}
	data, err := obs.GetBytes(ctx, ref.Name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref.URI, err)
	}
	if int64(len(data)) != ref.Size {
		return nil, fmt.Errorf("reading %s: %d bytes, the result says %d", ref.URI, len(data), ref.Size)
	}
	return data, nil
}
