package deploy

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// ScalerTLS is what a push-mode render references for mutual TLS between KEDA and the
// scaler: the scaler's Service, whose DNS names its certificate carries, and the Secrets
// the scaler and KEDA's TriggerAuthentication read.
type ScalerTLS struct {
	Namespace string
	Service   string
	// ServerSecret holds the scaler's ca.crt, tls.crt and tls.key; KEDA checks the
	// scaler against its ca.crt, and the scaler checks KEDA against the same.
	ServerSecret string
	// ClientSecret holds KEDA's client certificate (tls.crt, tls.key). It may be
	// ServerSecret, whose certificate then serves both ends.
	ClientSecret string
}

// CASecret is where the step keeps the CA that signs both certificates: read by the step
// only, never mounted.
func (s ScalerTLS) CASecret() string { return s.ServerSecret + "-ca" }

// Labels and annotations that mark the scaler's TLS Secrets as the deploy step's own.
const (
	ManagedByLabel     = "app.kubernetes.io/managed-by"
	ManagedByDeploy    = "daedalus-deploy"
	ScalerTLSRoleLabel = "daedalus.dev/scaler-tls" // ca, server, client or server-client
)

// scalerTLSOf reads what a render's scaler references, or nil without a scaler (poll
// mode, or KEDA off).
func scalerTLSOf(manifest, namespace string) (*ScalerTLS, error) {
	type secretRef struct {
		Parameter, Name string
	}
	var spec struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			Template        corev1.PodTemplateSpec `json:"template"`
			SecretTargetRef []secretRef            `json:"secretTargetRef"`
		} `json:"spec"`
	}
	var tls ScalerTLS
	found := false
	for _, doc := range strings.Split(manifest, "\n---") {
		spec.Kind, spec.Metadata.Labels, spec.Spec.SecretTargetRef = "", nil, nil
		if err := yaml.Unmarshal([]byte(doc), &spec); err != nil || spec.Metadata.Labels["app.kubernetes.io/component"] != "scaler" {
			continue
		}
		switch spec.Kind {
		case "Deployment":
			found = true
			for _, v := range spec.Spec.Template.Spec.Volumes {
				if v.Name == "scaler-tls" && v.Secret != nil {
					tls.ServerSecret = v.Secret.SecretName
				}
			}
		case "Service":
			tls.Service = spec.Metadata.Name
		case "TriggerAuthentication":
			for _, r := range spec.Spec.SecretTargetRef {
				if r.Parameter == "tlsClientCert" {
					tls.ClientSecret = r.Name
				}
			}
		}
	}
	if !found {
		return nil, nil
	}
	if tls.Service == "" || tls.ServerSecret == "" || tls.ClientSecret == "" {
		return nil, fmt.Errorf("the chart's scaler renders without its Service, TLS volume or TriggerAuthentication (%+v)", tls)
	}
	tls.Namespace = namespace
	return &tls, nil
}

// serverProfile is the scaler's certificate: every name its Service answers to in the
// cluster's DNS, and the client usage too when KEDA presents the same certificate.
func (s ScalerTLS) serverProfile() leafProfile {
	base := s.Service + "." + s.Namespace
	p := leafProfile{
		CommonName: base + ".svc",
		DNSNames:   []string{s.Service, base, base + ".svc", base + ".svc.cluster.local"},
		Usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if s.ClientSecret == s.ServerSecret {
		p.Usages = append(p.Usages, x509.ExtKeyUsageClientAuth)
	}
	return p
}

func clientProfile() leafProfile {
	return leafProfile{CommonName: "keda-operator", Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
}

// TLSChange is what EnsureScalerTLS did with one Secret.
type TLSChange struct {
	Secret string
	Action string // created, renewed, kept, or "left alone" (not the step's)
	Why    string // why it was renewed, "" otherwise
	Until  time.Time
}

func (c TLSChange) String() string {
	s := fmt.Sprintf("secret %s: %s", c.Secret, c.Action)
	if c.Why != "" {
		s += " (" + c.Why + ")"
	}
	if !c.Until.IsZero() {
		s += ", valid until " + c.Until.UTC().Format(time.RFC3339)
	}
	return s
}

// EnsureScalerTLS makes sure the Secrets s references hold certificates that let KEDA
// and the scaler authenticate each other, before the chart that mounts them installs.
//
// A Secret that exists without the step's label, or that cert-manager manages, is the
// operator's: when every referenced Secret is, none is touched; when some exist and
// others do not, the step fails rather than pair certificates of two CAs. Otherwise the
// step creates what is missing and renews what no longer does: a CA (kept in
// s.CASecret()), and from it the server and client certificates. A certificate that is
// valid, carries the right names and usages and does not expire soon is left as it is,
// so that a re-run changes nothing. Private keys go into Secret data only.
func (c *Cluster) EnsureScalerTLS(ctx context.Context, s ScalerTLS, now time.Time) ([]TLSChange, error) {
	secrets := c.Client.CoreV1().Secrets(s.Namespace)
	leaves := []string{s.ServerSecret}
	if s.ClientSecret != s.ServerSecret {
		leaves = append(leaves, s.ClientSecret)
	}
	cur := map[string]*corev1.Secret{} // the step's own Secrets that exist
	var foreign []string
	for _, name := range slices.Concat(leaves, []string{s.CASecret()}) {
		sec, err := secrets.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("reading secret %s/%s: %w", s.Namespace, name, err)
		case !ours(sec):
			foreign = append(foreign, name)
		default:
			cur[name] = sec
		}
	}
	var theirs []string
	for _, name := range leaves {
		if slices.Contains(foreign, name) {
			theirs = append(theirs, name)
		}
	}
	switch {
	case len(theirs) == len(leaves):
		var changes []TLSChange
		for _, name := range leaves {
			changes = append(changes, TLSChange{Secret: name, Action: "left alone (not the deploy step's)"})
		}
		return changes, nil
	case len(theirs) > 0:
		return nil, fmt.Errorf("secret %s/%s is not the deploy step's (it lacks the label %s=%s) but the step would generate the rest of %s: the scaler and KEDA would hold certificates of different CAs. Supply all of them from one CA, or delete the ones you supplied so that deploy generates all",
			s.Namespace, theirs[0], ManagedByLabel, ManagedByDeploy, strings.Join(leaves, " and "))
	case len(foreign) > 0:
		return nil, fmt.Errorf("secret %s/%s is not the deploy step's (it lacks the label %s=%s), yet the step keeps the scaler's CA under that name: rename it, or set scaler.tls.secretName to a Secret of yours",
			s.Namespace, foreign[0], ManagedByLabel, ManagedByDeploy)
	}

	var changes []TLSChange
	ca, why := loadCA(cur[s.CASecret()], now)
	newCA := ca == nil
	if newCA {
		var err error
		if ca, err = newCAFor(s, now); err != nil {
			return nil, err
		}
		if err := c.writeTLSSecret(ctx, s.Namespace, s.CASecret(), "ca", cur[s.CASecret()], ca, nil); err != nil {
			return nil, err
		}
		changes = append(changes, change(s.CASecret(), cur[s.CASecret()] == nil, why, ca))
	} else {
		changes = append(changes, TLSChange{Secret: s.CASecret(), Action: "kept", Until: ca.Cert.NotAfter})
	}

	for _, name := range leaves {
		p, role := s.serverProfile(), "server"
		if name != s.ServerSecret {
			p, role = clientProfile(), "client"
		} else if s.ClientSecret == s.ServerSecret {
			role = "server-client"
		}
		leaf, why := loadLeaf(cur[name], ca, p, now)
		if leaf != nil {
			changes = append(changes, TLSChange{Secret: name, Action: "kept", Until: leaf.Cert.NotAfter})
			continue
		}
		if newCA && cur[name] != nil {
			why = "new CA"
		}
		// An error from here on returns the changes already made, so the log says what
		// was written (a renewed CA) before the failure.
		leaf, err := ca.issue(p, now)
		if err != nil {
			return changes, err
		}
		if err := c.writeTLSSecret(ctx, s.Namespace, name, role, cur[name], leaf, ca.CertPEM); err != nil {
			return changes, err
		}
		changes = append(changes, change(name, cur[name] == nil, why, leaf))
	}
	return changes, nil
}

// ours says whether sec is the step's: its label, and no cert-manager annotation (a
// Certificate pointed at a Secret the step created first takes it over).
func ours(sec *corev1.Secret) bool {
	for k := range sec.Annotations {
		if strings.HasPrefix(k, "cert-manager.io/") {
			return false
		}
	}
	return sec.Labels[ManagedByLabel] == ManagedByDeploy
}

func change(name string, created bool, why string, kp *keyPair) TLSChange {
	if created {
		return TLSChange{Secret: name, Action: "created", Until: kp.Cert.NotAfter}
	}
	return TLSChange{Secret: name, Action: "renewed", Why: why, Until: kp.Cert.NotAfter}
}

func newCAFor(s ScalerTLS, now time.Time) (*keyPair, error) {
	ca, err := newCA(fmt.Sprintf("daedalus scaler CA (%s/%s)", s.Namespace, s.Service), now)
	if err != nil {
		return nil, fmt.Errorf("creating the scaler's CA: %w", err)
	}
	return ca, nil
}

// loadCA returns the CA in sec if it can go on signing, else nil and why not.
func loadCA(sec *corev1.Secret, now time.Time) (*keyPair, string) {
	if sec == nil {
		return nil, ""
	}
	ca, err := parseKeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	if err == nil {
		err = usableCA(ca, now)
	}
	if err != nil {
		return nil, "CA " + err.Error()
	}
	return ca, ""
}

// loadLeaf returns the certificate in sec if it still does for p under ca, else nil and
// why not.
func loadLeaf(sec *corev1.Secret, ca *keyPair, p leafProfile, now time.Time) (*keyPair, string) {
	if sec == nil {
		return nil, ""
	}
	if !bytes.Equal(sec.Data["ca.crt"], ca.CertPEM) {
		return nil, "ca.crt is not the CA's"
	}
	leaf, err := parseKeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	if err == nil {
		err = usableLeaf(leaf, ca, p, now)
	}
	if err != nil {
		return nil, "certificate " + err.Error()
	}
	return leaf, ""
}

// writeTLSSecret creates Secret name as a kubernetes.io/tls Secret holding kp (and
// ca.crt when caPEM is set), or replaces the data of cur, the step's own.
func (c *Cluster) writeTLSSecret(ctx context.Context, namespace, name, role string, cur *corev1.Secret, kp *keyPair, caPEM []byte) error {
	data := map[string][]byte{corev1.TLSCertKey: kp.CertPEM, corev1.TLSPrivateKeyKey: kp.KeyPEM}
	if caPEM != nil {
		data["ca.crt"] = caPEM
	}
	secrets := c.Client.CoreV1().Secrets(namespace)
	if cur == nil {
		sec := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace,
				Labels: map[string]string{ManagedByLabel: ManagedByDeploy, ScalerTLSRoleLabel: role}},
			Type: corev1.SecretTypeTLS,
			Data: data,
		}
		if _, err := secrets.Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating secret %s/%s: %w", namespace, name, err)
		}
		return nil
	}
	cur = cur.DeepCopy()
	cur.Data, cur.StringData = data, nil
	if _, err := secrets.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating secret %s/%s: %w", namespace, name, err)
	}
	return nil
}
