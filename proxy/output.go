package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
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

// outputName is the object of one attempt's answer: a retried task stores its answer under a
// new name, so a result never points at another attempt's answer.
func outputName(taskID string, attempt int) string {
	return fmt.Sprintf("%s/attempt-%d", taskID, attempt)
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

// storeOutput stores an answer, retrying transient failures until ctx ends.
func (r *Runner) storeOutput(ctx context.Context, name string, text []byte, log *slog.Logger) (*OutputRef, error) {
	wait := 100 * time.Millisecond
	for {
		ref, err := putOutput(ctx, r.js, name, text)
		if err == nil {
			return ref, nil
		}
		if isPermanent(err) || ctx.Err() != nil {
			return nil, err
		}
		log.Warn("storing the answer in the object store failed; retrying", "object", name, "err", err)
		sleep(ctx, wait)
		wait = min(wait*2, 2*time.Second)
	}
}

func putOutput(ctx context.Context, js jetstream.JetStream, name string, text []byte) (*OutputRef, error) {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	obs, err := js.ObjectStore(pctx, OutputsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, &permanentError{fmt.Errorf("object store %s is missing: create it with `proxy bootstrap`: %w", OutputsBucket, err)}
	}
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", OutputsBucket, err)
	}
	info, err := obs.Put(pctx, jetstream.ObjectMeta{Name: name, Description: "the agent's answer"}, bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("storing %s in %s: %w", name, OutputsBucket, err)
	}
	return &OutputRef{Bucket: OutputsBucket, Name: name, Size: int64(info.Size), Digest: info.Digest,
		URI: "nats-object://" + OutputsBucket + "/" + name}, nil
}

// permanentError is a failure that retrying cannot mend: a message larger than NATS accepts,
// a stream or bucket that does not exist.
type permanentError struct{ Err error }

func (e *permanentError) Error() string { return e.Err.Error() }
func (e *permanentError) Unwrap() error { return e.Err }

// errCodeStreamNotMatch is JetStream's "expected stream does not match".
const errCodeStreamNotMatch jetstream.ErrorCode = 10060

// isPermanent reports whether err is one that retrying cannot mend.
func isPermanent(err error) bool {
	var pe *permanentError
	if errors.As(err, &pe) || errors.Is(err, nats.ErrMaxPayload) {
		return true
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode {
		case jetstream.JSErrCodeStreamMessageExceedsMaximum, jetstream.JSErrCodeStreamNotFound, errCodeStreamNotMatch:
			return true
		}
	}
	return false
}
