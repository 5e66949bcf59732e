package smoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/daedalus-dev/daedalus/internal/test/embednats"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
	"github.com/daedalus-dev/daedalus/internal/test/kubetest"
	"github.com/daedalus-dev/daedalus/proxy"
)

// TestChecksOnAPIServer runs the checks that need no running workload against a real
// kube-apiserver (with KEDA's CRDs) and a real NATS JetStream: each broken set-up must
// fail the right check, leave the later ones not run, and be diagnosed. The Jobs and
// pods a kubelet and KEDA would make are written here by hand where a case needs them.
// The full path (KEDA, Jobs, the proxy and agent as processes) is `make e2e`.
func TestChecksOnAPIServer(t *testing.T) {
	crds := engine.Path(t, "DAEDALUS_KEDA_CRDS", "keda-crds", kubetest.MakeTarget)
	c := kubetest.Start(t, kubetest.Options{CRDDirs: []string{crds}})
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	srv := embednats.Run(t, embednats.Options{})
	_, js := embednats.Connect(t, srv.ClientURL())
	if err := proxy.Bootstrap(t.Context(), js, proxy.BootstrapConfig{
		Workers: []string{"copilot", "lonely"}, AckWait: time.Minute, MaxAttempts: 3, Replicas: 1,
		TaskMaxAge: time.Hour, ResultMaxAge: time.Hour, StatusMaxAge: time.Hour, DuplicateWindow: time.Hour,
	}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteConsumer(t.Context(), "AGENT_TASKS", "lonely"); err != nil {
		t.Fatal(err)
	}
	deps := Deps{
		Kube: c.Client, Dynamic: dyn,
		NATS: func(context.Context) (*nats.Conn, func(), error) {
			conn, err := nats.Connect(srv.ClientURL())
			return conn, func() {
				if conn != nil {
					conn.Close()
				}
			}, err
		},
		OperatorLog: func(context.Context, int) ([]string, error) {
			return []string{"INFO reconciling", "ERROR nats_jetstream_scaler: error requesting monitoring endpoint: dial tcp: lookup daedalus-nats: no such host"}, nil
		},
	}

	// setup builds a namespace holding what a healthy deploy leaves: the token secret,
	// Helm's release record and the worker's ScaledJob.
	type setup struct {
		noNamespace, noSecret, secretWrongKey, pending, noScaledJob, activeJob, notReady bool
		worker, stream                                                                   string
	}
	build := func(ctx context.Context, t *testing.T, ns string, s setup) {
		t.Helper()
		if s.noNamespace {
			return
		}
		k := c.Client
		must := func(_ any, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(k.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
		if !s.noSecret {
			key := TokenSecretKey
			if s.secretWrongKey {
				key = "token"
			}
			must(k.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: DefaultTokenSecret},
				Data: map[string][]byte{key: []byte("ghp_x")}}, metav1.CreateOptions{}))
		}
		record := func(version int, status string) {
			must(k.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
				Name:   fmt.Sprintf("sh.helm.release.v1.daedalus.v%d", version),
				Labels: map[string]string{"owner": "helm", "name": "daedalus", "status": status, "version": fmt.Sprint(version)},
			}, Type: "helm.sh/release.v1"}, metav1.CreateOptions{}))
		}
		record(1, "superseded")
		if s.pending {
			record(2, "pending-upgrade")
		} else {
			record(2, "deployed")
		}
		worker, stream := orDefault(s.worker, "copilot"), orDefault(s.stream, "AGENT_TASKS")
		if !s.noScaledJob {
			sj := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledJob",
				"metadata": map[string]any{"name": "daedalus-" + worker, "labels": map[string]any{
					"app.kubernetes.io/instance": "daedalus", "daedalus.dev/worker": worker}},
				"spec": map[string]any{
					"pollingInterval": int64(2),
					"jobTargetRef": map[string]any{"template": map[string]any{"spec": map[string]any{
						"containers": []any{map[string]any{"name": "proxy", "image": "example.test/proxy:1"}}}}},
					"triggers": []any{map[string]any{"type": "nats-jetstream", "metadata": map[string]any{
						"natsServerMonitoringEndpoint": "daedalus-nats." + ns + ".svc.cluster.local:8222",
						"stream":                       stream, "consumer": worker, "account": "$G", "lagThreshold": "1"}}},
				},
			}}
			got, err := dyn.Resource(scaledJobGVR).Namespace(ns).Create(ctx, sj, metav1.CreateOptions{})
			must(got, err)
			if s.notReady {
				_ = unstructured.SetNestedSlice(got.Object, []any{map[string]any{"type": "Ready", "status": "False",
					"reason": "ScaledJobCheckFailed", "message": "error parsing nats-jetstream metadata"}}, "status", "conditions")
				must(dyn.Resource(scaledJobGVR).Namespace(ns).UpdateStatus(ctx, got, metav1.UpdateOptions{}))
				must(k.CoreV1().Events(ns).Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "sj-warning"},
					InvolvedObject: corev1.ObjectReference{Kind: "ScaledJob", Name: "daedalus-" + worker, Namespace: ns},
					Type:           corev1.EventTypeWarning, Reason: "KEDAScalerFailed", Message: "error requesting monitoring endpoint", Count: 3}, metav1.CreateOptions{}))
			}
		}
		if s.activeJob {
			must(k.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "leftover",
				Labels: map[string]string{JobLabel: "daedalus-" + worker}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "proxy", Image: "example.test/proxy:1"}}}}}}, metav1.CreateOptions{}))
		}
	}

	tests := []struct {
		name   string
		setup  setup
		cfg    func(*Config)
		fails  string // the check that fails
		detail string // in its detail
		diag   string // a diagnosis title, "" for none
		ev     string // in that diagnosis's evidence
	}{
		{name: "no namespace", setup: setup{noNamespace: true}, fails: CheckPrerequisites, detail: "deploy first"},
		{name: "no token secret", setup: setup{noSecret: true}, fails: CheckPrerequisites, detail: "copilot-secret", diag: DiagCrashLoop, ev: "not found"},
		{name: "token secret without its key", setup: setup{secretWrongKey: true}, fails: CheckPrerequisites, detail: "has no key github-token", diag: DiagCrashLoop, ev: "has no key github-token"},
		{name: "release pending", setup: setup{pending: true}, fails: CheckRelease, detail: "revision 2 is pending-upgrade"},
		{name: "no release", cfg: func(c *Config) { c.Release = "other" }, fails: CheckRelease, detail: "no Helm release other"},
		{name: "no ScaledJob", setup: setup{noScaledJob: true}, fails: CheckBaseline, detail: "keda.enabled=true"},
		{name: "Job active before publishing", setup: setup{activeJob: true}, fails: CheckBaseline, detail: "leftover"},
		{name: "consumer missing", setup: setup{worker: "lonely"}, cfg: func(c *Config) { c.Worker = "lonely" }, fails: CheckPublish,
			detail: "consumer lonely", diag: DiagConsumer, ev: "has no durable consumer lonely"},
		{name: "stream name mismatch", setup: setup{stream: "TASKS"}, fails: CheckColdStart, diag: DiagStreamName, ev: `stream "TASKS"`},
		{name: "ScaledJob not ready", setup: setup{notReady: true}, fails: CheckColdStart, diag: DiagScaledJob, ev: "nats_jetstream_scaler"},
		{name: "no Job appears", fails: CheckColdStart, detail: "no Job of ScaledJob daedalus-copilot", diag: DiagNoJob, ev: "has not reconciled it"},
	}
	// Sequential: the cases that publish share the copilot consumer, and the last one
	// deletes the CRD every other case needs.
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			ns := fmt.Sprintf("smoke-%d", i)
			build(ctx, t, ns, tc.setup)
			cfg := Config{Namespace: ns, Release: "daedalus", Worker: "copilot", TokenSecret: DefaultTokenSecret, Tasks: 1,
				Prompt: "hello", ColdStartTimeout: 2 * time.Second, JobTimeout: 5 * time.Second, RestoreTimeout: 5 * time.Second,
				KEDANamespace: "keda", TasksStream: "AGENT_TASKS", ResultsStream: "AGENT_RESULTS", OperatorLogLines: 5}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			if tc.name == "no Job appears" || tc.name == "stream name mismatch" || tc.name == "ScaledJob not ready" {
				// Each of these publishes to the copilot consumer: keep them apart.
				purge(ctx, t, js)
				defer purge(ctx, t, js)
			}
			rep, err := Run(ctx, cfg, deps)
			var ce *CheckError
			if !errors.As(err, &ce) || ce.Check != tc.fails {
				t.Fatalf("error %v, want check %q to fail", err, tc.fails)
			}
			got := rep.Check(tc.fails)
			if got.Status != Failed || !strings.Contains(got.Detail, tc.detail) {
				t.Errorf("check %s: %s %q, want failed with %q", tc.fails, got.Status, got.Detail, tc.detail)
			}
			after := false
			for _, cr := range rep.Checks {
				if after && cr.Status != NotRun {
					t.Errorf("check %s after the failure is %s, want not run", cr.Name, cr.Status)
				}
				if !after && cr.Name != tc.fails && cr.Status != Passed {
					t.Errorf("check %s before the failure is %s", cr.Name, cr.Status)
				}
				after = after || cr.Name == tc.fails
			}
			if tc.diag == "" {
				return
			}
			for _, d := range rep.Diagnoses {
				if d.Title == tc.diag && strings.Contains(strings.Join(d.Evidence, "\n"), tc.ev) && d.Fix != "" {
					return
				}
			}
			t.Errorf("no diagnosis %q with evidence %q in %+v", tc.diag, tc.ev, rep.Diagnoses)
		})
	}

	t.Run("KEDA CRD missing", func(t *testing.T) {
		ctx := t.Context()
		ns := "smoke-nocrd"
		build(ctx, t, ns, setup{})
		if err := dyn.Resource(crdGVR).Delete(ctx, "scaledjobs.keda.sh", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := Run(ctx, Config{Namespace: ns, Release: "daedalus", Worker: "copilot", TokenSecret: DefaultTokenSecret, Tasks: 1,
			Prompt: "hello", ColdStartTimeout: time.Second, JobTimeout: time.Second, RestoreTimeout: time.Second,
			TasksStream: "AGENT_TASKS", ResultsStream: "AGENT_RESULTS"}, deps)
		var ce *CheckError
		if !errors.As(err, &ce) || ce.Check != CheckKEDACRD || !strings.Contains(ce.Problem, "install KEDA") {
			t.Fatalf("error %v, want the KEDA CRD check to fail naming install-keda", err)
		}
	})
}

// purge empties the tasks stream between cases that publish.
func purge(ctx context.Context, t *testing.T, js jetstream.JetStream) {
	t.Helper()
	s, err := js.Stream(ctx, "AGENT_TASKS")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Purge(ctx); err != nil {
		t.Fatal(err)
	}
}
