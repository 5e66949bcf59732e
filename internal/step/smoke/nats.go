package smoke

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/daedalus-dev/daedalus/internal/lib/redact"
	"github.com/daedalus-dev/daedalus/proxy/contract"
)

// NATSConnector returns Deps.NATS for cfg: cfg.NATSURL when set, else a port-forward
// (through the API server, as `kubectl port-forward` does) to a running pod behind the
// release's NATS Service. Credentials are cfg's, else those of the release's NATS auth
// Secret; mask is called with the password before anything could print it.
func NATSConnector(cfg Config, rc *rest.Config, kube kubernetes.Interface, mask func(string)) func(context.Context) (*nats.Conn, func(), error) {
	return func(ctx context.Context) (*nats.Conn, func(), error) {
		user, pass := cfg.NATSUser, cfg.NATSPassword
		if user == "" {
			s, err := kube.CoreV1().Secrets(cfg.Namespace).Get(ctx, contract.NATSAuthSecret(cfg.Release), metav1.GetOptions{})
			switch {
			case err == nil:
				user, pass = string(s.Data["user"]), string(s.Data["password"])
			case !isNotFound(err):
				return nil, nil, fmt.Errorf("reading the NATS credentials from Secret %s: %w", contract.NATSAuthSecret(cfg.Release), err)
			}
		}
		if pass != "" {
			mask(pass)
		}
		addr, stop := cfg.NATSURL, func() {}
		if addr == "" {
			port, cancel, err := forwardNATS(ctx, cfg, rc, kube)
			if err != nil {
				return nil, nil, err
			}
			addr, stop = fmt.Sprintf("nats://127.0.0.1:%d", port), cancel
		}
		opts := []nats.Option{nats.Name("daedalus-smoke"), nats.Timeout(10 * time.Second)}
		if user != "" {
			opts = append(opts, nats.UserInfo(user, pass))
		}
		nc, err := nats.Connect(addr, opts...)
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("connecting to NATS at %s: %w", redact.Line(addr), err)
		}
		return nc, func() { nc.Close(); stop() }, nil
	}
}

// forwardNATS port-forwards a local port to 4222 of a running NATS pod of the release.
func forwardNATS(ctx context.Context, cfg Config, rc *rest.Config, kube kubernetes.Interface) (uint16, func(), error) {
	svcName := contract.NATSService(cfg.Release)
	svc, err := kube.CoreV1().Services(cfg.Namespace).Get(ctx, svcName, metav1.GetOptions{})
	if err != nil {
		return 0, nil, fmt.Errorf("finding the NATS service %s/%s (or set nats-url): %w", cfg.Namespace, svcName, err)
	}
	pods, err := kube.CoreV1().Pods(cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	if err != nil {
		return 0, nil, fmt.Errorf("listing the NATS pods: %w", err)
	}
	var pod string
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			pod = p.Name
			break
		}
	}
	if pod == "" {
		return 0, nil, fmt.Errorf("no running pod behind service %s/%s", cfg.Namespace, svcName)
	}
	rt, upgrader, err := spdy.RoundTripperFor(rc)
	if err != nil {
		return 0, nil, fmt.Errorf("port-forward transport: %w", err)
	}
	u := kube.CoreV1().RESTClient().Post().Resource("pods").Namespace(cfg.Namespace).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:4222"}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		return 0, nil, fmt.Errorf("port-forward to %s: %w", pod, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		return 0, nil, fmt.Errorf("port-forward to pod %s: %w", pod, err)
	case <-ctx.Done():
		close(stop)
		return 0, nil, ctx.Err()
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		close(stop)
		return 0, nil, fmt.Errorf("port-forward to pod %s: no local port", pod)
	}
	return ports[0].Local, func() { close(stop) }, nil
}
