package scaler

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

func TestParseMetadata(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   map[string]string
		want Metadata
		errs []string
	}{
		{"defaults as KEDA's nats-jetstream trigger", map[string]string{"stream": "S", "consumer": "c", "scalerAddress": "x:1"},
			Metadata{Stream: "S", Consumer: "c", LagThreshold: 10, ActivationLagThreshold: 0}, nil},
		{"thresholds", map[string]string{"stream": "S", "consumer": "c", "lagThreshold": "1", "activationLagThreshold": "2"},
			Metadata{Stream: "S", Consumer: "c", LagThreshold: 1, ActivationLagThreshold: 2}, nil},
		{"missing names", map[string]string{}, Metadata{}, []string{`"stream" is required`, `"consumer" is required`}},
		{"bad thresholds", map[string]string{"stream": "S", "consumer": "c", "lagThreshold": "0", "activationLagThreshold": "x"},
			Metadata{}, []string{`lagThreshold="0"`, `activationLagThreshold="x"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMetadata(tc.in)
			if tc.errs == nil {
				if err != nil || got != tc.want {
					t.Fatalf("ParseMetadata = %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseMetadata(%v) accepted it", tc.in)
			}
			for _, e := range tc.errs {
				if !strings.Contains(err.Error(), e) {
					t.Errorf("error %q does not name %s", err, e)
				}
			}
		})
	}
}

// TestLagMatchesKEDA compares Lag with the lag KEDA's nats-jetstream scaler reads from
// /jsz for the same consumer, through pending, ack-pending and acknowledged messages.
func TestLagMatchesKEDA(t *testing.T) {
	w := newNATS(t)
	c := w.consumer(t, testWorker)
	w.consumer(t, "other")
	ctx := t.Context()

	check := func(step string, want int64) {
		t.Helper()
		var got, keda int64
		var err error
		// /jsz can trail the consumer's state briefly: wait until both agree or time out.
		for deadline := time.Now().Add(5 * time.Second); ; {
			got, err = Lag(ctx, w.js, testStream, testWorker)
			if err != nil {
				t.Fatalf("%s: Lag: %v", step, err)
			}
			var found bool
			keda, found = w.kedaLag(t, testStream, testWorker)
			if !found {
				t.Fatalf("%s: /jsz does not list consumer %s", step, testWorker)
			}
			if (got == want && keda == want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got != keda || got != want {
			t.Errorf("%s: Lag = %d, KEDA's nats-jetstream lag = %d, want both %d", step, got, keda, want)
		}
	}

	check("empty", 0)
	w.publish(t, testSubject, 3)
	w.publish(t, "agent.tasks.other", 2) // another worker's tasks are not this one's lag
	check("3 pending", 3)

	batch, err := c.Fetch(2, jetstream.FetchMaxWait(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != 2 {
		t.Fatalf("fetched %d messages, want 2", len(msgs))
	}
	check("1 pending + 2 ack-pending", 3)

	if err := msgs[0].Ack(); err != nil {
		t.Fatal(err)
	}
	check("1 pending + 1 ack-pending", 2)
	if err := msgs[1].Ack(); err != nil {
		t.Fatal(err)
	}
	check("1 pending", 1)
}

// TestLagMissing: a missing consumer or stream is an error, as in KEDA's scaler (which
// finds neither in /jsz), never a lag of 0 that would read as "idle".
func TestLagMissing(t *testing.T) {
	w := newNATS(t)
	w.consumer(t, testWorker)
	for _, tc := range []struct{ stream, consumer, msg string }{
		{testStream, "ghost", `consumer "ghost" not found in stream "AGENT_TASKS"`},
		{"NOPE", testWorker, `stream "NOPE" not found`},
	} {
		lag, err := Lag(t.Context(), w.js, tc.stream, tc.consumer)
		if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Lag(%s, %s) = %d, %v; want NotFound %q", tc.stream, tc.consumer, lag, err, tc.msg)
		}
		if _, found := w.kedaLag(t, tc.stream, tc.consumer); found {
			t.Errorf("/jsz lists %s/%s: the stand-in for KEDA's view is wrong", tc.stream, tc.consumer)
		}
	}
}

// serve runs the scaler over mutual TLS on loopback and returns its address.
func serve(t *testing.T, w *natsWorld, p *pki, resync time.Duration) string {
	t.Helper()
	addr, _ := serveWith(t, w, p, resync)
	return addr
}

func serveWith(t *testing.T, w *natsWorld, p *pki, resync time.Duration) (string, *Server) {
	t.Helper()
	cfg, err := ServerTLS(TLSFiles{Cert: p.cert, Key: p.key, ClientCA: p.ca})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &Server{NC: w.nc, JS: w.js, Resync: resync}
	go func() { done <- Serve(ctx, ln, srv, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), srv
}

func dial(t *testing.T, addr string, p *pki, cert, key string) pb.ExternalScalerClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(p.clientTLS(t, cert, key))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewExternalScalerClient(conn)
}

func ref(consumer string) *pb.ScaledObjectRef {
	return &pb.ScaledObjectRef{Name: "daedalus-" + consumer, Namespace: "daedalus",
		ScalerMetadata: map[string]string{"scalerAddress": "ignored:1", "stream": testStream, "consumer": consumer, "lagThreshold": "1"}}
}

func TestGRPCContract(t *testing.T) {
	w := newNATS(t)
	w.consumer(t, testWorker)
	p := newPKI(t)
	client := dial(t, serve(t, w, p, time.Hour), p, p.clientCert, p.clientKey)
	ctx := t.Context()

	spec, err := client.GetMetricSpec(ctx, ref(testWorker))
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.MetricSpecs) != 1 || spec.MetricSpecs[0].TargetSize != 1 || spec.MetricSpecs[0].MetricName != "jetstream-agent-tasks-copilot" {
		t.Errorf("GetMetricSpec = %v, want one metric jetstream-agent-tasks-copilot with target 1", spec.MetricSpecs)
	}
	active, err := client.IsActive(ctx, ref(testWorker))
	if err != nil || active.Result {
		t.Errorf("IsActive on an empty consumer = %v, %v; want false", active, err)
	}

	w.publish(t, testSubject, 4)
	metrics, err := client.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: ref(testWorker), MetricName: "jetstream-agent-tasks-copilot"})
	if err != nil {
		t.Fatal(err)
	}
	if len(metrics.MetricValues) != 1 || metrics.MetricValues[0].MetricValue != 4 || metrics.MetricValues[0].MetricName != "jetstream-agent-tasks-copilot" {
		t.Errorf("GetMetrics = %v, want jetstream-agent-tasks-copilot = 4", metrics.MetricValues)
	}
	active, err = client.IsActive(ctx, ref(testWorker))
	if err != nil || !active.Result {
		t.Errorf("IsActive with 4 pending = %v, %v; want true", active, err)
	}

	_, err = client.GetMetrics(ctx, &pb.GetMetricsRequest{ScaledObjectRef: ref("ghost"), MetricName: "m"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetMetrics for a missing consumer: %v, want NotFound", err)
	}
	_, err = client.IsActive(ctx, &pb.ScaledObjectRef{Name: "x", Namespace: "y", ScalerMetadata: map[string]string{"stream": testStream}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `"consumer" is required`) {
		t.Errorf("IsActive without a consumer: %v, want InvalidArgument naming it", err)
	}
}

func TestMutualTLSRefusesOtherClients(t *testing.T) {
	w := newNATS(t)
	w.consumer(t, testWorker)
	p := newPKI(t)
	addr := serve(t, w, p, time.Hour)
	for name, c := range map[string]pb.ExternalScalerClient{
		"no client certificate":              dial(t, addr, p, "", ""),
		"a certificate from another CA":      dial(t, addr, p, p.strangerCert, p.strangerKey),
		"the server's own (not client auth)": dial(t, addr, p, p.cert, p.key),
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		_, err := c.IsActive(ctx, ref(testWorker))
		cancel()
		if status.Code(err) != codes.Unavailable {
			t.Errorf("%s: IsActive = %v, want the handshake refused (Unavailable)", name, err)
		}
	}
	if _, err := ServerTLS(TLSFiles{Cert: p.cert, Key: p.key}); err == nil {
		t.Error("ServerTLS without a client CA accepted it: the scaler would admit any client")
	}
}

// TestStreamIsActiveWakesOnPublish: with a resync of an hour, only the publish can wake
// the watch, and it pushes activation.
func TestStreamIsActiveWakesOnPublish(t *testing.T) {
	w := newNATS(t)
	w.consumer(t, testWorker)
	w.consumer(t, "other")
	p := newPKI(t)
	addr, srv := serveWith(t, w, p, time.Hour)
	client := dial(t, addr, p, p.clientCert, p.clientKey)
	// No deadline, as KEDA opens the stream: the call's context never carries one.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(30 * time.Second):
			t.Error("no answer within 30 s")
			cancel()
		}
	}()
	stream, err := client.StreamIsActive(ctx, ref(testWorker))
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil || first.Result {
		t.Fatalf("first StreamIsActive message = %v, %v; want the current state, false", first, err)
	}
	if n := srv.Watching(); n != 1 {
		t.Errorf("Watching() = %d with one stream open, want 1", n)
	}
	w.publish(t, "agent.tasks.other", 1) // wakes nothing here: another worker's subject
	w.publish(t, testSubject, 1)
	got, err := stream.Recv()
	if err != nil {
		t.Fatalf("no activation pushed after a publish: %v", err)
	}
	if !got.Result {
		t.Errorf("pushed %v after a publish, want true", got)
	}
}

// TestStreamIsActiveConsumerCreatedLater: a watch opened before the worker's consumer
// exists picks it up at the next resync and then wakes on publishes.
func TestStreamIsActiveConsumerCreatedLater(t *testing.T) {
	w := newNATS(t)
	p := newPKI(t)
	client := dial(t, serve(t, w, p, 50*time.Millisecond), p, p.clientCert, p.clientKey)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := client.StreamIsActive(ctx, ref(testWorker))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a resync or two with no consumer
	w.consumer(t, testWorker)
	w.publish(t, testSubject, 1)
	for {
		got, err := stream.Recv()
		if err != nil {
			t.Fatalf("no activation pushed once the consumer exists: %v", err)
		}
		if got.Result {
			return
		}
	}
}

func TestServeStopsWithContext(t *testing.T) {
	w := newNATS(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, &Server{NC: w.nc, JS: w.js}, nil) }()
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

// TestTLSReloadsRenewedCertificates: a renewed Secret (new CA, certificate and key in the
// same files) takes effect at the next handshake without a restart; a half-written one
// keeps the previous certificates.
func TestTLSReloadsRenewedCertificates(t *testing.T) {
	w := newNATS(t)
	w.consumer(t, testWorker)
	p := newPKI(t)
	addr := serve(t, w, p, time.Hour)
	isActive := func(c pb.ExternalScalerClient) error {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err := c.IsActive(ctx, ref(testWorker))
		return err
	}
	if err := isActive(dial(t, addr, p, p.clientCert, p.clientKey)); err != nil {
		t.Fatalf("before renewal: %v", err)
	}

	renewed := newPKI(t)
	for from, to := range map[string]string{renewed.ca: p.ca, renewed.cert: p.cert, renewed.key: p.key} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Files written within the same clock tick as the first load would look unchanged.
	future := time.Now().Add(time.Minute)
	for _, f := range []string{p.ca, p.cert, p.key} {
		if err := os.Chtimes(f, future, future); err != nil {
			t.Fatal(err)
		}
	}
	if err := isActive(dial(t, addr, renewed, renewed.clientCert, renewed.clientKey)); err != nil {
		t.Errorf("a client of the renewed CA after renewal: %v", err)
	}
	if err := isActive(dial(t, addr, p, p.clientCert, p.clientKey)); status.Code(err) != codes.Unavailable {
		t.Errorf("a client of the old CA after renewal: %v, want refused", err)
	}

	if err := os.WriteFile(p.key, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := isActive(dial(t, addr, renewed, renewed.clientCert, renewed.clientKey)); err != nil {
		t.Errorf("with a half-written key the scaler stopped serving: %v", err)
	}
}
