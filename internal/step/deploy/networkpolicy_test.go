package deploy

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/daedalus-dev/daedalus/internal/test/kubetest"
)

// renderedDocs renders the chart and returns its documents of the given kind.
func renderedDocs(t *testing.T, files, sets []string, kind string) []string {
	t.Helper()
	_, _, rel := renderChart(t, files, sets, "daedalus")
	var out []string
	for _, doc := range strings.Split(rel.Manifest, "\n---") {
		if strings.Contains(doc, "\nkind: "+kind+"\n") {
			out = append(out, doc)
		}
	}
	return out
}

// podLabels returns the pod template labels of the rendered workload of kind (a
// ScaledJob's jobTargetRef.template or a StatefulSet's template).
func podLabels(t *testing.T, files []string, kind string) labels.Set {
	t.Helper()
	docs := renderedDocs(t, files, nil, kind)
	if len(docs) == 0 {
		t.Fatalf("no %s in the render", kind)
	}
	var obj workload
	if err := yaml.Unmarshal([]byte(docs[0]), &obj); err != nil {
		t.Fatal(err)
	}
	return obj.pod().Labels
}

func selects(t *testing.T, sel *metav1.LabelSelector, set labels.Set) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return s.Matches(set)
}

func hasPort(ports []networkingv1.NetworkPolicyPort, port int, proto corev1.Protocol) bool {
	return slices.ContainsFunc(ports, func(p networkingv1.NetworkPolicyPort) bool {
		return p.Port != nil && p.Port.IntValue() == port && p.Protocol != nil && *p.Protocol == proto
	})
}

// TestNetworkPoliciesOnAPIServer creates the production overlay's NetworkPolicies, with
// an allow-list that covers the instance metadata service in several ways, on a real
// kube-apiserver (which validates them, e.g. that every except lies inside its CIDR) and
// checks what they admit as stored: nothing into a worker pod; from a worker pod only
// DNS, NATS's client port and the allow-list, never 169.254.169.254; NATS monitoring
// only from KEDA's operator; NATS routes only from NATS nodes.
func TestNetworkPoliciesOnAPIServer(t *testing.T) {
	cl := kubetest.Start(t, kubetest.Options{})
	ctx := context.Background()
	files := []string{"values-production.yaml"}
	sets := []string{
		"workerNetworkPolicy.egress[0].cidr=0.0.0.0/0",
		"workerNetworkPolicy.egress[0].ports={443}",
		"workerNetworkPolicy.egress[1].cidr=169.254.0.0/16",
		"workerNetworkPolicy.egress[2].cidr=10.20.0.0/16",
		"workerNetworkPolicy.egress[2].ports={5432}",
		"workerNetworkPolicy.egress[3].cidr=2001:db8::/32",
		"scaler.mode=push",
	}
	if _, err := cl.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "daedalus"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, doc := range renderedDocs(t, files, sets, "NetworkPolicy") {
		var np networkingv1.NetworkPolicy
		if err := yaml.Unmarshal([]byte(doc), &np); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Client.NetworkingV1().NetworkPolicies("daedalus").Create(ctx, &np, metav1.CreateOptions{}); err != nil {
			t.Fatalf("the API server refuses NetworkPolicy %s: %v", np.Name, err)
		}
	}
	get := func(name string) *networkingv1.NetworkPolicy {
		t.Helper()
		np, err := cl.Client.NetworkingV1().NetworkPolicies("daedalus").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("NetworkPolicy %s: %v", name, err)
		}
		return np
	}
	workerPod := podLabels(t, files, "ScaledJob")
	natsPod := podLabels(t, files, "StatefulSet")
	var scalerPod labels.Set
	for _, doc := range renderedDocs(t, files, sets, "Deployment") {
		var obj workload
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatal(err)
		}
		if l := obj.pod().Labels; l["app.kubernetes.io/component"] == "scaler" {
			scalerPod = l
		}
	}
	if scalerPod == nil {
		t.Fatal("no scaler Deployment in the push render")
	}

	t.Run("worker", func(t *testing.T) {
		np := get("daedalus-worker")
		if !selects(t, &np.Spec.PodSelector, workerPod) || selects(t, &np.Spec.PodSelector, natsPod) {
			t.Errorf("podSelector %v: want the worker pods (%v) and not NATS", np.Spec.PodSelector, workerPod)
		}
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || len(np.Spec.Ingress) != 0 {
			t.Errorf("ingress: types %v rules %v, want Ingress with no rule (deny all)", np.Spec.PolicyTypes, np.Spec.Ingress)
		}
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			t.Fatalf("policy types %v: egress is not restricted", np.Spec.PolicyTypes)
		}
		imds := net.ParseIP("169.254.169.254")
		var dns, nats bool
		var blocks []string
		for _, r := range np.Spec.Egress {
			for _, peer := range r.To {
				switch {
				case peer.NamespaceSelector != nil && peer.PodSelector != nil:
					dns = selects(t, peer.NamespaceSelector, labels.Set{"kubernetes.io/metadata.name": "kube-system"}) &&
						selects(t, peer.PodSelector, labels.Set{"k8s-app": "kube-dns"}) &&
						hasPort(r.Ports, 53, corev1.ProtocolUDP) && hasPort(r.Ports, 53, corev1.ProtocolTCP) && len(r.Ports) == 2
				case peer.PodSelector != nil:
					nats = selects(t, peer.PodSelector, natsPod) && !selects(t, peer.PodSelector, workerPod) &&
						hasPort(r.Ports, 4222, corev1.ProtocolTCP) && len(r.Ports) == 1
				case peer.IPBlock != nil:
					blocks = append(blocks, peer.IPBlock.CIDR)
					_, cidr, err := net.ParseCIDR(peer.IPBlock.CIDR)
					if err != nil {
						t.Fatal(err)
					}
					if !cidr.Contains(imds) {
						continue
					}
					cut := slices.ContainsFunc(peer.IPBlock.Except, func(e string) bool {
						_, ex, err := net.ParseCIDR(e)
						return err == nil && ex.Contains(imds)
					})
					if !cut {
						t.Errorf("egress to %s (except %v) reaches the instance metadata service", peer.IPBlock.CIDR, peer.IPBlock.Except)
					}
				default:
					t.Errorf("egress peer %+v admits more than DNS, NATS and the allow-list", peer)
				}
			}
			if len(r.To) == 0 {
				t.Errorf("egress rule %+v admits every destination", r)
			}
		}
		if !dns || !nats {
			t.Errorf("egress: DNS admitted %v, NATS client port admitted %v; want both", dns, nats)
		}
		if want := []string{"0.0.0.0/0", "169.254.0.0/16", "10.20.0.0/16", "2001:db8::/32"}; !slices.Equal(blocks, want) {
			t.Errorf("allow-list %v, want %v", blocks, want)
		}
	})

	// The scaler: only KEDA's operator reaches its gRPC port; it reaches only DNS and
	// NATS's client port, and NATS admits it there.
	t.Run("scaler", func(t *testing.T) {
		np := get("daedalus-scaler")
		if !selects(t, &np.Spec.PodSelector, scalerPod) || selects(t, &np.Spec.PodSelector, workerPod) || selects(t, &np.Spec.PodSelector, natsPod) {
			t.Errorf("podSelector %v: want the scaler pods (%v) only", np.Spec.PodSelector, scalerPod)
		}
		if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 || !hasPort(np.Spec.Ingress[0].Ports, 9443, corev1.ProtocolTCP) || len(np.Spec.Ingress[0].Ports) != 1 {
			t.Fatalf("ingress %+v, want one rule: KEDA's operator to 9443/TCP", np.Spec.Ingress)
		}
		from := np.Spec.Ingress[0].From[0]
		if from.NamespaceSelector == nil || from.PodSelector == nil ||
			!selects(t, from.NamespaceSelector, labels.Set{"kubernetes.io/metadata.name": "keda"}) ||
			selects(t, from.NamespaceSelector, labels.Set{"kubernetes.io/metadata.name": "daedalus"}) ||
			!selects(t, from.PodSelector, labels.Set{"app": "keda-operator"}) {
			t.Errorf("scaler admitted from %+v, want KEDA's operator only", from)
		}
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			t.Fatalf("policy types %v: egress is not restricted", np.Spec.PolicyTypes)
		}
		var dns, nats bool
		for _, r := range np.Spec.Egress {
			for _, peer := range r.To {
				switch {
				case peer.NamespaceSelector != nil && peer.PodSelector != nil:
					dns = selects(t, peer.NamespaceSelector, labels.Set{"kubernetes.io/metadata.name": "kube-system"}) &&
						selects(t, peer.PodSelector, labels.Set{"k8s-app": "kube-dns"}) && len(r.Ports) == 2
				case peer.PodSelector != nil:
					nats = selects(t, peer.PodSelector, natsPod) && hasPort(r.Ports, 4222, corev1.ProtocolTCP) && len(r.Ports) == 1
				default:
					t.Errorf("scaler egress peer %+v admits more than DNS and NATS", peer)
				}
			}
		}
		if !dns || !nats {
			t.Errorf("scaler egress: DNS admitted %v, NATS client port admitted %v; want both", dns, nats)
		}
		admitted := false
		for _, r := range get("daedalus-nats").Spec.Ingress {
			if hasPort(r.Ports, 4222, corev1.ProtocolTCP) {
				for _, p := range r.From {
					admitted = admitted || (p.NamespaceSelector == nil && p.PodSelector != nil && selects(t, p.PodSelector, scalerPod))
				}
			}
		}
		if !admitted {
			t.Error("NATS's policy does not admit the scaler to its client port")
		}
	})

	t.Run("nats", func(t *testing.T) {
		np := get("daedalus-nats")
		if !selects(t, &np.Spec.PodSelector, natsPod) || selects(t, &np.Spec.PodSelector, workerPod) {
			t.Errorf("podSelector %v: want the NATS pods only", np.Spec.PodSelector)
		}
		kedaOperator := func(p networkingv1.NetworkPolicyPeer) bool {
			return p.NamespaceSelector != nil && p.PodSelector != nil &&
				selects(t, p.NamespaceSelector, labels.Set{"kubernetes.io/metadata.name": "keda"}) &&
				!selects(t, p.NamespaceSelector, labels.Set{"kubernetes.io/metadata.name": "daedalus"}) &&
				selects(t, p.PodSelector, labels.Set{"app": "keda-operator"})
		}
		var monitor, routes int
		for _, r := range np.Spec.Ingress {
			if hasPort(r.Ports, 8222, corev1.ProtocolTCP) {
				monitor++
				if len(r.From) != 1 || !kedaOperator(r.From[0]) {
					t.Errorf("monitoring port admitted from %+v, want KEDA's operator only", r.From)
				}
			}
			if hasPort(r.Ports, 6222, corev1.ProtocolTCP) {
				routes++
				if len(r.From) != 1 || r.From[0].PodSelector == nil || !selects(t, r.From[0].PodSelector, natsPod) || selects(t, r.From[0].PodSelector, workerPod) || r.From[0].NamespaceSelector != nil {
					t.Errorf("route port admitted from %+v, want NATS nodes only", r.From)
				}
			}
		}
		if monitor != 1 || routes != 1 {
			t.Errorf("rules admitting monitoring: %d, routes: %d; want one each", monitor, routes)
		}
	})
}
