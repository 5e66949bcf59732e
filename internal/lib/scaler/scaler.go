package scaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Trigger metadata keys, as on KEDA's nats-jetstream trigger.
const (
	KeyStream                 = "stream"
	KeyConsumer               = "consumer"
	KeyLagThreshold           = "lagThreshold"
	KeyActivationLagThreshold = "activationLagThreshold"
)

// Defaults of KEDA's nats-jetstream trigger.
const (
	DefaultLagThreshold           = 10
	DefaultActivationLagThreshold = 0
)

// DefaultResync is how often a StreamIsActive watch re-reads the lag with no publish to
// wake it: it only catches changes no publish announces (acks, a consumer created late).
const DefaultResync = 15 * time.Second

// Metadata is what a trigger's metadata says.
type Metadata struct {
	Stream, Consumer       string
	LagThreshold           int64
	ActivationLagThreshold int64
}

// ParseMetadata reads a trigger's metadata. Keys it does not know (KEDA's scalerAddress,
// enableTLS, …) are ignored.
func ParseMetadata(m map[string]string) (Metadata, error) {
	md := Metadata{Stream: m[KeyStream], Consumer: m[KeyConsumer],
		LagThreshold: DefaultLagThreshold, ActivationLagThreshold: DefaultActivationLagThreshold}
	var errs []error
	if md.Stream == "" {
		errs = append(errs, fmt.Errorf("metadata %q is required: the JetStream stream holding the tasks", KeyStream))
	}
	if md.Consumer == "" {
		errs = append(errs, fmt.Errorf("metadata %q is required: the worker's durable consumer", KeyConsumer))
	}
	num := func(key string, dst *int64, min int64) {
		v, ok := m[key]
		if !ok || v == "" {
			return
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min {
			errs = append(errs, fmt.Errorf("metadata %s=%q: want an integer ≥ %d", key, v, min))
			return
		}
		*dst = n
	}
	num(KeyLagThreshold, &md.LagThreshold, 1)
	num(KeyActivationLagThreshold, &md.ActivationLagThreshold, 0)
	return md, errors.Join(errs...)
}

// MetricName is the metric GetMetricSpec announces for md (KEDA prefixes it with the
// trigger's index).
func (md Metadata) MetricName() string {
	return "jetstream-" + nonName.ReplaceAllString(strings.ToLower(md.Stream+"-"+md.Consumer), "-")
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// Lag is KEDA's nats-jetstream lag for a consumer: num_pending + num_ack_pending. A missing
// stream or consumer is a NotFound error, as KEDA's scaler fails then too.
func Lag(ctx context.Context, js jetstream.JetStream, stream, consumer string) (int64, error) {
	info, err := consumerInfo(ctx, js, stream, consumer)
	if err != nil {
		return 0, err
	}
	return int64(info.NumPending) + int64(info.NumAckPending), nil
}

func consumerInfo(ctx context.Context, js jetstream.JetStream, stream, consumer string) (*jetstream.ConsumerInfo, error) {
	c, err := js.Consumer(ctx, stream, consumer)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, status.Errorf(codes.NotFound, "stream %q not found", stream)
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, status.Errorf(codes.NotFound, "consumer %q not found in stream %q", consumer, stream)
	case err != nil:
		return nil, status.Errorf(codes.Unavailable, "reading consumer %q of stream %q: %v", consumer, stream, err)
	}
	return c.CachedInfo(), nil
}

// Server serves KEDA's externalscaler service from a NATS connection.
type Server struct {
	pb.UnimplementedExternalScalerServer
	NC     *nats.Conn
	JS     jetstream.JetStream
	Log    *slog.Logger
	Resync time.Duration // 0 means DefaultResync

	watching atomic.Int64
}

// Watching is the number of StreamIsActive calls currently subscribed to publishes.
func (s *Server) Watching() int { return int(s.watching.Load()) }

var _ pb.ExternalScalerServer = (*Server)(nil)

func metadata(ref *pb.ScaledObjectRef) (Metadata, error) {
	md, err := ParseMetadata(ref.GetScalerMetadata())
	if err != nil {
		return md, status.Errorf(codes.InvalidArgument, "%s/%s: %v", ref.GetNamespace(), ref.GetName(), err)
	}
	return md, nil
}

// IsActive reports whether the lag exceeds activationLagThreshold.
func (s *Server) IsActive(ctx context.Context, ref *pb.ScaledObjectRef) (*pb.IsActiveResponse, error) {
	md, err := metadata(ref)
	if err != nil {
		return nil, err
	}
	lag, err := Lag(ctx, s.JS, md.Stream, md.Consumer)
	if err != nil {
		return nil, err
	}
	return &pb.IsActiveResponse{Result: lag > md.ActivationLagThreshold}, nil
}

// GetMetricSpec announces one metric with lagThreshold as its target.
func (s *Server) GetMetricSpec(_ context.Context, ref *pb.ScaledObjectRef) (*pb.GetMetricSpecResponse, error) {
	md, err := metadata(ref)
	if err != nil {
		return nil, err
	}
	return &pb.GetMetricSpecResponse{MetricSpecs: []*pb.MetricSpec{{MetricName: md.MetricName(), TargetSize: md.LagThreshold}}}, nil
}

// GetMetrics reports the lag.
func (s *Server) GetMetrics(ctx context.Context, req *pb.GetMetricsRequest) (*pb.GetMetricsResponse, error) {
	md, err := metadata(req.GetScaledObjectRef())
	if err != nil {
		return nil, err
	}
	lag, err := Lag(ctx, s.JS, md.Stream, md.Consumer)
	if err != nil {
		return nil, err
	}
	return &pb.GetMetricsResponse{MetricValues: []*pb.MetricValue{{MetricName: req.GetMetricName(), MetricValue: lag}}}, nil
}

// settle is how long a watch woken by a publish keeps re-reading a lag still under the
// threshold: the subscriber can hear a message before the stream has stored it.
var settle = []time.Duration{2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond}

// StreamIsActive sends the current activation, then a true each time it wakes (a publish
// to the consumer's subjects, or the resync) with the lag above activationLagThreshold,
// and a false when the lag falls back (KEDA acts on the trues; it deactivates through its
// own polling). It returns when KEDA goes away.
func (s *Server) StreamIsActive(ref *pb.ScaledObjectRef, out grpc.ServerStreamingServer[pb.IsActiveResponse]) error {
	md, err := metadata(ref)
	if err != nil {
		return err
	}
	ctx := out.Context()
	log := s.logger().With("scaledObject", ref.GetNamespace()+"/"+ref.GetName(), "stream", md.Stream, "consumer", md.Consumer)
	resync := s.Resync
	if resync <= 0 {
		resync = DefaultResync
	}
	wake := make(chan struct{}, 1)
	var sub *watchSub
	defer func() {
		if sub != nil {
			sub.close()
			s.watching.Add(-1)
		}
	}()
	tick := time.NewTicker(resync)
	defer tick.Stop()

	sent, last, published := false, false, false
	for {
		if sub == nil {
			if sub, err = s.subscribe(ctx, md, wake); err != nil {
				log.Warn("not watching publishes yet; polling every resync", "err", err, "resync", resync)
			} else {
				s.watching.Add(1)
			}
		}
		active, err := s.activeAfter(ctx, md, published)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Warn("reading the lag", "err", err)
		case !sent || active || active != last:
			if err := out.Send(&pb.IsActiveResponse{Result: active}); err != nil {
				return err
			}
			sent, last = true, active
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
			published = true
		case <-tick.C:
			published = false
		}
	}
}

// activeAfter reads the activation; after a publish it re-reads for a short while until
// the stream has stored the message.
func (s *Server) activeAfter(ctx context.Context, md Metadata, published bool) (bool, error) {
	for i := 0; ; i++ {
		lag, err := Lag(ctx, s.JS, md.Stream, md.Consumer)
		if err != nil || lag > md.ActivationLagThreshold || !published || i == len(settle) {
			return err == nil && lag > md.ActivationLagThreshold, err
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(settle[i]):
		}
	}
}

type watchSub struct{ subs []*nats.Subscription }

func (w *watchSub) close() {
	if w == nil {
		return
	}
	for _, s := range w.subs {
		_ = s.Unsubscribe()
	}
}

// subscribe listens on the consumer's filter subjects (the stream's, when it filters
// none); each message only pokes wake.
func (s *Server) subscribe(ctx context.Context, md Metadata, wake chan<- struct{}) (*watchSub, error) {
	info, err := consumerInfo(ctx, s.JS, md.Stream, md.Consumer)
	if err != nil {
		return nil, err
	}
	subjects := info.Config.FilterSubjects
	if info.Config.FilterSubject != "" {
		subjects = append(subjects, info.Config.FilterSubject)
	}
	if len(subjects) == 0 {
		st, err := s.JS.Stream(ctx, md.Stream)
		if err != nil {
			return nil, err
		}
		subjects = st.CachedInfo().Config.Subjects
	}
	w := &watchSub{}
	poke := func(*nats.Msg) {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	for _, subj := range subjects {
		sub, err := s.NC.Subscribe(subj, poke)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("subscribing to %s: %w", subj, err)
		}
		w.subs = append(w.subs, sub)
	}
	// The subscription is live once the server has it: flush, so no publish from here on
	// is missed. KEDA's stream carries no deadline, and a flush needs one.
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.NC.FlushWithContext(fctx); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (s *Server) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}
