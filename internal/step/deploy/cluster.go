package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Cluster is access to one Kubernetes cluster.
type Cluster struct {
	Config  *rest.Config
	Client  kubernetes.Interface
	CRDs    apiextensions.Interface
	Dynamic dynamic.Interface
}

// NewCluster builds the clients for cfg.
func NewCluster(cfg *rest.Config) (*Cluster, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 50, 100
	}
	c := &Cluster{Config: cfg}
	var err error
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("building a Kubernetes client: %w", err)
	}
	if c.CRDs, err = apiextensions.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("building a CRD client: %w", err)
	}
	if c.Dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("building a dynamic client: %w", err)
	}
	return c, nil
}

// restGetter hands Helm a fixed *rest.Config (Helm asks for a RESTClientGetter).
type restGetter struct {
	cfg       *rest.Config
	namespace string
}

func (g *restGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.cfg), nil }

func (g *restGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(g.cfg))
	if err != nil {
		return nil, err
	}
	return memory.NewMemCacheClient(dc), nil
}

func (g *restGetter) ToRESTMapper() (meta.RESTMapper, error) {
	dc, err := g.ToDiscoveryClient()
	if err != nil {
		return nil, err
	}
	m := restmapper.NewDeferredDiscoveryRESTMapper(dc)
	return restmapper.NewShortcutExpander(m, dc, nil), nil
}

func (g *restGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(),
		&clientcmd.ConfigOverrides{Context: clientcmdapi.Context{Namespace: g.namespace}})
}

// WorkloadIdentityLabel is the namespace label AKS workload identity looks for.
const WorkloadIdentityLabel = "azure.workload.identity/use"

// WorkloadIdentityClientID is the ServiceAccount annotation naming the identity.
const WorkloadIdentityClientID = "azure.workload.identity/client-id"

// UpsertNamespace creates the namespace, or adds the labels to an existing one.
func (c *Cluster) UpsertNamespace(ctx context.Context, name string, labels map[string]string) (created bool, err error) {
	ns, err := c.Client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, fmt.Errorf("creating namespace %s: %w", name, err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading namespace %s: %w", name, err)
	}
	if ns.DeletionTimestamp != nil {
		return false, fmt.Errorf("namespace %s is being deleted: wait until it is gone, then rerun", name)
	}
	if err := c.patchMeta(ctx, c.Client.CoreV1().RESTClient(), "namespaces", "", name, "labels", labels); err != nil {
		return false, fmt.Errorf("labelling namespace %s: %w", name, err)
	}
	return false, nil
}

// patchMeta merge-patches metadata.<field> (labels or annotations) of one object.
func (c *Cluster) patchMeta(ctx context.Context, rc rest.Interface, resource, namespace, name, field string, kv map[string]string) error {
	if len(kv) == 0 {
		return nil
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{field: kv}})
	if err != nil {
		return err
	}
	req := rc.Patch(types.MergePatchType).Resource(resource).Name(name).Body(body)
	if namespace != "" {
		req = req.Namespace(namespace)
	}
	return req.Do(ctx).Error()
}

// UpsertSecret creates or replaces the Opaque Secret name with data.
func (c *Cluster) UpsertSecret(ctx context.Context, namespace, name string, data map[string][]byte) error {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace,
			Labels: map[string]string{ManagedByLabel: ManagedByDeploy}},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
	cur, err := c.Client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := c.Client.CoreV1().Secrets(namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating secret %s/%s: %w", namespace, name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading secret %s/%s: %w", namespace, name, err)
	}
	cur.Data = data
	cur.StringData = nil
	if _, err := c.Client.CoreV1().Secrets(namespace).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating secret %s/%s: %w", namespace, name, err)
	}
	return nil
}

// AnnotateServiceAccount merge-patches annotations onto an existing ServiceAccount.
func (c *Cluster) AnnotateServiceAccount(ctx context.Context, namespace, name string, annotations map[string]string) error {
	if err := c.patchMeta(ctx, c.Client.CoreV1().RESTClient(), "serviceaccounts", namespace, name, "annotations", annotations); err != nil {
		return fmt.Errorf("annotating service account %s/%s: %w", namespace, name, err)
	}
	return nil
}

// WaitCRDsEstablished waits until every named CustomResourceDefinition exists and is
// Established (its API is served), or ctx ends.
func (c *Cluster) WaitCRDsEstablished(ctx context.Context, names []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pending := ""
	for {
		pending = ""
		for _, n := range names {
			crd, err := c.CRDs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, n, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
				return fmt.Errorf("reading CRD %s: %w", n, err)
			}
			if err != nil || !established(crd) {
				pending = n
				break
			}
		}
		if pending == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s is not Established after %s", pending, timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// ScaledJobGVR is KEDA's ScaledJob resource.
var ScaledJobGVR = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledjobs"}

// ServesScaledJobs checks through discovery that the API server serves KEDA's ScaledJob
// resource: Established CRDs whose API is then served are what the chart needs.
func (c *Cluster) ServesScaledJobs() error {
	gv := ScaledJobGVR.GroupVersion().String()
	list, err := c.Client.Discovery().ServerResourcesForGroupVersion(gv)
	if err != nil {
		return fmt.Errorf("KEDA's API %s is not served: %w", gv, err)
	}
	for _, r := range list.APIResources {
		if r.Name == ScaledJobGVR.Resource {
			return nil
		}
	}
	return fmt.Errorf("KEDA's API %s does not serve %s", gv, ScaledJobGVR.Resource)
}

// CountScaledJobs returns how many ScaledJobs of the release exist in namespace.
func (c *Cluster) CountScaledJobs(ctx context.Context, namespace, release string) (int, error) {
	list, err := c.Dynamic.Resource(ScaledJobGVR).Namespace(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/instance=" + release,
	})
	if err != nil {
		return 0, fmt.Errorf("listing ScaledJobs in %s: %w", namespace, err)
	}
	return len(list.Items), nil
}
