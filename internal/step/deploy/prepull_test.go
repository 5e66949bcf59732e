package deploy

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daedalus-dev/daedalus/internal/test/kubetest"
	"github.com/daedalus-dev/daedalus/internal/test/testnode"
)

// TestPrepullOnAPIServer installs the chart on a real kube-apiserver with the
// DaemonSet controller and one node in the workers pool (testnode, standing in for
// the images: the init containers finish, the pod runs, ready): prepull.enabled runs
// one pull per distinct image, a new agent digest rolls the pods, and turning it off
// removes the DaemonSet.
func TestPrepullOnAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	cl := kubetest.Start(t, kubetest.Options{Controllers: append(slices.Clone(kubetest.DefaultControllers), "daemonset")})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	k := cl.Client
	// The node binds the DaemonSet's pods to itself, as kube-scheduler would (the
	// DaemonSet controller only pins them to it by node affinity), and ends the deleted
	// ones once their containers stopped.
	node := &testnode.Node{Client: k, Name: "node-1", Labels: map[string]string{"agentpool": "workers"}, Dir: t.TempDir(), Logf: t.Logf}
	stop, err := node.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ch, err := LoadChart(chartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	rs := &Releaser{Cluster: mustCluster(t, cl), Log: nopLog{}}

	const (
		proxyImage = "example.azurecr.io/daedalus-proxy@sha256:1111111111111111111111111111111111111111111111111111111111111111"
		shared     = "example.azurecr.io/agents@sha256:2222222222222222222222222222222222222222222222222222222222222222"
		codex      = "example.azurecr.io/codex-acp@sha256:3333333333333333333333333333333333333333333333333333333333333333"
		codexNext  = "example.azurecr.io/codex-acp@sha256:4444444444444444444444444444444444444444444444444444444444444444"
	)
	apply := func(t *testing.T, enabled bool, codexImage string) {
		t.Helper()
		repo := func(ref string) string { r, _, _ := strings.Cut(ref, "@"); return r }
		digest := func(ref string) string { _, d, _ := strings.Cut(ref, "@"); return d }
		vals, err := Values(chartDir(t), nil, []string{
			"prepull.enabled=" + strconv.FormatBool(enabled),
			"prepull.nodeSelector.agentpool=workers",
			"proxy.image.repository=" + repo(proxyImage), "proxy.image.tag=" + digest(proxyImage),
			// Two workers on one image, one on its own.
			"workers[0].name=copilot", "workers[0].image.repository=" + repo(shared), "workers[0].image.tag=" + digest(shared),
			"workers[1].name=gemini", "workers[1].image.repository=" + repo(shared), "workers[1].image.tag=" + digest(shared),
			"workers[2].name=codex", "workers[2].image.repository=" + repo(codexImage), "workers[2].image.tag=" + digest(codexImage),
			"workers[2].image.pullPolicy=Always",
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rs.Apply(ctx, ReleaseSpec{Name: "daedalus", Namespace: "warm", Chart: ch, Values: vals, Timeout: 90 * time.Second, CreateNamespace: true}); err != nil {
			t.Fatalf("helm install/upgrade: %v", err)
		}
	}
	pulls := func(t *testing.T) map[string]string {
		t.Helper()
		ds, err := k.AppsV1().DaemonSets("warm").Get(ctx, "daedalus-prepull", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		spec := ds.Spec.Template.Spec
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("automountServiceAccountToken = %v, want false", spec.AutomountServiceAccountToken)
		}
		if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("pod security context = %+v, want the release's (non-root)", sc)
		}
		if spec.NodeSelector["agentpool"] != "workers" {
			t.Errorf("nodeSelector = %v", spec.NodeSelector)
		}
		if len(spec.Containers) != 1 || spec.Containers[0].Image != proxyImage || !slices.Equal(spec.Containers[0].Args, []string{"pause"}) {
			t.Errorf("main containers = %+v, want one `proxy pause`", spec.Containers)
		}
		got := map[string]string{}
		for _, c := range spec.InitContainers {
			got[c.Name] = c.Image
			if c.Name != "proxy" && !slices.Equal(c.Command, []string{"/daedalus/bin/proxy", "noop"}) {
				t.Errorf("init container %s runs %v, want the copied proxy's noop", c.Name, c.Command)
			}
		}
		// The kubelet pulls when it starts the pod: wait until the node runs the current one.
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		defer wcancel()
		if err := kubetest.WaitFor(wctx, func(ctx context.Context) (bool, error) {
			ds, err := k.AppsV1().DaemonSets("warm").Get(ctx, "daedalus-prepull", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			s := ds.Status
			return s.ObservedGeneration == ds.Generation && s.DesiredNumberScheduled == 1 && s.UpdatedNumberScheduled == 1 && s.NumberReady == 1, nil
		}); err != nil {
			ds, _ := k.AppsV1().DaemonSets("warm").Get(ctx, "daedalus-prepull", metav1.GetOptions{})
			t.Fatalf("the DaemonSet's pod on node-1 never became ready and current: %v\nstatus %+v\nnode:\n%s", err, ds.Status, node.Describe())
		}
		return got
	}

	t.Run("enabled: one init container per distinct image", func(t *testing.T) {
		apply(t, true, codex)
		got := pulls(t)
		want := map[string]string{"proxy": proxyImage, "agent-copilot": shared, "agent-codex": codex}
		if !maps.Equal(got, want) {
			t.Errorf("init containers = %v, want %v", got, want)
		}
	})
	t.Run("a new agent digest rolls the pods", func(t *testing.T) {
		apply(t, true, codexNext)
		if got := pulls(t); got["agent-codex"] != codexNext {
			t.Errorf("init containers = %v, want agent-codex on %s", got, codexNext)
		}
		pods, err := k.CoreV1().Pods("warm").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=prepull"})
		if err != nil {
			t.Fatal(err)
		}
		var current int
		for _, p := range pods.Items {
			for _, c := range p.Spec.InitContainers {
				if c.Image == codexNext && p.DeletionTimestamp == nil {
					current++
				}
			}
		}
		if current != 1 {
			t.Errorf("%d live pods pull %s, want 1 (the rollout's)", current, codexNext)
		}
	})
	t.Run("disabled: no DaemonSet", func(t *testing.T) {
		apply(t, false, codexNext)
		if _, err := k.AppsV1().DaemonSets("warm").Get(ctx, "daedalus-prepull", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("DaemonSet after prepull.enabled=false: err %v, want NotFound", err)
		}
	})
}
