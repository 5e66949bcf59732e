package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the proxy's Prometheus metrics. Each Runner has its own registry, so tests and
// several runners in one process do not collide.
type Metrics struct {
	Registry *prometheus.Registry
	tasks    *prometheus.CounterVec
	outcomes *prometheus.CounterVec
	duration *prometheus.HistogramVec
	dispatch prometheus.Histogram
	inFlight prometheus.Gauge
}

// NewMetrics registers the proxy's metrics and the Go runtime's in a new registry.
func NewMetrics(worker string) *Metrics {
	labels := prometheus.Labels{"worker": worker}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daedalus_proxy_deliveries_total", Help: "Task deliveries handled, by what the proxy did with them.", ConstLabels: labels,
		}, []string{"action"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daedalus_proxy_results_total", Help: "Final results published, by A2A state.", ConstLabels: labels,
		}, []string{"state"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "daedalus_proxy_task_seconds", Help: "Time from receiving a task to settling it.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 12),
		}, []string{"action"}),
		dispatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "daedalus_proxy_dispatch_seconds", Help: "Time from a task's publish to its prompt reaching the agent.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.001, 3, 12),
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "daedalus_proxy_tasks_in_flight", Help: "Tasks being worked on.", ConstLabels: labels,
		}),
	}
	m.Registry.MustRegister(m.tasks, m.outcomes, m.duration, m.dispatch, m.inFlight,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// Serve serves /healthz (200 while NATS is connected, 503 otherwise) and /metrics on addr
// until ctx ends.
func Serve(ctx context.Context, addr string, nc *nats.Conn, m *Metrics, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if s := nc.Status(); s != nats.CONNECTED {
			http.Error(w, "nats "+s.String(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s for /healthz and /metrics: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("serving /healthz and /metrics", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving /healthz and /metrics: %w", err)
	}
	return nil
}
