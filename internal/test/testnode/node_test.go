package testnode_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/daedalus-dev/daedalus/internal/test/kubetest"
	"github.com/daedalus-dev/daedalus/internal/test/testnode"
)

// shell stands in for the image "sh": every container here is a /bin/sh script.
func images(_ context.Context, image string) (string, error) {
	if image == "example.test/sh:1" {
		return "/bin/sh", nil
	}
	return "", fmt.Errorf("manifest unknown: %s", image)
}

func sh(name, script string) corev1.Container {
	return corev1.Container{Name: name, Image: "example.test/sh:1", Command: []string{"sh", "-c", script}}
}

// outcome is the test's Policy: the label "outcome" names a stand-in outcome, and a pod
// without it runs its images.
func outcome(p *corev1.Pod) testnode.Outcome {
	for _, o := range []testnode.Outcome{testnode.Healthy, testnode.Failing, testnode.Unpullable} {
		if p.Labels["outcome"] == o.String() {
			return o
		}
	}
	return testnode.Exec
}

// TestNode runs pods on a real API server with the job controller: a Job whose
// container reads a secret and whose native sidecar is stopped when it ends, the
// kubelet's waiting reasons for an unpullable image and a missing secret or key, the
// loopback address per pod, a crash loop, and SIGTERM on deletion; and pods whose
// images the node stands in for, healthy, failing or unpullable.
func TestNode(t *testing.T) {
	c := kubetest.Start(t, kubetest.Options{Controllers: []string{"job"}})
	n := &testnode.Node{Client: c.Client, Images: images, Policy: outcome, Labels: map[string]string{"agentpool": "workers"},
		Env: []string{"PATH=" + os.Getenv("PATH")}, Dir: t.TempDir(), RestartBackoff: 200 * time.Millisecond, Logf: t.Logf}
	stop, err := n.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	// Registered as a kubelet registers, with the not-ready taint lifted as the node
	// lifecycle controller lifts it once the node is Ready.
	node, err := c.Client.CoreV1().Nodes().Get(t.Context(), "testnode", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Labels["agentpool"] != "workers" || node.Labels["kubernetes.io/hostname"] != "testnode" {
		t.Errorf("node labels = %v, want agentpool=workers and kubernetes.io/hostname=testnode", node.Labels)
	}
	if len(node.Spec.Taints) != 0 {
		t.Errorf("node taints = %v, want none once Ready", node.Spec.Taints)
	}

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "token"}, Data: map[string][]byte{"github-token": []byte("ghp_example")}}
	never := corev1.RestartPolicyNever
	always := corev1.ContainerRestartPolicyAlways
	fromSecret := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: "GITHUB_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}}}
	}
	podWaiting := func(reason, message string) func(*corev1.Pod) string {
		return func(p *corev1.Pod) string {
			for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
				if w := cs.State.Waiting; w != nil && w.Reason == reason && strings.Contains(w.Message, message) {
					return ""
				}
			}
			return fmt.Sprintf("no container waiting %s with %q: %+v", reason, message, p.Status.ContainerStatuses)
		}
	}

	tests := []struct {
		name string
		spec corev1.PodSpec
		// outcome, when set, labels the pod for the node's Policy.
		outcome testnode.Outcome
		// check returns "" once the pod shows what it should.
		check func(*corev1.Pod) string
		// log is a line the container "main" must print.
		log string
		// deleteWhenRunning deletes the pod once it runs, then expects it gone.
		deleteWhenRunning bool
	}{
		{
			name: "job with sidecar and secret",
			spec: corev1.PodSpec{RestartPolicy: never,
				InitContainers: []corev1.Container{func() corev1.Container {
					s := sh("agent", `trap 'exit 0' TERM; while :; do sleep 0.1; done`)
					s.RestartPolicy = &always
					return s
				}()},
				Containers: []corev1.Container{func() corev1.Container {
					m := sh("main", `echo "token=$GITHUB_TOKEN host=$HOSTNAME"`)
					m.Env = []corev1.EnvVar{fromSecret("token", "github-token")}
					return m
				}()}},
			check: func(p *corev1.Pod) string {
				if p.Status.Phase != corev1.PodSucceeded {
					return "phase " + string(p.Status.Phase)
				}
				if s := p.Status.InitContainerStatuses; len(s) != 1 || s[0].State.Terminated == nil {
					return fmt.Sprintf("sidecar not terminated: %+v", s)
				}
				return ""
			},
			log: "token=ghp_example host=",
		},
		{
			name:  "unpullable image",
			spec:  corev1.PodSpec{RestartPolicy: never, Containers: []corev1.Container{{Name: "main", Image: "example.test/missing:1"}}},
			check: podWaiting("ImagePullBackOff", "manifest unknown"),
		},
		{
			name: "missing secret",
			spec: corev1.PodSpec{RestartPolicy: never, Containers: []corev1.Container{func() corev1.Container {
				m := sh("main", "true")
				m.Env = []corev1.EnvVar{fromSecret("nosuch", "github-token")}
				return m
			}()}},
			check: podWaiting("CreateContainerConfigError", `secret "nosuch" not found`),
		},
		{
			name: "missing key",
			spec: corev1.PodSpec{RestartPolicy: never, Containers: []corev1.Container{func() corev1.Container {
				m := sh("main", "true")
				m.Env = []corev1.EnvVar{fromSecret("token", "token")}
				return m
			}()}},
			check: podWaiting("CreateContainerConfigError", "couldn't find key token in Secret"),
		},
		{
			name: "crash loop",
			spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{sh("main", "echo dying; exit 3")}},
			check: func(p *corev1.Pod) string {
				if len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 2 {
					return ""
				}
				return fmt.Sprintf("restarts: %+v", p.Status.ContainerStatuses)
			},
			log: "dying",
		},
		{
			name: "pod network",
			spec: corev1.PodSpec{RestartPolicy: never, Containers: []corev1.Container{func() corev1.Container {
				m := sh("main", `echo "listen=$1 ip=$POD_IP"`)
				m.Command = append(m.Command, "arg0", "127.0.0.1:3000")
				m.Ports = []corev1.ContainerPort{{ContainerPort: 3000}}
				m.Env = []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}}
				return m
			}()}},
			check: func(p *corev1.Pod) string {
				if p.Status.Phase != corev1.PodSucceeded || !strings.HasPrefix(p.Status.PodIP, "127.0.") || p.Status.PodIP == "127.0.0.1" {
					return fmt.Sprintf("phase %s ip %s", p.Status.Phase, p.Status.PodIP)
				}
				return ""
			},
			log: "listen=127.0.",
		},
		{
			// No executable: the init container finishes, the sidecar and the container of
			// a pod that restarts them run until SIGTERM.
			name: "stand-in healthy",
			spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways,
				InitContainers: []corev1.Container{{Name: "setup", Image: "example.test/none:1"},
					{Name: "agent", Image: "example.test/none:1", RestartPolicy: &always}},
				Containers: []corev1.Container{{Name: "main", Image: "example.test/none:1", Args: []string{"serve"}}}},
			outcome: testnode.Healthy,
			check: func(p *corev1.Pod) string {
				ready := false
				for _, cd := range p.Status.Conditions {
					ready = ready || cd.Type == corev1.PodReady && cd.Status == corev1.ConditionTrue
				}
				init := p.Status.InitContainerStatuses
				if p.Status.Phase != corev1.PodRunning || !ready || len(init) != 2 || init[0].State.Terminated == nil ||
					init[0].State.Terminated.ExitCode != 0 || init[1].State.Running == nil {
					return fmt.Sprintf("phase %s, ready %t, init containers %+v", p.Status.Phase, ready, init)
				}
				return ""
			},
			log:               "standing in for example.test/none:1: running until SIGTERM",
			deleteWhenRunning: true,
		},
		{
			name: "stand-in failing, never restarted",
			spec: corev1.PodSpec{RestartPolicy: never, Containers: []corev1.Container{
				{Name: "main", Image: "example.test/none:1"}, {Name: "other", Image: "example.test/none:1"}}},
			outcome: testnode.Failing,
			check: func(p *corev1.Pod) string {
				s := p.Status.ContainerStatuses
				if p.Status.Phase != corev1.PodFailed || len(s) != 2 || s[0].State.Terminated == nil || s[0].State.Terminated.ExitCode != 1 ||
					s[1].State.Terminated == nil || s[1].State.Terminated.ExitCode != 0 {
					return fmt.Sprintf("phase %s, containers %+v", p.Status.Phase, s)
				}
				return ""
			},
			log: "standing in for example.test/none:1: failing",
		},
		{
			name:    "stand-in failing, restarted",
			spec:    corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{{Name: "main", Image: "example.test/none:1"}}},
			outcome: testnode.Failing,
			check: func(p *corev1.Pod) string {
				if msg := podWaiting("CrashLoopBackOff", "back-off restarting failed container main")(p); msg != "" {
					return msg
				}
				if d := n.Describe(); !strings.Contains(d, "/p (Failing): Running; main waiting: CrashLoopBackOff") {
					return "the node describes no crash loop:\n" + d
				}
				return ""
			},
		},
		{
			name:    "stand-in unpullable",
			spec:    corev1.PodSpec{RestartPolicy: never, Containers: []corev1.Container{sh("main", "true")}},
			outcome: testnode.Unpullable,
			check: func(p *corev1.Pod) string {
				if p.Status.Phase != corev1.PodPending {
					return "phase " + string(p.Status.Phase)
				}
				return podWaiting("ImagePullBackOff", `Failed to pull image "example.test/sh:1"`)(p)
			},
		},
		{
			name:              "sigterm on deletion",
			spec:              corev1.PodSpec{RestartPolicy: never, TerminationGracePeriodSeconds: ptr.To[int64](5), Containers: []corev1.Container{sh("main", `trap 'echo got SIGTERM; exit 0' TERM; echo running until SIGTERM; while :; do sleep 0.1; done`)}},
			deleteWhenRunning: true,
			log:               "got SIGTERM",
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			ns := fmt.Sprintf("node-%d", i)
			if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, secret.DeepCopy(), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			var podName string
			if tc.spec.RestartPolicy == never && tc.name == "job with sidecar and secret" {
				job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j"}, Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0),
					Template: corev1.PodTemplateSpec{Spec: tc.spec}}}
				if _, err := c.Client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
				waitFor(ctx, t, "the Job to complete", func() string {
					j, err := c.Client.BatchV1().Jobs(ns).Get(ctx, "j", metav1.GetOptions{})
					if err != nil {
						return err.Error()
					}
					for _, cd := range j.Status.Conditions {
						if cd.Type == batchv1.JobComplete && cd.Status == corev1.ConditionTrue {
							return ""
						}
					}
					return fmt.Sprintf("conditions %+v", j.Status.Conditions)
				})
				pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=j"})
				if err != nil || len(pods.Items) != 1 {
					t.Fatalf("pods of the Job: %v %v", pods, err)
				}
				podName = pods.Items[0].Name
			} else {
				p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: tc.spec}
				if tc.outcome != testnode.Exec {
					p.Labels = map[string]string{"outcome": tc.outcome.String()}
				}
				if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
				podName = "p"
			}
			if tc.check != nil {
				waitFor(ctx, t, "the pod's status", func() string {
					p, err := c.Client.CoreV1().Pods(ns).Get(ctx, podName, metav1.GetOptions{})
					if err != nil {
						return err.Error()
					}
					return tc.check(p)
				})
			}
			if tc.deleteWhenRunning {
				waitFor(ctx, t, "the container to start", func() string {
					if strings.Contains(n.Logs(ns, podName, "main"), "running until SIGTERM") {
						return ""
					}
					return "no output yet"
				})
				if err := c.Client.CoreV1().Pods(ns).Delete(ctx, podName, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
				waitFor(ctx, t, "the pod to be removed", func() string {
					_, err := c.Client.CoreV1().Pods(ns).Get(ctx, podName, metav1.GetOptions{})
					if apierrors.IsNotFound(err) {
						return ""
					}
					return fmt.Sprintf("still there (%v)", err)
				})
			}
			if tc.log != "" {
				waitFor(ctx, t, "the container's output", func() string {
					if out := n.Logs(ns, podName, "main"); !strings.Contains(out, tc.log) {
						return fmt.Sprintf("output %q lacks %q", out, tc.log)
					}
					return ""
				})
			}
		})
	}
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() string) {
	t.Helper()
	var last string
	for {
		if last = cond(); last == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %s", what, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
