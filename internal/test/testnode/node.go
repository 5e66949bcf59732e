package testnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Images resolves an image reference to the executable that stands in for it. An
// error means the image cannot be pulled; its text becomes the ErrImagePull message.
type Images func(ctx context.Context, image string) (string, error)

// Node runs pods as local processes. Set the fields, then call Start.
type Node struct {
	Client kubernetes.Interface
	// Name of the Node object (default "testnode").
	Name string
	// Labels are added to the Node object's own, for the nodeSelectors of the pods
	// that a controller places by node (a DaemonSet's).
	Labels map[string]string
	// Images resolves images to executables.
	Images Images
	// Policy chooses, per pod, between running its images (Exec) and standing in for
	// them (Healthy, Failing, Unpullable). Nil means Exec when Images is set and Healthy
	// otherwise: a Node without Images makes every pod do what a working image does.
	Policy Policy
	// Env is the base environment of every process (PATH and the like); the
	// container's own environment is appended.
	Env []string
	// Dir holds the containers' logs and the pods' emptyDir volumes (a test's TempDir;
	// required).
	Dir string
	// Output, when set, also receives every container's output, each line prefixed
	// with namespace/pod/container.
	Output io.Writer
	// RestartBackoff is the wait before a container restart (default 1 s).
	RestartBackoff time.Duration
	// Logf, when set, reports what the node could not do (binding, status writes).
	Logf func(format string, args ...any)

	mu     sync.Mutex
	pods   map[types.UID]*pod
	nextIP int
	wg     sync.WaitGroup
	outMu  sync.Mutex
}

// Start registers the node and runs pods until the returned stop function is called;
// stop kills every process still running and waits for them.
func (n *Node) Start(ctx context.Context) (stop func(), err error) {
	if n.Dir == "" {
		return nil, errors.New("testnode: Dir is required (a test's TempDir)")
	}
	if n.Name == "" {
		n.Name = "testnode"
	}
	if n.RestartBackoff == 0 {
		n.RestartBackoff = time.Second
	}
	n.pods = map[types.UID]*pod{}
	if err := n.register(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	f := informers.NewSharedInformerFactory(n.Client, 0)
	inf := f.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { n.observe(ctx, o) },
		UpdateFunc: func(_, o any) { n.observe(ctx, o) },
	}); err != nil {
		cancel()
		return nil, fmt.Errorf("watching pods: %w", err)
	}
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	return func() {
		cancel()
		f.Shutdown()
		n.mu.Lock()
		for _, p := range n.pods {
			p.kill()
		}
		n.mu.Unlock()
		n.wg.Wait()
	}, nil
}

func (n *Node) register(ctx context.Context) error {
	labels := map[string]string{"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux"}
	maps.Copy(labels, n.Labels)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: labels}}
	got, err := n.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, err = n.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
	}
	if err != nil {
		return fmt.Errorf("registering node %s: %w", n.Name, err)
	}
	now := metav1.Now()
	got.Status = corev1.NodeStatus{
		Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("500")},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("500")},
		Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}},
		Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: n.Name}},
	}
	if got, err = n.Client.CoreV1().Nodes().UpdateStatus(ctx, got, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("marking node %s ready: %w", n.Name, err)
	}
	// The API server's admission taints a new node not-ready, and the node lifecycle
	// controller lifts the taint once the node reports Ready. That controller does not
	// run here; the DaemonSet controller places no pod on a tainted node. A node that
	// already existed gets the labels too.
	taints := slices.DeleteFunc(slices.Clone(got.Spec.Taints), func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeNotReady })
	if len(taints) == len(got.Spec.Taints) && maps.Equal(got.Labels, mergeLabels(got.Labels, labels)) {
		return nil
	}
	got.Spec.Taints = taints
	got.Labels = mergeLabels(got.Labels, labels)
	if _, err := n.Client.CoreV1().Nodes().Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating node %s: %w", n.Name, err)
	}
	return nil
}

func mergeLabels(have, add map[string]string) map[string]string {
	m := maps.Clone(have)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, add)
	return m
}

// observe starts a pod the node has not seen and passes deletions to running ones.
func (n *Node) observe(ctx context.Context, o any) {
	obj, ok := o.(*corev1.Pod)
	if !ok || (obj.Spec.NodeName != "" && obj.Spec.NodeName != n.Name) {
		return
	}
	n.mu.Lock()
	p := n.pods[obj.UID]
	if p == nil {
		if obj.DeletionTimestamp != nil || obj.Status.Phase == corev1.PodSucceeded || obj.Status.Phase == corev1.PodFailed {
			n.mu.Unlock()
			return
		}
		n.nextIP++
		p = newPod(n, obj.DeepCopy(), fmt.Sprintf("127.0.%d.%d", 1+n.nextIP/250, 1+n.nextIP%250))
		n.pods[obj.UID] = p
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			p.run(ctx)
		}()
	}
	n.mu.Unlock()
	if obj.DeletionTimestamp != nil {
		grace := int64(30)
		if obj.DeletionGracePeriodSeconds != nil {
			grace = *obj.DeletionGracePeriodSeconds
		}
		p.terminate(time.Duration(grace) * time.Second)
	}
}

// Describe returns one line per pod the node has run, deleted ones included:
// namespace/name, its outcome when the node stood in for its images, its phase and
// each container's state. Tests print it when a wait fails.
func (n *Node) Describe() string {
	n.mu.Lock()
	pods := slices.Collect(maps.Values(n.pods))
	n.mu.Unlock()
	lines := make([]string, 0, len(pods))
	for _, p := range pods {
		lines = append(lines, p.describe())
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// Logs returns what the container namespace/pod/container has printed so far.
func (n *Node) Logs(namespace, pod, container string) string {
	b, _ := os.ReadFile(n.logPath(namespace, pod, container))
	return string(b)
}

func (n *Node) logPath(namespace, pod, container string) string {
	return filepath.Join(n.Dir, "logs", namespace+"_"+pod+"_"+container+".log")
}

func (n *Node) logf(format string, args ...any) {
	if n.Logf != nil {
		n.Logf(format, args...)
	}
}
