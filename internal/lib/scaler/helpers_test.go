package scaler

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/daedalus-dev/daedalus/internal/test/embednats"
)

const (
	testStream  = "AGENT_TASKS"
	testWorker  = "copilot"
	testSubject = "agent.tasks.copilot"
)

// natsWorld is an embedded JetStream with the bootstrap's stream and one worker's
// consumer (explicit acks, filtered on the worker's subject).
type natsWorld struct {
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
}

func newNATS(t *testing.T) *natsWorld {
	t.Helper()
	srv := embednats.Run(t, embednats.Options{MonitorPort: -1})
	nc, js := embednats.Connect(t, srv.ClientURL())
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: testStream, Subjects: []string{"agent.tasks.>"}}); err != nil {
		t.Fatal(err)
	}
	return &natsWorld{srv: srv, nc: nc, js: js}
}

func (w *natsWorld) consumer(t *testing.T, name string) jetstream.Consumer {
	t.Helper()
	c, err := w.js.CreateOrUpdateConsumer(t.Context(), testStream, jetstream.ConsumerConfig{
		Durable: name, FilterSubject: "agent.tasks." + name, AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *natsWorld) publish(t *testing.T, subject string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := w.js.Publish(t.Context(), subject, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
}

// kedaLag is what KEDA's nats-jetstream scaler reads for a consumer: the monitoring
// endpoint's /jsz?acc=$G&consumers=true&config=true, account $G, the stream's detail, the
// consumer's detail, num_pending + num_ack_pending. found is false when the stream or the
// consumer is missing (KEDA's scaler then fails: "stream not found", "consumer … not found").
func (w *natsWorld) kedaLag(t *testing.T, stream, consumer string) (lag int64, found bool) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s/jsz?acc=$G&consumers=true&config=true", w.srv.MonitorAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var jsz struct {
		AccountDetails []struct {
			Name    string `json:"name"`
			Streams []struct {
				Name      string `json:"name"`
				Consumers []struct {
					Name          string `json:"name"`
					NumPending    int64  `json:"num_pending"`
					NumAckPending int64  `json:"num_ack_pending"`
				} `json:"consumer_detail"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		t.Fatal(err)
	}
	for _, a := range jsz.AccountDetails {
		if a.Name != "$G" {
			continue
		}
		for _, s := range a.Streams {
			if s.Name != stream {
				continue
			}
			for _, c := range s.Consumers {
				if c.Name == consumer {
					return c.NumPending + c.NumAckPending, true
				}
			}
		}
	}
	return 0, false
}

// pki is a CA with a server certificate for loopback and a client certificate, written
// as PEM files: what the chart's TLS Secret holds.
type pki struct {
	dir                       string
	ca, cert, key             string // server side
	clientCert, clientKey     string // KEDA's side
	strangerCert, strangerKey string // a client certificate from another CA
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{dir: dir}
	caCert, caKey := makeCA(t, "daedalus-scaler-ca")
	p.ca = writePEM(t, dir, "ca.crt", "CERTIFICATE", caCert.Raw)
	p.cert, p.key = issue(t, dir, "tls", caCert, caKey, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue(t, dir, "client", caCert, caKey, x509.ExtKeyUsageClientAuth)
	otherCA, otherKey := makeCA(t, "someone-else")
	p.strangerCert, p.strangerKey = issue(t, dir, "stranger", otherCA, otherKey, x509.ExtKeyUsageClientAuth)
	return p
}

func makeCA(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func issue(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: name},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name+".crt", "CERTIFICATE", der), writePEM(t, dir, name+".key", "PRIVATE KEY", keyDER)
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientTLS is what KEDA builds from a TriggerAuthentication's caCert, tlsClientCert and
// tlsClientKey: the CA as root, the client certificate presented.
func (p *pki) clientTLS(t *testing.T, cert, key string) *tls.Config {
	t.Helper()
	caPEM, err := os.ReadFile(p.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != "" {
		c, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg
}
