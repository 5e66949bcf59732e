package deploy

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/release"
	helmtime "helm.sh/helm/v3/pkg/time"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/attest"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
	"github.com/daedalus-dev/daedalus/internal/test/kubetest"
	"github.com/daedalus-dev/daedalus/internal/test/testnode"
)

const (
	testToken    = "ghp_deploytesttoken0123456789abcdefABCDEF"
	testClientID = "11111111-2222-3333-4444-555555555555"
)

// kedaChart copies the stand-in KEDA chart (testdata/keda) to a temporary directory
// and puts KEDA's CRDs, from the KEDA Go module's source tree, in its crds/.
func kedaChart(t *testing.T) string {
	t.Helper()
	crds := engine.Path(t, "DAEDALUS_KEDA_CRDS", "keda-crds", kubetest.MakeTarget)
	dir := filepath.Join(t.TempDir(), "keda")
	for _, sub := range []string{"templates", "crds"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cp := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cp("testdata/keda/Chart.yaml", filepath.Join(dir, "Chart.yaml"))
	cp("testdata/keda/templates/operator.yaml", filepath.Join(dir, "templates", "operator.yaml"))
	files, _ := filepath.Glob(filepath.Join(crds, "keda.sh_*.yaml"))
	if len(files) == 0 {
		t.Fatalf("no keda.sh CRDs in %s (rebuild with `make kube`)", crds)
	}
	for _, f := range files {
		cp(f, filepath.Join(dir, "crds", filepath.Base(f)))
	}
	return dir
}

// stepRun is one run of the deploy step as the runner would start it: inputs from
// INPUT_* variables, workflow commands to out, outputs and summary to files.
type stepRun struct {
	out     bytes.Buffer
	outputs string
	summary string
	res     *Result
	err     error
}

func runStep(ctx context.Context, t *testing.T, inputs map[string]string) *stepRun {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
	}
	for k, v := range inputs {
		env["INPUT_"+strings.ToUpper(k)] = v
	}
	r := &stepRun{}
	a := actions.New(actions.WithGetenv(func(k string) string { return env[k] }), actions.WithWriter(&r.out))
	r.res, r.err = Main(ctx, a, Deps{})
	if r.err != nil {
		a.Fail(r.err)
	}
	b, _ := os.ReadFile(env["GITHUB_OUTPUT"])
	r.outputs = string(b)
	b, _ = os.ReadFile(env["GITHUB_STEP_SUMMARY"])
	r.summary = string(b)
	return r
}

// TestDeployOnAPIServer drives the deploy step against a real kube-apiserver, etcd and
// kube-controller-manager, with a node that stands in for the images: their pods are
// healthy, but images named "broken" cannot be pulled (ImagePullBackOff, the pod stays
// Pending), which is how installs fail on purpose here.
func TestDeployOnAPIServer(t *testing.T) {
	cl := kubetest.Start(t, kubetest.Options{Controllers: kubetest.DefaultControllers})
	keda := kedaChart(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	node := &testnode.Node{Client: cl.Client, Dir: t.TempDir(), Logf: t.Logf, Policy: func(p *corev1.Pod) testnode.Outcome {
		for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			if strings.Contains(c.Image, "broken") {
				return testnode.Unpullable
			}
		}
		return testnode.Healthy
	}}
	stop, err := node.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	k := cl.Client

	base := func(ns string, extra map[string]string) map[string]string {
		in := map[string]string{
			InputKubeconfig:       cl.Kubeconfig,
			InputNamespace:        ns,
			InputChart:            chartDir(t),
			InputProxyImage:       "example.azurecr.io/daedalus-proxy:1.0.0",
			InputWorkerImages:     "copilot=example.azurecr.io/copilot-bridge:1.0.0",
			InputGitHubToken:      testToken,
			InputWorkloadClientID: testClientID,
			InputKEDAChart:        keda,
			// KEDA as the AKS add-on: installed below as AKS would, checked by the step.
			"keda":       "addon",
			InputTimeout: "90s",
		}
		for k, v := range extra {
			in[k] = v
		}
		return in
	}
	nsExists := func(ns string) bool {
		_, err := k.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return !apierrors.IsNotFound(err)
	}
	rs := &Releaser{Cluster: mustCluster(t, cl), Log: nopLog{}}

	t.Run("bad input fails with the fix and changes nothing", func(t *testing.T) {
		tests := []struct {
			name   string
			in     map[string]string
			ns     string
			errsOn string // the ::error:: title
			fix    string
		}{
			{name: "unknown values key", ns: "bad-key", in: map[string]string{InputSet: "workers[0].resorces.limits.cpu=1"}, errsOn: "Input values", fix: "resorces"},
			{name: "missing proxy image", ns: "bad-image", in: map[string]string{InputProxyImage: ""}, errsOn: "Input proxy-image", fix: "set proxy-image"},
			{name: "bad namespace", ns: "Bad_Namespace", errsOn: "Input namespace", fix: "lower-case"},
			{name: "unknown worker", ns: "bad-worker", in: map[string]string{InputWorkerImages: "codex=example.azurecr.io/codex:1"}, errsOn: "Input worker-images", fix: "codex"},
			// The test API server is Kubernetes 1.37; KEDA's table lists 2.14 for 1.27-1.29
			// and nothing yet for 1.37. The remote chart is never fetched: the refusal
			// comes first.
			{name: "KEDA chart that does not support the cluster", ns: "bad-keda-chart", in: map[string]string{"keda": "helm"},
				errsOn: "Input keda-chart", fix: "KEDA 2.14.0 does not support the cluster's Kubernetes 1.37: KEDA 2.14 supports Kubernetes 1.27-1.29"},
			{name: "pinned KEDA that does not support the cluster", ns: "bad-keda-pin", in: map[string]string{"keda": "helm", InputKEDAChart: "https://kedacore.github.io/charts", InputKEDAVersion: "2.14.0"},
				errsOn: "Input keda-version", fix: "KEDA 2.14 supports Kubernetes 1.27-1.29"},
			{name: "no KEDA for the cluster", ns: "bad-keda-none", in: map[string]string{"keda": "helm", InputKEDAChart: "https://kedacore.github.io/charts"},
				errsOn: "Input keda", fix: "use keda: addon"},
			{name: "unknown KEDA mode", ns: "bad-keda-mode", in: map[string]string{"keda": "operator"}, errsOn: "Input keda", fix: "addon"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := runStep(ctx, t, base(tt.ns, tt.in))
				if r.err == nil {
					t.Fatalf("deploy succeeded, want a failure\n%s", r.out.String())
				}
				out := r.out.String()
				if !strings.Contains(out, "::error title="+tt.errsOn+"::") || !strings.Contains(out, tt.fix) {
					t.Errorf("want an ::error:: titled %q mentioning %q, got:\n%s", tt.errsOn, tt.fix, out)
				}
				if strings.ToLower(tt.ns) == tt.ns && nsExists(tt.ns) {
					t.Errorf("namespace %s was created: the cluster changed on bad input", tt.ns)
				}
				if rel, err := rs.Status("keda", "keda"); err != nil || rel != nil {
					t.Errorf("a KEDA release after bad input: %v (%v)", rel, err)
				}
				if nsExists("keda") {
					t.Errorf("KEDA's namespace exists: the cluster changed on bad input")
				}
			})
		}
	})

	t.Run("KEDA add-on missing fails clearly", func(t *testing.T) {
		r := runStep(ctx, t, base("no-keda", map[string]string{InputTimeout: "10s"}))
		out := r.out.String()
		if r.err == nil || !strings.Contains(out, "::error::KEDA's CRDs: CRD scaledjobs.keda.sh is not Established") || !strings.Contains(out, "workload_autoscaler_profile { keda_enabled = true }") {
			t.Fatalf("err = %v, want an ::error:: saying the add-on's CRDs are missing and how to enable it\n%s", r.err, out)
		}
		if nsExists("no-keda") || nsExists("keda") {
			t.Errorf("the step changed the cluster without KEDA")
		}
	})

	t.Run("proxy image without the required signature is refused and changes nothing", func(t *testing.T) {
		reg := newSignedRegistry(t)
		img := reg.push(t, "v1")
		// Provenance alone is not a signature.
		reg.sign(t, "octo/app", ".github/workflows/release.yml@refs/heads/main", img, img, attest.PredicateSLSA)
		r := runStep(ctx, t, base("unsigned", map[string]string{
			InputProxyImage:      reg.repo.Tag("v1").String(),
			InputVerifySignature: "true",
			InputSignerIdentity:  releaseWorkflow,
			InputTrustedRoot:     reg.ss.WriteTrustedRoot(t),
		}))
		out := r.out.String()
		if r.err == nil || !strings.Contains(out, "::error::refusing to deploy "+reg.repo.Tag("v1").String()) ||
			!strings.Contains(out, "image "+img.Digest.String()+" has no Sigstore signature among its referrers") {
			t.Fatalf("err = %v, want an ::error:: refusing the unsigned image\n%s", r.err, out)
		}
		if nsExists("unsigned") {
			t.Errorf("namespace unsigned was created: the cluster changed although the image was refused")
		}
	})

	// KEDA as AKS's add-on puts it: in kube-system, by someone other than this step.
	kedaCh, err := LoadChart(keda)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Apply(ctx, ReleaseSpec{Name: "keda-addon", Namespace: "kube-system", Chart: kedaCh, Values: map[string]any{}, Timeout: 90 * time.Second}); err != nil {
		t.Fatalf("installing the KEDA stand-in as the add-on: %v", err)
	}

	var firstPassword []byte
	t.Run("install in job mode", func(t *testing.T) {
		r := runStep(ctx, t, base("daedalus", nil))
		if r.err != nil {
			t.Fatalf("deploy: %v\n%s\nnode:\n%s", r.err, r.out.String(), node.Describe())
		}
		if r.res.Revision != 1 || r.res.KEDAVersion != "" {
			t.Errorf("result = %+v, want revision 1 and no KEDA installed by the step", r.res)
		}
		if out := r.out.String(); !strings.Contains(out, "KEDA is AKS's managed add-on") || !strings.Contains(out, "the API serves scaledjobs.keda.sh") {
			t.Errorf("the log does not say that the add-on was checked and not installed:\n%s", out)
		}
		if nsExists("keda") {
			t.Errorf("namespace keda exists: the step installed KEDA in add-on mode")
		}
		for _, want := range []string{"revision<<", "1", "chart-version<<", "0.1.0", "keda-version<<"} {
			if !strings.Contains(r.outputs, want) {
				t.Errorf("outputs lack %q:\n%s", want, r.outputs)
			}
		}
		for _, want := range []string{"| Release | daedalus |", "| Revision | 1 (deployed) |", "| Chart version | 0.1.0 |",
			"`example.azurecr.io/daedalus-proxy:1.0.0`", "copilot: `example.azurecr.io/copilot-bridge:1.0.0`", "| Workers | copilot |", "| KEDA | AKS add-on (checked, not installed by this step) |", "| Namespace | daedalus |"} {
			if !strings.Contains(r.summary, want) {
				t.Errorf("summary lacks %q:\n%s", want, r.summary)
			}
		}
		// Poll mode: no scaler, so no certificates.
		if list, err := k.CoreV1().Secrets("daedalus").List(ctx, metav1.ListOptions{LabelSelector: ScalerTLSRoleLabel}); err != nil || len(list.Items) > 0 || strings.Contains(r.summary, "Scaler TLS") {
			t.Errorf("poll mode: scaler TLS Secrets %v (err %v), summary:\n%s", list, err, r.summary)
		}
		out := r.out.String()
		if !strings.Contains(out, "::add-mask::"+testToken) {
			t.Errorf("the token was not masked")
		}
		if strings.Count(out, testToken) != 1 {
			t.Errorf("the token appears %d times in the log, want only in ::add-mask::", strings.Count(out, testToken))
		}

		ns, err := k.CoreV1().Namespaces().Get(ctx, "daedalus", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ns.Labels[WorkloadIdentityLabel] != "true" {
			t.Errorf("namespace labels = %v, want %s=true", ns.Labels, WorkloadIdentityLabel)
		}
		sec, err := k.CoreV1().Secrets("daedalus").Get(ctx, "copilot-secret", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if string(sec.Data["github-token"]) != testToken {
			t.Errorf("copilot-secret github-token = %q", sec.Data["github-token"])
		}
		sa, err := k.CoreV1().ServiceAccounts("daedalus").Get(ctx, "daedalus-proxy", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sa.Annotations[WorkloadIdentityClientID] != testClientID {
			t.Errorf("service account annotations = %v, want %s=%s", sa.Annotations, WorkloadIdentityClientID, testClientID)
		}
		auth, err := k.CoreV1().Secrets("daedalus").Get(ctx, "daedalus-nats-auth", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		firstPassword = auth.Data["password"]
		if len(firstPassword) != 32 || string(auth.Data["user"]) != "daedalus" {
			t.Errorf("NATS credentials: user %q, password of %d characters; want daedalus and 32", auth.Data["user"], len(firstPassword))
		}
		sts, err := k.AppsV1().StatefulSets("daedalus").Get(ctx, "daedalus-nats", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sts.Status.ReadyReplicas != 1 {
			t.Errorf("NATS ready replicas = %d, want 1 (the step waits for readiness)", sts.Status.ReadyReplicas)
		}
		if _, err := k.NetworkingV1().NetworkPolicies("daedalus").Get(ctx, "daedalus-nats", metav1.GetOptions{}); err != nil {
			t.Errorf("NetworkPolicy: %v", err)
		}
		boot, err := k.BatchV1().Jobs("daedalus").Get(ctx, "daedalus-bootstrap", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("bootstrap hook Job: %v", err)
		}
		if boot.Status.Succeeded != 1 {
			t.Errorf("bootstrap Job succeeded = %d, want 1", boot.Status.Succeeded)
		}
		env := envOf(boot.Spec.Template.Spec.Containers[0])
		if env["DAEDALUS_WORKERS"] != "copilot" || env["NATS_PASSWORD"] != "secret:daedalus-nats-auth/password" || boot.Spec.Template.Spec.Containers[0].Args[0] != "bootstrap" {
			t.Errorf("bootstrap container: args %v env %v", boot.Spec.Template.Spec.Containers[0].Args, env)
		}
		if _, err := k.AppsV1().Deployments("daedalus").Get(ctx, "daedalus-copilot", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("a worker Deployment exists in KEDA mode (err %v)", err)
		}
		checkScaledJob(ctx, t, rs.Cluster, "daedalus", "1.0.0")
		// Workload identity: AKS's webhook injects the token and AZURE_* only into pods
		// labelled azure.workload.identity/use=true (the namespace label is not enough).
		sj, err := rs.Cluster.Dynamic.Resource(ScaledJobGVR).Namespace("daedalus").Get(ctx, "daedalus-copilot", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		labels, _, _ := unstructured.NestedStringMap(sj.Object, "spec", "jobTargetRef", "template", "metadata", "labels")
		if labels["azure.workload.identity/use"] != "true" {
			t.Errorf("the ScaledJob's Job template pod labels = %v, want azure.workload.identity/use=true", labels)
		}
		if _, ok := sts.Spec.Template.Labels["azure.workload.identity/use"]; ok {
			t.Errorf("NATS pods carry the workload identity label; only the workers act as the identity")
		}
	})

	// Push mode on the real API server (KEDA's CRDs validate the TriggerAuthentication and
	// the ScaledJob's two triggers): the scaler Deployment becomes ready with both replicas,
	// with the certificates the step generated (TestScalerTLSOnAPIServer checks them).
	t.Run("install in push mode", func(t *testing.T) {
		r := runStep(ctx, t, base("push", map[string]string{InputSet: "scaler.mode=push"}))
		if r.err != nil {
			t.Fatalf("deploy: %v\n%s\nnode:\n%s", r.err, r.out.String(), node.Describe())
		}
		for _, name := range []string{"daedalus-scaler-tls", "daedalus-scaler-client-tls", "daedalus-scaler-tls-ca"} {
			sec, err := k.CoreV1().Secrets("push").Get(ctx, name, metav1.GetOptions{})
			if err != nil || sec.Labels[ManagedByLabel] != ManagedByDeploy || len(sec.Data["tls.key"]) == 0 {
				t.Errorf("secret %s: %v (err %v), want the step's certificate", name, sec.GetLabels(), err)
				continue
			}
			if strings.Contains(r.out.String(), string(sec.Data["tls.key"])) {
				t.Errorf("the log holds %s's private key", name)
			}
		}
		if !strings.Contains(r.out.String(), "secret daedalus-scaler-tls: created, valid until ") || !strings.Contains(r.summary, "| Scaler TLS | secret daedalus-scaler-tls-ca: created") {
			t.Errorf("neither the log nor the summary say the certificates were created:\n%s\n%s", r.out.String(), r.summary)
		}
		dep, err := k.AppsV1().Deployments("push").Get(ctx, "daedalus-scaler", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c := dep.Spec.Template.Spec.Containers[0]
		if dep.Status.ReadyReplicas != 2 || c.Image != "example.azurecr.io/daedalus-proxy:1.0.0" || len(c.Args) != 1 || c.Args[0] != "scaler" {
			t.Errorf("scaler: %d ready, image %s, args %v; want 2 ready replicas of the proxy image running `scaler`", dep.Status.ReadyReplicas, c.Image, c.Args)
		}
		if v := dep.Spec.Template.Spec.Volumes[0]; v.Secret == nil || v.Secret.SecretName != "daedalus-scaler-tls" {
			t.Errorf("scaler volume %+v, want the Secret daedalus-scaler-tls", v)
		}
		ta, err := rs.Cluster.Dynamic.Resource(ScaledJobGVR.GroupVersion().WithResource("triggerauthentications")).Namespace("push").Get(ctx, "daedalus-scaler", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("TriggerAuthentication: %v", err)
		}
		refs, _, _ := unstructured.NestedSlice(ta.Object, "spec", "secretTargetRef")
		var names []string
		for _, ref := range refs {
			names = append(names, ref.(map[string]any)["name"].(string))
		}
		if !slices.Equal(names, []string{"daedalus-scaler-tls", "daedalus-scaler-client-tls", "daedalus-scaler-client-tls"}) {
			t.Errorf("TriggerAuthentication reads %v, want the scaler's CA and KEDA's client certificate", names)
		}
		sj, err := rs.Cluster.Dynamic.Resource(ScaledJobGVR).Namespace("push").Get(ctx, "daedalus-copilot", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		triggers, _, _ := unstructured.NestedSlice(sj.Object, "spec", "triggers")
		var types []string
		for _, tr := range triggers {
			types = append(types, tr.(map[string]any)["type"].(string))
		}
		if !slices.Equal(types, []string{"external", "nats-jetstream"}) {
			t.Errorf("ScaledJob triggers %v, want the scaler's (external) and nats-jetstream as the fallback", types)
		}
	})

	t.Run("upgrade keeps the NATS credentials", func(t *testing.T) {
		r := runStep(ctx, t, base("daedalus", map[string]string{
			InputProxyImage:   "example.azurecr.io/daedalus-proxy:2.0.0",
			InputWorkerImages: "example.azurecr.io/copilot-bridge:2.0.0",
		}))
		if r.err != nil {
			t.Fatalf("deploy: %v\n%s", r.err, r.out.String())
		}
		if r.res.Revision != 2 {
			t.Errorf("revision = %d, want 2", r.res.Revision)
		}
		auth, err := k.CoreV1().Secrets("daedalus").Get(ctx, "daedalus-nats-auth", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(auth.Data["password"], firstPassword) {
			t.Errorf("the NATS password changed on upgrade")
		}
		checkScaledJob(ctx, t, rs.Cluster, "daedalus", "2.0.0")
	})

	t.Run("failed upgrade rolls back", func(t *testing.T) {
		r := runStep(ctx, t, base("daedalus", map[string]string{
			InputProxyImage:   "example.azurecr.io/broken-proxy:3.0.0",
			InputWorkerImages: "example.azurecr.io/copilot-bridge:3.0.0",
			InputTimeout:      "15s",
		}))
		var fe *FailedError
		if !errors.As(r.err, &fe) || fe.Rollback != 2 || fe.UndoErr != nil {
			t.Fatalf("err = %v, want a failure rolled back to revision 2\n%s", r.err, r.out.String())
		}
		last, err := rs.Status("daedalus", "daedalus")
		if err != nil {
			t.Fatal(err)
		}
		if last.Info.Status != release.StatusDeployed || last.Version != 4 {
			t.Errorf("last revision %d is %s, want 4 (the rollback) deployed", last.Version, last.Info.Status)
		}
		checkScaledJob(ctx, t, rs.Cluster, "daedalus", "2.0.0")
	})

	t.Run("pending release", func(t *testing.T) {
		cfg, err := rs.helm("daedalus")
		if err != nil {
			t.Fatal(err)
		}
		last, err := cfg.Releases.Last("daedalus")
		if err != nil {
			t.Fatal(err)
		}
		stuck := *last
		info := *last.Info
		stuck.Info = &info
		stuck.Version = last.Version + 1
		stuck.Info.Status = release.StatusPendingUpgrade
		stuck.Info.LastDeployed = nowMinus(30 * time.Second)
		if err := cfg.Releases.Create(&stuck); err != nil {
			t.Fatal(err)
		}

		r := runStep(ctx, t, base("daedalus", nil))
		var pe *PendingError
		if !errors.As(r.err, &pe) || !strings.Contains(r.out.String(), "another deploy may still be running") {
			t.Fatalf("young pending release: err = %v, want a PendingError\n%s", r.err, r.out.String())
		}

		stuck.Info.LastDeployed = nowMinus(10 * time.Minute)
		if err := cfg.Releases.Update(&stuck); err != nil {
			t.Fatal(err)
		}
		r = runStep(ctx, t, base("daedalus", nil))
		if r.err != nil {
			t.Fatalf("stuck release: %v\n%s", r.err, r.out.String())
		}
		if !strings.Contains(r.out.String(), "stuck in pending-upgrade") {
			t.Errorf("no message about the recovered release:\n%s", r.out.String())
		}
		if r.res.Revision != stuck.Version+1 {
			t.Errorf("revision = %d, want %d", r.res.Revision, stuck.Version+1)
		}
		old, err := cfg.Releases.Get("daedalus", stuck.Version)
		if err != nil {
			t.Fatal(err)
		}
		if old.Info.Status != release.StatusFailed && old.Info.Status != release.StatusSuperseded {
			t.Errorf("recovered revision is %s, want failed", old.Info.Status)
		}
	})

	t.Run("cancelled run leaves no release pending", func(t *testing.T) {
		cctx, ccancel := context.WithCancel(ctx)
		defer ccancel()
		go func() {
			_ = kubetest.WaitFor(cctx, func(context.Context) (bool, error) {
				last, err := rs.Status("daedalus", "daedalus")
				return err == nil && last != nil && last.Info.Status.IsPending(), nil
			})
			time.Sleep(time.Second)
			ccancel()
		}()
		r := runStep(cctx, t, base("daedalus", map[string]string{InputProxyImage: "example.azurecr.io/broken-proxy:4.0.0"}))
		if r.err == nil || !strings.Contains(r.err.Error(), "cancelled") {
			t.Fatalf("err = %v, want a cancellation\n%s", r.err, r.out.String())
		}
		last, err := rs.Status("daedalus", "daedalus")
		if err != nil {
			t.Fatal(err)
		}
		if last.Info.Status.IsPending() {
			t.Errorf("release left %s after cancellation", last.Info.Status)
		}
		r = runStep(ctx, t, base("daedalus", nil))
		if r.err != nil {
			t.Fatalf("deploy after the cancelled run: %v\n%s", r.err, r.out.String())
		}
	})

	t.Run("service mode without KEDA", func(t *testing.T) {
		in := base("daedalus-svc", map[string]string{InputValues: "values.yaml"})
		r := runStep(ctx, t, in)
		if r.err != nil {
			t.Fatalf("deploy: %v\n%s", r.err, r.out.String())
		}
		if !strings.Contains(r.summary, "| KEDA | disabled (Deployment per worker) |") {
			t.Errorf("summary:\n%s", r.summary)
		}
		d, err := k.AppsV1().Deployments("daedalus-svc").Get(ctx, "daedalus-copilot", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		checkWorkerPod(t, d.Spec.Template.Spec, "service", "1.0.0", false)
		if d.Spec.Template.Labels["azure.workload.identity/use"] != "true" {
			t.Errorf("worker Deployment pod labels = %v, want azure.workload.identity/use=true", d.Spec.Template.Labels)
		}
		if d.Status.AvailableReplicas != 1 {
			t.Errorf("available replicas = %d, want 1", d.Status.AvailableReplicas)
		}
		n, err := rs.Cluster.CountScaledJobs(ctx, "daedalus-svc", "daedalus")
		if err != nil || n != 0 {
			t.Errorf("ScaledJobs in service mode: %d (%v), want 0", n, err)
		}
	})

	t.Run("failed first install is uninstalled", func(t *testing.T) {
		in := base("daedalus-new", map[string]string{InputValues: "values.yaml", InputWorkerImages: "example.azurecr.io/broken-agent:1", InputTimeout: "15s"})
		r := runStep(ctx, t, in)
		var fe *FailedError
		if !errors.As(r.err, &fe) || fe.Rollback != 0 || fe.UndoErr != nil {
			t.Fatalf("err = %v, want a failed install that was uninstalled\n%s", r.err, r.out.String())
		}
		last, err := rs.Status("daedalus-new", "daedalus")
		if err != nil {
			t.Fatal(err)
		}
		if last != nil {
			t.Errorf("release still recorded as %s revision %d", last.Info.Status, last.Version)
		}
		if _, err := k.AppsV1().StatefulSets("daedalus-new").Get(ctx, "daedalus-nats", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("NATS StatefulSet left behind (err %v)", err)
		}
	})
}

func nowMinus(d time.Duration) helmtime.Time { return helmtime.Now().Add(-d) }

func mustCluster(t *testing.T, cl *kubetest.Cluster) *Cluster {
	t.Helper()
	c, err := NewCluster(cl.Config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type nopLog struct{}

func (nopLog) Infof(string, ...any)    {}
func (nopLog) Warningf(string, ...any) {}
func (nopLog) Noticef(string, ...any)  {}

// envOf maps a container's env to values, or "secret:<name>/<key>" for secret refs.
func envOf(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			m[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			m[e.Name] = "field:" + e.ValueFrom.FieldRef.FieldPath
		default:
			m[e.Name] = e.Value
		}
	}
	return m
}

// checkWorkerPod checks a worker pod's containers, resources and security settings (the AKS
// overlay's values when overlay is set, the chart defaults otherwise).
func checkWorkerPod(t *testing.T, spec corev1.PodSpec, mode, tag string, overlay bool) {
	t.Helper()
	if len(spec.Containers) != 1 || spec.Containers[0].Name != "proxy" || len(spec.InitContainers) != 1 || spec.InitContainers[0].Name != "agent" {
		t.Fatalf("containers: want proxy, and agent as a sidecar; got %d containers, %d init containers", len(spec.Containers), len(spec.InitContainers))
	}
	proxy, agent := spec.Containers[0], spec.InitContainers[0]
	if agent.RestartPolicy == nil || *agent.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("agent is not a native sidecar (restartPolicy Always)")
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g != 35 {
		t.Errorf("terminationGracePeriodSeconds = %v, want 35", g)
	}
	wantRestart := corev1.RestartPolicyNever
	if mode == "service" {
		wantRestart = corev1.RestartPolicyAlways
	}
	if spec.RestartPolicy != wantRestart {
		t.Errorf("restartPolicy = %s, want %s", spec.RestartPolicy, wantRestart)
	}
	if proxy.Image != "example.azurecr.io/daedalus-proxy:"+tag || agent.Image != "example.azurecr.io/copilot-bridge:"+tag {
		t.Errorf("images = %s, %s; want tag %s", proxy.Image, agent.Image, tag)
	}
	res := func(c corev1.Container) string {
		return c.Resources.Requests.Cpu().String() + "/" + c.Resources.Requests.Memory().String() + " " +
			c.Resources.Limits.Cpu().String() + "/" + c.Resources.Limits.Memory().String()
	}
	wantProxy, wantAgent, wantPull, wantAgentPull := "50m/64Mi 200m/128Mi", "100m/128Mi 500m/512Mi", corev1.PullIfNotPresent, corev1.PullIfNotPresent
	if overlay {
		// The overlay's proxy is pinned by digest (IfNotPresent); its agent image may be a tag.
		wantProxy, wantAgent, wantAgentPull = "100m/128Mi 200m/256Mi", "200m/256Mi 1/1Gi", corev1.PullAlways
	}
	if res(proxy) != wantProxy || res(agent) != wantAgent {
		t.Errorf("resources: proxy %s (want %s), agent %s (want %s)", res(proxy), wantProxy, res(agent), wantAgent)
	}
	if proxy.ImagePullPolicy != wantPull || agent.ImagePullPolicy != wantAgentPull {
		t.Errorf("pull policies %s, %s; want %s, %s", proxy.ImagePullPolicy, agent.ImagePullPolicy, wantPull, wantAgentPull)
	}
	penv, aenv := envOf(proxy), envOf(agent)
	for k, v := range map[string]string{
		"DAEDALUS_WORKER": "copilot", "DAEDALUS_MODE": mode, "DAEDALUS_AGENT_ADDR": "127.0.0.1:3000",
		"DAEDALUS_GRACE_PERIOD": "35s", "DAEDALUS_DRAIN_TIMEOUT": "30s", "DAEDALUS_WORKSPACE": "/workspace",
		"NATS_USER": "secret:daedalus-nats-auth/user", "NATS_PASSWORD": "secret:daedalus-nats-auth/password",
	} {
		if penv[k] != v {
			t.Errorf("proxy env %s = %q, want %q", k, penv[k], v)
		}
	}
	if !strings.HasPrefix(penv["NATS_URL"], "nats://daedalus-nats.") {
		t.Errorf("proxy NATS_URL = %q", penv["NATS_URL"])
	}
	wantToken := ""
	if overlay {
		wantToken = "secret:copilot-secret/github-token"
	}
	if aenv["GITHUB_TOKEN"] != wantToken {
		t.Errorf("agent GITHUB_TOKEN = %q, want %q", aenv["GITHUB_TOKEN"], wantToken)
	}
	for _, c := range []corev1.Container{proxy, agent} {
		sc := c.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
			sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("container %s security context is not locked down: %+v", c.Name, sc)
		}
	}
	if sc := proxy.SecurityContext; sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("proxy root filesystem is writable")
	}
}

// checkScaledJob checks the ScaledJob of worker copilot: the trigger on the worker's own
// consumer, a 15 s polling interval with the default scaling strategy, and the Job's pod.
func checkScaledJob(ctx context.Context, t *testing.T, c *Cluster, ns, tag string) {
	t.Helper()
	u, err := c.Dynamic.Resource(ScaledJobGVR).Namespace(ns).Get(ctx, "daedalus-copilot", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("ScaledJob: %v", err)
	}
	str := func(path ...string) string {
		v, _, _ := unstructured.NestedFieldNoCopy(u.Object, path...)
		if v == nil {
			return ""
		}
		s, _ := v.(string)
		return s
	}
	if v, _, _ := unstructured.NestedInt64(u.Object, "spec", "pollingInterval"); v != 15 {
		t.Errorf("pollingInterval = %d, want 15", v)
	}
	if s := str("spec", "scalingStrategy", "strategy"); s != "default" {
		t.Errorf("scaling strategy = %q, want default", s)
	}
	triggers, _, _ := unstructured.NestedSlice(u.Object, "spec", "triggers")
	if len(triggers) != 1 {
		t.Fatalf("triggers = %v", triggers)
	}
	tr := triggers[0].(map[string]any)
	md, _ := tr["metadata"].(map[string]any)
	want := map[string]any{
		"natsServerMonitoringEndpoint": "daedalus-nats." + ns + ".svc.cluster.local:8222",
		"account":                      "$G",
		"stream":                       "AGENT_TASKS",
		"consumer":                     "copilot",
		"lagThreshold":                 "1",
		"activationLagThreshold":       "0",
	}
	if tr["type"] != "nats-jetstream" {
		t.Errorf("trigger type = %v", tr["type"])
	}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("trigger metadata %s = %v, want %v", k, md[k], v)
		}
	}
	tmpl, _, _ := unstructured.NestedMap(u.Object, "spec", "jobTargetRef", "template")
	var pod corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, &pod); err != nil {
		t.Fatal(err)
	}
	checkWorkerPod(t, pod.Spec, "job", tag, true)
}
