package kubetest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/daedalus-dev/daedalus/internal/lib/syncbuf"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// AssetsEnv names the directory holding kube-apiserver, kube-controller-manager and
// etcd. KUBEBUILDER_ASSETS (envtest's own variable) is honoured too.
const AssetsEnv = "DAEDALUS_KUBE_ASSETS"

// MakeTarget builds the binaries.
const MakeTarget = "kube"

// Options selects what Start runs besides etcd and kube-apiserver.
type Options struct {
	// Controllers starts kube-controller-manager with these controllers, e.g.
	// DefaultControllers. Empty starts none.
	Controllers []string
	// CRDDirs are directories of CustomResourceDefinition YAML installed before Start
	// returns (envtest waits until they are served).
	CRDDirs []string
	// Authenticate, when set, judges the bearer tokens no other authenticator knows:
	// the API server asks it through a TokenReview webhook, as AKS asks its Entra ID
	// webhook. It returns the user and groups a token stands for, or ok false.
	Authenticate func(token string) (user string, groups []string, ok bool)
}

// DefaultControllers are the controllers a chart's workloads need to reach readiness
// (on a testnode.Node) and to be cleaned up.
var DefaultControllers = []string{"job", "statefulset", "deployment", "replicaset", "garbagecollector"}

// Cluster is a running control plane. Stop it with Stop (Start registers it with
// t.Cleanup).
type Cluster struct {
	// Config is an administrator's REST config.
	Config *rest.Config
	// Kubeconfig is the path of a kubeconfig file for the same administrator.
	Kubeconfig string
	// Client is a typed client built from Config.
	Client kubernetes.Interface

	env *envtest.Environment
	kcm *exec.Cmd
	// kcmDone is closed when kube-controller-manager has exited.
	kcmDone chan struct{}
	kcmLog  *syncbuf.Buffer
	hook    *httptest.Server // the token webhook, when Options.Authenticate is set
}

// AssetsDir returns the directory holding the binaries, failing the test under
// `make test` (skipping it otherwise) when it does not hold them.
func AssetsDir(t testing.TB) string {
	t.Helper()
	engine.Heavy(t)
	env := AssetsEnv
	if os.Getenv(env) == "" && os.Getenv("KUBEBUILDER_ASSETS") != "" {
		env = "KUBEBUILDER_ASSETS"
	}
	dir := os.Getenv(env)
	if dir == "" {
		// Fails (make test) or skips with the make target named.
		return filepath.Dir(engine.Path(t, AssetsEnv, "kube-apiserver", MakeTarget))
	}
	for _, name := range []string{"kube-apiserver", "etcd", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			msg := fmt.Sprintf("engine missing: %s=%s holds no %s; build it with `make %s`", env, dir, name, MakeTarget)
			if os.Getenv(engine.RequireEnv) != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	return dir
}

// Start runs etcd and kube-apiserver (and kube-controller-manager when
// opts.Controllers is set) and stops them when the test ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	dir := AssetsDir(t)
	c, err := start(dir, t.TempDir(), opts)
	if err != nil {
		t.Fatalf("starting the control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
		if t.Failed() && c.kcmLog != nil {
			t.Logf("kube-controller-manager log (tail):\n%s", tail(c.kcmLog.String(), 40))
		}
	})
	return c
}

func start(assets, tmp string, opts Options) (*Cluster, error) {
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		CRDDirectoryPaths:        opts.CRDDirs,
		ErrorIfCRDPathMissing:    len(opts.CRDDirs) > 0,
		ControlPlaneStartTimeout: 60 * time.Second,
		ControlPlaneStopTimeout:  30 * time.Second,
	}
	// A loopback-only network namespace has no route for the advertised address, and
	// no other apiserver shares this etcd: reconcile no endpoints.
	api := env.ControlPlane.GetAPIServer()
	api.Configure().Set("advertise-address", "127.0.0.1")
	api.Configure().Set("endpoint-reconciler-type", "none")
	var hook *httptest.Server
	if opts.Authenticate != nil {
		var err error
		if hook, err = tokenWebhook(tmp, opts.Authenticate, api.Configure()); err != nil {
			return nil, err
		}
	}

	cfg, err := env.Start()
	if err != nil {
		if hook != nil {
			hook.Close()
		}
		return nil, fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	c := &Cluster{Config: cfg, env: env, hook: hook}
	fail := func(err error) (*Cluster, error) {
		_ = c.Stop()
		return nil, err
	}

	// Tests drive many pods at once through this client: lift client-go's default limit of
	// 5 requests/s, as envtest does for its own administrator.
	admin, err := env.AddUser(envtest.User{Name: "daedalus-admin", Groups: []string{"system:masters"}}, &rest.Config{QPS: 500, Burst: 1000})
	if err != nil {
		return fail(fmt.Errorf("adding an administrator: %w", err))
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return fail(fmt.Errorf("writing the administrator's kubeconfig: %w", err))
	}
	c.Kubeconfig = filepath.Join(tmp, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kc, 0o600); err != nil {
		return fail(fmt.Errorf("writing the kubeconfig: %w", err))
	}
	c.Config = admin.Config()
	c.Client, err = kubernetes.NewForConfig(c.Config)
	if err != nil {
		return fail(fmt.Errorf("building a client: %w", err))
	}

	if len(opts.Controllers) > 0 {
		if err := c.startControllerManager(assets, opts.Controllers); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

func (c *Cluster) startControllerManager(assets string, controllers []string) error {
	bin := filepath.Join(assets, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("kube-controller-manager is missing from %s (build it with `make %s`): %w", assets, MakeTarget, err)
	}
	c.kcmLog = &syncbuf.Buffer{}
	c.kcm = exec.Command(bin,
		"--kubeconfig="+c.Kubeconfig,
		"--controllers="+strings.Join(controllers, ","),
		"--leader-elect=false",
		"--secure-port=0",
		"--use-service-account-credentials=false",
		"--concurrent-job-syncs=5",
		"--v=1",
	)
	c.kcm.Stdout, c.kcm.Stderr = c.kcmLog, c.kcmLog
	// Its own process group: SIGINT from a terminal must not reach it before Stop does.
	c.kcm.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.kcm.Start(); err != nil {
		return fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	c.kcmDone = make(chan struct{})
	go func() {
		_ = c.kcm.Wait()
		close(c.kcmDone)
	}()
	return nil
}

// Stop ends kube-controller-manager (SIGTERM, then SIGKILL after 10 s), then
// kube-apiserver and etcd. It is safe to call more than once.
func (c *Cluster) Stop() error {
	var errs []error
	if c.kcm != nil && c.kcm.Process != nil {
		_ = c.kcm.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.kcmDone:
		case <-time.After(10 * time.Second):
			_ = c.kcm.Process.Kill()
			<-c.kcmDone
		}
		c.kcm = nil
	}
	if c.env != nil {
		if err := c.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping kube-apiserver and etcd: %w", err))
		}
		c.env = nil
	}
	if c.hook != nil {
		c.hook.Close()
		c.hook = nil
	}
	return errors.Join(errs...)
}

// ControllerManagerLog returns what kube-controller-manager has printed so far.
func (c *Cluster) ControllerManagerLog() string {
	if c.kcmLog == nil {
		return ""
	}
	return c.kcmLog.String()
}

// WaitFor polls cond every 100 ms until it returns true, an error, or ctx ends.
func WaitFor(ctx context.Context, cond func(context.Context) (bool, error)) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tokenWebhook serves authentication.k8s.io/v1 TokenReviews with auth and points the
// API server at it (--authentication-token-webhook-config-file, a kubeconfig naming the
// webhook and its CA).
func tokenWebhook(dir string, auth func(string) (string, []string, bool), args *envtest.Arguments) (*httptest.Server, error) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review authenticationv1.TokenReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		review.Status = authenticationv1.TokenReviewStatus{}
		if user, groups, ok := auth(review.Spec.Token); ok {
			review.Status.Authenticated = true
			review.Status.User = authenticationv1.UserInfo{Username: user, Groups: groups}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(review)
	}))
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	conf := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: token-webhook
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: kube-apiserver
contexts:
- name: webhook
  context: {cluster: token-webhook, user: kube-apiserver}
current-context: webhook
`, srv.URL, base64.StdEncoding.EncodeToString(ca))
	file := filepath.Join(dir, "token-webhook.kubeconfig")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		srv.Close()
		return nil, fmt.Errorf("writing the token webhook's configuration: %w", err)
	}
	args.Set("authentication-token-webhook-config-file", file)
	args.Set("authentication-token-webhook-version", "v1")
	args.Set("authentication-token-webhook-cache-ttl", "0s")
	return srv, nil
}
