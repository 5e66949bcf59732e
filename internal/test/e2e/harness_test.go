//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/syncbuf"
	"github.com/daedalus-dev/daedalus/internal/step/deploy"
	"github.com/daedalus-dev/daedalus/internal/step/publish"
	"github.com/daedalus-dev/daedalus/internal/step/smoke"
	"github.com/daedalus-dev/daedalus/internal/test/embednats"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
	"github.com/daedalus-dev/daedalus/internal/test/kubetest"
	"github.com/daedalus-dev/daedalus/internal/test/testnode"
)

// KEDAEnv points at the KEDA operator binary that `make keda` builds.
const KEDAEnv = "DAEDALUS_KEDA_OPERATOR"

// world is one control plane, KEDA operator, NATS server, registry and node, shared by
// the scenarios (each in its own namespace, release and worker).
type world struct {
	t        *testing.T
	cluster  *kubetest.Cluster
	nats     *server.Server
	natsURL  string
	js       jetstream.JetStream
	registry string // host:port
	proxyImg string
	agentImg string
	node     *testnode.Node
	keda     *process
	monitor  *monitorProxy
}

func newWorld(t *testing.T) *world {
	t.Helper()
	kedaBin := engine.Path(t, KEDAEnv, "keda-operator", "keda")
	crds := engine.Path(t, "DAEDALUS_KEDA_CRDS", "keda-crds", kubetest.MakeTarget)
	w := &world{t: t}
	start := time.Now()
	w.cluster = kubetest.Start(t, kubetest.Options{Controllers: kubetest.DefaultControllers, CRDDirs: []string{crds}})
	t.Logf("control plane up in %s", time.Since(start).Round(time.Millisecond))

	w.nats = embednats.Run(t, embednats.Options{MonitorPort: -1})
	w.natsURL = w.nats.ClientURL()
	_, w.js = embednats.Connect(t, w.natsURL)
	w.monitor = newMonitorProxy(t, w.nats.MonitorAddr().String())

	w.startNode()
	w.startKEDA(kedaBin)
	return w
}

// startNode starts the in-process registry, publishes the proxy and reference-agent
// images to it and starts the node that runs pods from them.
func (w *world) startNode() {
	t := w.t
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	w.registry = strings.TrimPrefix(reg.URL, "http://")
	w.publishImages()

	w.node = &testnode.Node{Client: w.cluster.Client, Images: w.pull, Env: []string{"PATH=" + os.Getenv("PATH")},
		Dir: t.TempDir(), RestartBackoff: 2 * time.Second}
	stop, err := w.node.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
}

// publishImages runs the publish step's build and push (the ACR sign-in is the only
// part left out: the local registry needs none) for the proxy and the reference agent.
func (w *world) publishImages() {
	t := w.t
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	root := engine.RepoRoot(t)
	reg, err := name.NewRegistry(w.registry, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []struct {
		pkg, repo string
		ref       *string
	}{{"./cmd/proxy", "daedalus-proxy", &w.proxyImg}, {"./cmd/refagent", "copilot-bridge", &w.agentImg}} {
		start := time.Now()
		built, err := publish.Build(ctx, publish.BuildOptions{
			Dir: root, Package: img.pkg, Platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}},
			Base: publish.Scratch, Created: time.Unix(1700000000, 0).UTC(), Version: "e2e",
		})
		if err != nil {
			t.Fatalf("building %s: %v", img.pkg, err)
		}
		pushed, err := publish.Push(ctx, built, reg.Repo(img.repo), []string{"e2e"})
		if err != nil {
			t.Fatalf("pushing %s: %v", img.repo, err)
		}
		*img.ref = w.registry + "/" + img.repo + ":e2e"
		t.Logf("published %s (%s) in %s", *img.ref, pushed.Digest, time.Since(start).Round(time.Millisecond))
	}
}

// pull is the node's image store: the image's linux/amd64 entrypoint, extracted from
// the registry once per digest. An image the registry lacks cannot be pulled.
func (w *world) pull(ctx context.Context, ref string) (string, error) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return "", err
	}
	img, err := remote.Image(r, remote.WithContext(ctx), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		return "", err
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}
	out := filepath.Join(w.node.Dir, "images", digest.Hex, "entrypoint")
	pullMu.Lock()
	defer pullMu.Unlock()
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	if len(cf.Config.Entrypoint) == 0 {
		return "", fmt.Errorf("image %s has no entrypoint", ref)
	}
	entry := strings.TrimPrefix(cf.Config.Entrypoint[0], "/")
	if err := extract(mutate.Extract(img), entry, out); err != nil {
		return "", fmt.Errorf("extracting %s from %s: %w", entry, ref, err)
	}
	return out, nil
}

var pullMu sync.Mutex

// monitorHost is the name the chart gives KEDA for the external NATS server's monitoring
// endpoint (nats.externalMonitoringEndpoint). KEDA's HTTP client never proxies loopback
// addresses, so the endpoint is a name only monitorProxy resolves.
const monitorHost = "nats-monitor.e2e.test:8222"

// monitorProxy is an HTTP proxy that routes requests for monitorHost to the embedded
// server's monitor, as a cluster's network would route them to the NATS server.
type monitorProxy struct {
	URL  string
	mu   sync.Mutex
	hits map[string]int
}

func newMonitorProxy(t *testing.T, monitor string) *monitorProxy {
	m := &monitorProxy{hits: map[string]int{}}
	target, _ := url.Parse("http://" + monitor)
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		host := r.URL.Host
		if host == "" {
			host = r.Host
		}
		m.mu.Lock()
		m.hits[host]++
		m.mu.Unlock()
		if host != monitorHost {
			http.Error(rw, "no route to "+host, http.StatusBadGateway)
			return
		}
		rp.ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

func (m *monitorProxy) Hits(host string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits[host]
}

// process is a child process with its output kept, stopped by SIGTERM then SIGKILL.
type process struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
}

func (p *process) stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Lines returns the last n lines of output.
func (p *process) Lines(n int) []string {
	lines := strings.Split(strings.TrimRight(p.out.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// startKEDA runs the real KEDA operator out of cluster: its cluster-object namespace,
// a --cert-dir with a self-made CA and certificate, loopback or disabled ports, and
// HTTP_PROXY routing the NATS monitoring endpoint.
func (w *world) startKEDA(bin string) {
	t := w.t
	ctx := context.Background()
	if _, err := w.cluster.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "keda"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	certs := t.TempDir()
	if err := writeCerts(certs); err != nil {
		t.Fatal(err)
	}
	grpc := freePort(t)
	cmd := exec.Command(bin,
		"--leader-elect=false",
		"--metrics-bind-address=0",
		"--health-probe-bind-address=0",
		fmt.Sprintf("--metrics-service-bind-address=127.0.0.1:%d", grpc),
		"--cert-dir="+certs,
		"--enable-cert-rotation=false",
		"--enable-webhook-patching=false",
		"--enable-apiservice-patching=false",
		"--enable-prometheus-metrics=false",
		"--zap-log-level=info",
		"--zap-encoder=console",
	)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"KUBECONFIG=" + w.cluster.Kubeconfig,
		"KEDA_CLUSTER_OBJECT_NAMESPACE=keda",
		"WATCH_NAMESPACE=",
		"POD_NAMESPACE=keda",
		"HTTP_PROXY=" + w.monitor.URL,
		"NO_PROXY=127.0.0.1,localhost",
	}
	p := &process{cmd: cmd, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the KEDA operator: %v", err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	w.keda = p
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("KEDA operator log (tail):\n%s", strings.Join(p.Lines(60), "\n"))
		}
	})
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeCerts writes ca.crt, tls.crt and tls.key for the operator's gRPC metrics service.
func writeCerts(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "daedalus-e2e-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "keda-operator"},
		DNSNames:    []string{"localhost", "keda-operator", "keda-operator.keda", "keda-operator.keda.svc"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	caCert, _ := x509.ParseCertificate(caDER)
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"ca.crt":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"tls.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// scenario is one release: namespace, release and worker named alike.
type scenario struct {
	ns, release, worker string
}

// deploy runs the deploy step (KEDA mode, KEDA already running) for s, with extra
// --set lines and, when agentImage is set, that agent image instead of the published one.
func (w *world) deploy(ctx context.Context, s scenario, agentImage string, sets ...string) {
	t := w.t
	t.Helper()
	if agentImage == "" {
		agentImage = w.agentImg
	}
	dir := t.TempDir()
	all := append([]string{
		"nats.enabled=false",
		"nats.externalUrl=" + w.natsURL,
		"nats.externalMonitoringEndpoint=" + monitorHost,
		"keda.pollingInterval=" + fmt.Sprint(pollingInterval),
		"workers[0].name=" + s.worker,
		"workers[0].args={--listen,127.0.0.1:3000}",
		"workers[0].terminationGracePeriodSeconds=10",
		"proxy.idleTimeout=20s",
	}, sets...)
	in := map[string]string{
		deploy.InputKubeconfig:   w.cluster.Kubeconfig,
		deploy.InputNamespace:    s.ns,
		deploy.InputRelease:      s.release,
		deploy.InputChart:        "../../../deploy/helm/daedalus",
		deploy.InputProxyImage:   w.proxyImg,
		deploy.InputWorkerImages: agentImage,
		deploy.InputGitHubToken:  "ghp_e2etoken0123456789abcdefABCDEF0123",
		deploy.InputInstallKEDA:  "false",
		deploy.InputSet:          strings.Join(all, "\n"),
		deploy.InputTimeout:      "3m",
	}
	env := map[string]string{"GITHUB_OUTPUT": filepath.Join(dir, "out"), "GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary")}
	for k, v := range in {
		env["INPUT_"+strings.ToUpper(k)] = v
	}
	var out bytes.Buffer
	a := actions.New(actions.WithGetenv(func(k string) string { return env[k] }), actions.WithWriter(&out))
	start := time.Now()
	if _, err := deploy.Main(ctx, a, deploy.Deps{}); err != nil {
		t.Fatalf("deploy %s: %v\n%s", s.release, err, out.String())
	}
	t.Logf("deployed %s/%s in %s", s.ns, s.release, time.Since(start).Round(time.Millisecond))
}

// smoke runs the smoke step's checks against s through its Main, as the action does,
// and returns the report, the error, and what the step printed.
func (w *world) smoke(ctx context.Context, s scenario, inputs map[string]string) (*smoke.Report, error, string, string) {
	t := w.t
	t.Helper()
	dir := t.TempDir()
	in := map[string]string{
		smoke.InputKubeconfig: w.cluster.Kubeconfig,
		smoke.InputNamespace:  s.ns,
		smoke.InputRelease:    s.release,
		smoke.InputWorker:     s.worker,
		smoke.InputNATSURL:    w.natsURL,
		smoke.InputTasks:      "1",
	}
	for k, v := range inputs {
		in[k] = v
	}
	env := map[string]string{"GITHUB_OUTPUT": filepath.Join(dir, "out"), "GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary")}
	for k, v := range in {
		env["INPUT_"+strings.ToUpper(k)] = v
	}
	var out bytes.Buffer
	a := actions.New(actions.WithGetenv(func(k string) string { return env[k] }), actions.WithWriter(&out))
	rep, err := smoke.Main(ctx, a, smoke.Deps{
		OperatorLog: func(context.Context, int) ([]string, error) { return w.keda.Lines(200), nil },
	})
	if err != nil {
		a.Fail(err)
	}
	summary, _ := os.ReadFile(env["GITHUB_STEP_SUMMARY"])
	outputs, _ := os.ReadFile(env["GITHUB_OUTPUT"])
	return rep, err, out.String() + "\n" + string(outputs), string(summary)
}

// pollingInterval is the ScaledJob's keda.pollingInterval here, in seconds:
// DAEDALUS_E2E_POLLING_INTERVAL, default 1 (the chart's default is 15).
var pollingInterval = func() int {
	var n int
	if _, err := fmt.Sscan(os.Getenv("DAEDALUS_E2E_POLLING_INTERVAL"), &n); err == nil && n > 0 {
		return n
	}
	return 1
}()
