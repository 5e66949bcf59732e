package deploy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daedalus-dev/daedalus/internal/lib/scaler"
	"github.com/daedalus-dev/daedalus/internal/test/kubetest"
)

// TestScalerTLSFromRender: deploy reads the Secrets to maintain from the chart's render,
// so it maintains exactly what the scaler mounts and KEDA's TriggerAuthentication reads.
func TestScalerTLSFromRender(t *testing.T) {
	t.Parallel()
	push := append(slices.Clone(overlaySets), "scaler.mode=push")
	tests := []struct {
		name string
		sets []string
		want *ScalerTLS
	}{
		{name: "push generates two Secrets", sets: push,
			want: &ScalerTLS{Namespace: "daedalus", Service: "daedalus-scaler", ServerSecret: "daedalus-scaler-tls", ClientSecret: "daedalus-scaler-client-tls"}},
		{name: "your Secret serves both ends", sets: append(slices.Clone(push), "scaler.tls.secretName=mine"),
			want: &ScalerTLS{Namespace: "daedalus", Service: "daedalus-scaler", ServerSecret: "mine", ClientSecret: "mine"}},
		{name: "your two Secrets", sets: append(slices.Clone(push), "scaler.tls.secretName=mine", "scaler.tls.clientSecretName=keda"),
			want: &ScalerTLS{Namespace: "daedalus", Service: "daedalus-scaler", ServerSecret: "mine", ClientSecret: "keda"}},
		{name: "poll has no scaler", sets: overlaySets},
		{name: "push without KEDA has no scaler", sets: append(slices.Clone(push), "keda.enabled=false")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, rel := renderChart(t, []string{"values-aks-test.yaml"}, tt.sets, "daedalus")
			got, err := scalerTLSOf(rel.Manifest, "daedalus")
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("scalerTLSOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestScalerTLSOnAPIServer: the scaler's certificates as deploy keeps them in a real
// kube-apiserver's Secrets, checked with the scaler's own TLS loader and a client set up
// as KEDA's external scaler client is (client certificate and key, the caCert as roots,
// the server name from scalerAddress).
func TestScalerTLSOnAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	cl := kubetest.Start(t, kubetest.Options{})
	c := mustCluster(t, cl)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	now := time.Now()

	namespace := func(t *testing.T, name string) ScalerTLS {
		t.Helper()
		if _, err := c.UpsertNamespace(ctx, name, nil); err != nil {
			t.Fatal(err)
		}
		return ScalerTLS{Namespace: name, Service: "daedalus-scaler", ServerSecret: "daedalus-scaler-tls", ClientSecret: "daedalus-scaler-client-tls"}
	}
	get := func(t *testing.T, ns, name string) *corev1.Secret {
		t.Helper()
		s, err := c.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	versions := func(t *testing.T, ns string) map[string]string {
		t.Helper()
		list, err := c.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		v := map[string]string{}
		for _, s := range list.Items {
			v[s.Name] = s.ResourceVersion
		}
		return v
	}
	ensure := func(t *testing.T, s ScalerTLS, at time.Time) map[string]string {
		t.Helper()
		changes, err := c.EnsureScalerTLS(ctx, s, at)
		if err != nil {
			t.Fatal(err)
		}
		actions := map[string]string{}
		for _, ch := range changes {
			actions[ch.Secret] = ch.Action
			for _, sec := range []string{"BEGIN", "PRIVATE KEY"} {
				if strings.Contains(ch.String(), sec) {
					t.Errorf("a change report quotes PEM: %s", ch)
				}
			}
		}
		return actions
	}

	s := namespace(t, "gen")
	t.Run("push mode without Secrets generates them", func(t *testing.T) {
		got := ensure(t, s, now)
		want := map[string]string{"daedalus-scaler-tls-ca": "created", "daedalus-scaler-tls": "created", "daedalus-scaler-client-tls": "created"}
		if !maps.Equal(got, want) {
			t.Fatalf("changes %v, want %v", got, want)
		}
		caSec, srvSec, cliSec := get(t, "gen", s.CASecret()), get(t, "gen", s.ServerSecret), get(t, "gen", s.ClientSecret)
		for _, sec := range []*corev1.Secret{caSec, srvSec, cliSec} {
			if sec.Type != corev1.SecretTypeTLS || sec.Labels[ManagedByLabel] != ManagedByDeploy || sec.Labels[ScalerTLSRoleLabel] == "" {
				t.Errorf("secret %s: type %s, labels %v; want kubernetes.io/tls marked as the deploy step's", sec.Name, sec.Type, sec.Labels)
			}
		}
		ca := parseCert(t, caSec.Data["tls.crt"])
		srv := parseCert(t, srvSec.Data["tls.crt"])
		cli := parseCert(t, cliSec.Data["tls.crt"])
		for name, sec := range map[string]*corev1.Secret{"server": srvSec, "client": cliSec} {
			if string(sec.Data["ca.crt"]) != string(caSec.Data["tls.crt"]) {
				t.Errorf("%s Secret's ca.crt is not the CA", name)
			}
		}
		if !ca.IsCA || !ca.MaxPathLenZero || ca.KeyUsage&x509.KeyUsageCertSign == 0 || !within(ca.NotAfter.Sub(now), CAValidity) {
			t.Errorf("CA: IsCA %v, MaxPathLenZero %v, key usage %b, valid %s; want a 10-year CA that signs leaves only", ca.IsCA, ca.MaxPathLenZero, ca.KeyUsage, ca.NotAfter.Sub(now))
		}
		for _, cert := range []*x509.Certificate{ca, srv, cli} {
			if k, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
				t.Errorf("%s: key %T, want ECDSA P-256", cert.Subject.CommonName, cert.PublicKey)
			}
		}
		roots := x509.NewCertPool()
		roots.AddCert(ca)
		for _, name := range []string{"daedalus-scaler", "daedalus-scaler.gen", "daedalus-scaler.gen.svc", "daedalus-scaler.gen.svc.cluster.local"} {
			if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				t.Errorf("server certificate for %s: %v", name, err)
			}
		}
		if len(srv.DNSNames) != 4 || !within(srv.NotAfter.Sub(now), LeafValidity) || srv.IsCA {
			t.Errorf("server certificate: names %v, valid %s, CA %v; want the Service's 4 names for a year", srv.DNSNames, srv.NotAfter.Sub(now), srv.IsCA)
		}
		if _, err := cli.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("client certificate: %v", err)
		}
		// Each leaf does its own job only.
		if slices.Contains(srv.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || slices.Contains(cli.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || len(cli.DNSNames) > 0 {
			t.Errorf("server usages %v, client usages %v and names %v; want serverAuth and clientAuth apart", srv.ExtKeyUsage, cli.ExtKeyUsage, cli.DNSNames)
		}
		if err := handshake(t, srvSec, cliSec, "daedalus-scaler.gen.svc"); err != nil {
			t.Errorf("KEDA's client to the scaler: %v", err)
		}
		if err := handshake(t, srvSec, cliSec, "daedalus-scaler.other.svc"); err == nil {
			t.Error("the handshake passed for a name the server certificate does not carry")
		}
		if err := handshake(t, srvSec, srvSec, "daedalus-scaler.gen.svc"); err == nil {
			t.Error("the scaler accepted its own server certificate as a client certificate")
		}
	})

	t.Run("a re-run changes nothing", func(t *testing.T) {
		before := versions(t, "gen")
		got := ensure(t, s, now.Add(time.Minute))
		for name, action := range got {
			if action != "kept" {
				t.Errorf("%s: %s, want kept", name, action)
			}
		}
		if after := versions(t, "gen"); !maps.Equal(before, after) {
			t.Errorf("resource versions %v, then %v", before, after)
		}
	})

	t.Run("a renamed Service renews the server certificate only", func(t *testing.T) {
		before := versions(t, "gen")
		moved := s
		moved.Service = "other-scaler"
		got := ensure(t, moved, now)
		if got[s.ServerSecret] != "renewed" || got[s.ClientSecret] != "kept" || got[s.CASecret()] != "kept" {
			t.Errorf("changes %v: want the server certificate renewed, the rest kept", got)
		}
		if srv := parseCert(t, get(t, "gen", s.ServerSecret).Data["tls.crt"]); !slices.Contains(srv.DNSNames, "other-scaler.gen.svc") {
			t.Errorf("renewed server certificate names %v", srv.DNSNames)
		}
		if after := versions(t, "gen"); after[s.CASecret()] != before[s.CASecret()] || after[s.ClientSecret] != before[s.ClientSecret] {
			t.Error("the CA or the client Secret changed")
		}
	})

	t.Run("a leaf close to expiry is renewed with the same CA", func(t *testing.T) {
		s := namespace(t, "renew")
		// Issued 300 days ago: the leaves expire in 65 days, inside LeafRenewBefore.
		ensure(t, s, now.Add(-300*24*time.Hour))
		oldSrv, oldCli := get(t, "renew", s.ServerSecret), get(t, "renew", s.ClientSecret)
		before := versions(t, "renew")
		got := ensure(t, s, now)
		want := map[string]string{s.CASecret(): "kept", s.ServerSecret: "renewed", s.ClientSecret: "renewed"}
		if !maps.Equal(got, want) {
			t.Fatalf("changes %v, want %v", got, want)
		}
		if after := versions(t, "renew"); after[s.CASecret()] != before[s.CASecret()] {
			t.Error("the CA Secret changed")
		}
		ca := parseCert(t, get(t, "renew", s.CASecret()).Data["tls.crt"])
		srvSec, cliSec := get(t, "renew", s.ServerSecret), get(t, "renew", s.ClientSecret)
		srv := parseCert(t, srvSec.Data["tls.crt"])
		if old := parseCert(t, oldSrv.Data["tls.crt"]); srv.SerialNumber.Cmp(old.SerialNumber) == 0 || srv.CheckSignatureFrom(ca) != nil || !within(srv.NotAfter.Sub(now), LeafValidity) {
			t.Errorf("renewed server certificate: serial %v (was %v), valid %s; want a new one-year certificate from the same CA", srv.SerialNumber, old.SerialNumber, srv.NotAfter.Sub(now))
		}
		if err := handshake(t, srvSec, cliSec, "daedalus-scaler.renew.svc"); err != nil {
			t.Errorf("renewed certificates: %v", err)
		}
		// KEDA may hold the old client certificate until it re-reads the Secret: the same
		// CA keeps it accepted by the renewed scaler.
		if err := handshake(t, srvSec, oldCli, "daedalus-scaler.renew.svc"); err != nil {
			t.Errorf("the previous client certificate against the renewed scaler: %v", err)
		}
	})

	t.Run("one Secret serves both ends", func(t *testing.T) {
		s := namespace(t, "single")
		s.ServerSecret, s.ClientSecret = "mine", "mine"
		got := ensure(t, s, now)
		if !maps.Equal(got, map[string]string{"mine-ca": "created", "mine": "created"}) {
			t.Fatalf("changes %v", got)
		}
		sec := get(t, "single", "mine")
		if cert := parseCert(t, sec.Data["tls.crt"]); !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(cert.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
			t.Errorf("usages %v, want serverAuth and clientAuth", cert.ExtKeyUsage)
		}
		if err := handshake(t, sec, sec, "daedalus-scaler.single.svc"); err != nil {
			t.Errorf("one certificate at both ends: %v", err)
		}
	})

	t.Run("the operator's Secrets are left alone", func(t *testing.T) {
		s := namespace(t, "byo")
		theirs := []*corev1.Secret{
			{ObjectMeta: metav1.ObjectMeta{Name: s.ServerSecret, Annotations: map[string]string{"cert-manager.io/certificate-name": "scaler"}},
				Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("theirs"), "tls.key": []byte("theirs")}},
			// Created by an earlier deploy, then taken over by a cert-manager Certificate.
			{ObjectMeta: metav1.ObjectMeta{Name: s.ClientSecret, Labels: map[string]string{ManagedByLabel: ManagedByDeploy},
				Annotations: map[string]string{"cert-manager.io/issuer-name": "scaler-ca"}},
				Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("theirs"), "tls.key": []byte("theirs")}},
		}
		for _, sec := range theirs {
			if _, err := c.Client.CoreV1().Secrets("byo").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		before := versions(t, "byo")
		got := ensure(t, s, now)
		for _, name := range []string{s.ServerSecret, s.ClientSecret} {
			if !strings.HasPrefix(got[name], "left alone") {
				t.Errorf("%s: %q, want left alone", name, got[name])
			}
		}
		if after := versions(t, "byo"); !maps.Equal(before, after) {
			t.Errorf("Secrets %v, then %v", before, after)
		}
	})

	t.Run("the operator's server Secret with a missing client Secret is refused", func(t *testing.T) {
		s := namespace(t, "mixed")
		if _, err := c.Client.CoreV1().Secrets("mixed").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s.ServerSecret},
			Data: map[string][]byte{"tls.crt": []byte("theirs")}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := c.EnsureScalerTLS(ctx, s, now)
		if err == nil || !strings.Contains(err.Error(), "different CAs") || !strings.Contains(err.Error(), s.ServerSecret) {
			t.Errorf("err = %v, want a refusal naming %s", err, s.ServerSecret)
		}
		for _, name := range []string{s.ClientSecret, s.CASecret()} {
			if _, err := c.Client.CoreV1().Secrets("mixed").Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("secret %s exists after the refusal (err %v)", name, err)
			}
		}
	})
}

// handshake runs one TLS handshake between the scaler's server configuration
// (scaler.ServerTLS over the server Secret's files, as the pod mounts them) and a client
// set up as KEDA's: client's tls.crt and tls.key, the server Secret's ca.crt as roots,
// serverName from the scaler's address. It returns either side's failure.
func handshake(t *testing.T, server, client *corev1.Secret, serverName string) error {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"ca.crt", "tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(dir, k), server.Data[k], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := scaler.ServerTLS(scaler.TLSFiles{Cert: filepath.Join(dir, "tls.crt"), Key: filepath.Join(dir, "tls.key"), ClientCA: filepath.Join(dir, "ca.crt")})
	if err != nil {
		return err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer conn.Close()
		served <- conn.(*tls.Conn).Handshake()
	}()
	pair, err := tls.X509KeyPair(client.Data["tls.crt"], client.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(server.Data["ca.crt"]) {
		t.Fatal("ca.crt holds no certificate")
	}
	conn, dialErr := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		Certificates: []tls.Certificate{pair}, RootCAs: roots, ServerName: serverName,
		MinVersion: tls.VersionTLS13, NextProtos: []string{"h2"},
	})
	if dialErr != nil {
		ln.Close()
		<-served
		return dialErr
	}
	defer conn.Close()
	// TLS 1.3: the client is done before the server has checked its certificate; a read
	// waits for the server's verdict (its alert, or its close after the handshake).
	srvErr := <-served
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, readErr := conn.Read(make([]byte, 1))
	if srvErr != nil {
		return errors.Join(srvErr, readErr)
	}
	return nil
}

func parseCert(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("no PEM certificate in %d bytes", len(pemBytes))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// within says whether d is want, give or take the backdating and the time a test takes.
func within(d, want time.Duration) bool { return d <= want && d > want-2*time.Hour }
