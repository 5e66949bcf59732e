package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/daedalus-dev/daedalus/proxy/contract"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// outputName is the object of one attempt's answer: a retried task stores its answer under a
// new name, so a result never points at another attempt's answer.
func outputName(taskID string, attempt int) string {
	return fmt.Sprintf("%s/attempt-%d", taskID, attempt)
}

// storeOutput stores an answer, retrying transient failures until ctx ends.
func (r *Runner) storeOutput(ctx context.Context, name string, text []byte, log *slog.Logger) (*contract.OutputRef, error) {
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

func putOutput(ctx context.Context, js jetstream.JetStream, name string, text []byte) (*contract.OutputRef, error) {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	obs, err := js.ObjectStore(pctx, contract.OutputsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, &permanentError{fmt.Errorf("object store %s is missing: create it with `proxy bootstrap`: %w", contract.OutputsBucket, err)}
	}
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", contract.OutputsBucket, err)
	}
	info, err := obs.Put(pctx, jetstream.ObjectMeta{Name: name, Description: "the agent's answer"}, bytes.NewReader(text))
	if err != nil {
		return nil, fmt.Errorf("storing %s in %s: %w", name, contract.OutputsBucket, err)
	}
	return &contract.OutputRef{Bucket: contract.OutputsBucket, Name: name, Size: int64(info.Size), Digest: info.Digest,
		URI: "nats-object://" + contract.OutputsBucket + "/" + name}, nil
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
