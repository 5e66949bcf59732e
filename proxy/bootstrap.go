package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/daedalus-dev/daedalus/proxy/contract"
	"github.com/nats-io/nats.go/jetstream"
)

// attemptsMetaKey is the consumer metadata key that holds a worker's attempt budget.
const attemptsMetaKey = "daedalus.max_attempts"

// BootstrapConfig says which streams and consumers Bootstrap creates.
type BootstrapConfig struct {
	NATS    NATSConfig
	Workers []string
	// AckWait is the consumers' ack wait; the proxy heartbeats at a third of it.
	AckWait time.Duration
	// MaxAttempts is how many times a task is run before it is answered as failed.
	MaxAttempts int
	// Replicas is the streams' replica count (3 on a 3-node JetStream cluster).
	Replicas int
	// TaskMaxAge, ResultMaxAge and StatusMaxAge bound how long messages are kept.
	TaskMaxAge, ResultMaxAge, StatusMaxAge time.Duration
	// DuplicateWindow is how long AGENT_RESULTS remembers a task id, so a redelivered task
	// cannot store a second result.
	DuplicateWindow time.Duration
}

// Validate checks the bootstrap settings.
func (c BootstrapConfig) Validate() error {
	errs := []error{c.NATS.Validate()}
	if len(c.Workers) == 0 {
		errs = append(errs, errors.New("DAEDALUS_WORKERS (--workers) is empty: name at least one worker, e.g. copilot"))
	}
	for _, w := range c.Workers {
		if err := validToken(w); err != nil {
			errs = append(errs, fmt.Errorf("DAEDALUS_WORKERS (--workers): worker %w", err))
		}
	}
	if c.AckWait < time.Second {
		errs = append(errs, fmt.Errorf("DAEDALUS_ACK_WAIT (--ack-wait) is %s: use at least 1s", c.AckWait))
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 100 {
		errs = append(errs, fmt.Errorf("DAEDALUS_MAX_ATTEMPTS (--max-attempts) is %d: use 1 to 100", c.MaxAttempts))
	}
	if c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5 {
		errs = append(errs, fmt.Errorf("DAEDALUS_STREAM_REPLICAS (--replicas) is %d: use 1, 3 or 5", c.Replicas))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--task-max-age", c.TaskMaxAge}, {"--result-max-age", c.ResultMaxAge}, {"--status-max-age", c.StatusMaxAge}, {"--duplicate-window", c.DuplicateWindow}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", d.name, d.v))
		}
	}
	if c.DuplicateWindow > c.ResultMaxAge {
		errs = append(errs, fmt.Errorf("--duplicate-window (%s) cannot exceed --result-max-age (%s)", c.DuplicateWindow, c.ResultMaxAge))
	}
	return errors.Join(errs...)
}

// ParseBootstrapConfig builds a BootstrapConfig from args and the environment.
func ParseBootstrapConfig(args []string, getenv func(string) string, usage io.Writer) (BootstrapConfig, error) {
	var c BootstrapConfig
	var workers string
	e := newEnvFlags("proxy bootstrap", usage)
	e.natsFlags(&c.NATS)
	e.str(&workers, "workers", "DAEDALUS_WORKERS", "copilot", "comma-separated worker names; one consumer each")
	e.dur(&c.AckWait, "ack-wait", "DAEDALUS_ACK_WAIT", 60*time.Second, "consumer ack wait (the proxy heartbeats at a third of it)")
	e.int(&c.MaxAttempts, "max-attempts", "DAEDALUS_MAX_ATTEMPTS", 3, "runs of a task before it is answered as failed")
	e.int(&c.Replicas, "replicas", "DAEDALUS_STREAM_REPLICAS", 1, "stream replicas (3 on a 3-node JetStream cluster)")
	e.dur(&c.TaskMaxAge, "task-max-age", "DAEDALUS_TASK_MAX_AGE", time.Hour, "how long an unclaimed task is kept")
	e.dur(&c.ResultMaxAge, "result-max-age", "DAEDALUS_RESULT_MAX_AGE", 7*24*time.Hour, "how long results are kept")
	e.dur(&c.StatusMaxAge, "status-max-age", "DAEDALUS_STATUS_MAX_AGE", 24*time.Hour, "how long status events are kept")
	e.dur(&c.DuplicateWindow, "duplicate-window", "DAEDALUS_DUPLICATE_WINDOW", time.Hour, "how long a task id's result is deduplicated")
	if err := e.parse(args, getenv); err != nil {
		return c, err
	}
	for _, w := range strings.Split(workers, ",") {
		if w = strings.TrimSpace(w); w != "" {
			c.Workers = append(c.Workers, w)
		}
	}
	return c, nil
}

// Bootstrap creates or updates the three streams, the outputs object store (its objects
// expire with the results) and one durable pull consumer per worker. It is idempotent:
// running it again, or against streams created by hand, converges them.
//
// Each consumer is named after its worker and filters agent.tasks.<worker>: the consumer KEDA
// watches is the one the proxy acks. It allows MaxAttempts+2 deliveries: the ones past
// MaxAttempts never run the agent, they only publish the final failed result, so even a proxy
// killed on the last attempt leaves a delivery that answers the requester.
func Bootstrap(ctx context.Context, js jetstream.JetStream, c BootstrapConfig, log *slog.Logger) error {
	streams := []jetstream.StreamConfig{
		{
			Name: contract.TasksStream, Subjects: []string{contract.TasksPrefix + ">"}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld, MaxAge: c.TaskMaxAge,
			MaxMsgs: -1, MaxBytes: -1, Replicas: c.Replicas,
			Description: "Daedalus agent tasks (A2A message/send), one subject per worker",
		},
		{
			Name: contract.ResultsStream, Subjects: []string{contract.ResultsPrefix + ">"}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld, MaxAge: c.ResultMaxAge,
			MaxMsgs: -1, MaxBytes: -1, Replicas: c.Replicas, Duplicates: c.DuplicateWindow,
			Description: "Daedalus final results (A2A Task), one per task id",
		},
		{
			Name: contract.StatusStream, Subjects: []string{contract.StatusPrefix + ">"}, Storage: jetstream.FileStorage,
			Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld, MaxAge: c.StatusMaxAge,
			MaxMsgs: -1, MaxBytes: -1, Replicas: c.Replicas,
			Description: "Daedalus task progress (A2A status-update events)",
		},
	}
	for _, s := range streams {
		if _, err := js.CreateOrUpdateStream(ctx, s); err != nil {
			return fmt.Errorf("creating or updating stream %s: %w", s.Name, err)
		}
		log.Info("stream ready", "stream", s.Name, "subjects", s.Subjects)
	}
	if _, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: contract.OutputsBucket, Description: "Daedalus answers too large for their result message",
		TTL: c.ResultMaxAge, Storage: jetstream.FileStorage, Replicas: c.Replicas,
	}); err != nil {
		return fmt.Errorf("creating or updating object store %s: %w", contract.OutputsBucket, err)
	}
	log.Info("object store ready", "bucket", contract.OutputsBucket, "ttl", c.ResultMaxAge)
	for _, w := range c.Workers {
		cc := ConsumerConfig(w, c.AckWait, c.MaxAttempts)
		if _, err := js.CreateOrUpdateConsumer(ctx, contract.TasksStream, cc); err != nil {
			return fmt.Errorf("creating or updating consumer %s on %s: %w", w, contract.TasksStream, err)
		}
		log.Info("consumer ready", "stream", contract.TasksStream, "consumer", w, "filter", cc.FilterSubject,
			"ack_wait", c.AckWait, "max_attempts", c.MaxAttempts, "max_deliver", cc.MaxDeliver)
	}
	return nil
}

// ConsumerConfig is the durable pull consumer of one worker.
func ConsumerConfig(worker string, ackWait time.Duration, maxAttempts int) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       worker,
		Description:   "Daedalus tasks for worker " + worker + " (watched by KEDA, acked by the proxy)",
		FilterSubject: contract.TaskSubject(worker),
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       ackWait,
		MaxDeliver:    maxAttempts + 2,
		MaxAckPending: -1,
		Metadata:      map[string]string{attemptsMetaKey: strconv.Itoa(maxAttempts)},
	}
}

// maxAttempts reads a consumer's attempt limit: the value Bootstrap stored, else (for a
// consumer made by hand, e.g. with --max-deliver=3) its MaxDeliver, else 3.
func maxAttempts(ci *jetstream.ConsumerInfo) int {
	if n, err := strconv.Atoi(ci.Config.Metadata[attemptsMetaKey]); err == nil && n > 0 {
		return n
	}
	if ci.Config.MaxDeliver > 0 {
		return ci.Config.MaxDeliver
	}
	return 3
}
