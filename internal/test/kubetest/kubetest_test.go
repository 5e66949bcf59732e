package kubetest_test

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/daedalus-dev/daedalus/internal/test/kubetest"
	"github.com/daedalus-dev/daedalus/internal/test/testnode"
)

// TestControlPlane starts the real control plane with the workload controllers and a
// node (testnode, standing in for the images), and checks that a Job completes, a Job
// whose pod fails is marked failed, and a Deployment becomes available: what Helm's
// waits depend on.
func TestControlPlane(t *testing.T) {
	c := kubetest.Start(t, kubetest.Options{Controllers: kubetest.DefaultControllers})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	v, err := c.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v1.37.2" {
		t.Errorf("server version = %q, want v1.37.2 (the -X version flags of `make kube`)", v.GitVersion)
	}

	node := &testnode.Node{Client: c.Client, Dir: t.TempDir(), Logf: t.Logf, Policy: func(p *corev1.Pod) testnode.Outcome {
		if p.Labels["outcome"] == "fail" {
			return testnode.Failing
		}
		return testnode.Healthy
	}}
	stop, err := node.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	ns := "default"
	pod := corev1.PodTemplateSpec{
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "example.invalid/c:1"}}},
	}
	job := func(name, outcome string) *batchv1.Job {
		p := *pod.DeepCopy()
		p.Labels = map[string]string{"outcome": outcome}
		return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: p}}
	}
	for _, j := range []*batchv1.Job{job("ok", "succeed"), job("bad", "fail")} {
		if _, err := c.Client.BatchV1().Jobs(ns).Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	labels := map[string]string{"app": "web"}
	dp := pod.DeepCopy()
	dp.Labels = labels
	dp.Spec.RestartPolicy = corev1.RestartPolicyAlways
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: *dp}}
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	jobDone := func(name string, want batchv1.JobConditionType) func(context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			j, err := c.Client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, cond := range j.Status.Conditions {
				if cond.Type == want && cond.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		}
	}
	if err := kubetest.WaitFor(ctx, jobDone("ok", batchv1.JobComplete)); err != nil {
		t.Fatalf("job ok never completed: %v\nnode:\n%s", err, node.Describe())
	}
	if err := kubetest.WaitFor(ctx, jobDone("bad", batchv1.JobFailed)); err != nil {
		t.Fatalf("job bad never failed: %v\nnode:\n%s", err, node.Describe())
	}
	err = kubetest.WaitFor(ctx, func(ctx context.Context) (bool, error) {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return d.Status.AvailableReplicas == 2, nil
	})
	if err != nil {
		t.Fatalf("deployment never became available: %v\nnode:\n%s", err, node.Describe())
	}
}
