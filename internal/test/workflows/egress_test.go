package workflows

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// egress stands in for the public hosts a GitHub-hosted runner reaches and this machine
// cannot, behind a forward proxy: the job gets HTTPS_PROXY=URL (Go's clients tunnel
// https through it with CONNECT and never proxy loopback addresses) and a certificate
// for the served names in SSL_CERT_FILE. A CONNECT to one of the hosts is tunnelled to
// one https server with that certificate, which hands each request to its host's
// handler; a CONNECT to any other host is refused and recorded, so nothing leaves the
// machine unnoticed.
type egress struct {
	URL     string // for HTTPS_PROXY
	CertPEM []byte // the certificate of every served name, for SSL_CERT_FILE

	hosts map[string]http.Handler
	tls   *httptest.Server // where every tunnel leads

	mu      sync.Mutex
	refused []string
	served  map[string]int // requests per host
}

// newEgress starts the proxy for hosts (name -> handler, port 443); it stops when the
// test ends.
func newEgress(t *testing.T, hosts map[string]http.Handler) *egress {
	t.Helper()
	e := &egress{hosts: hosts, served: map[string]int{}}
	var names []string
	for h := range hosts {
		names = append(names, h)
	}
	var cert tls.Certificate
	cert, e.CertPEM = selfSigned(t, names)
	e.tls = httptest.NewUnstartedServer(http.HandlerFunc(e.serve))
	e.tls.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	e.tls.StartTLS()
	t.Cleanup(e.tls.Close) // ends the tunnels too
	srv := httptest.NewServer(http.HandlerFunc(e.connect))
	t.Cleanup(srv.Close)
	e.URL = srv.URL
	return e
}

// Refused returns the host:port of every CONNECT the proxy refused.
func (e *egress) Refused() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.refused)
}

// Served returns how many requests host received.
func (e *egress) Served(host string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.served[host]
}

func (e *egress) connect(w http.ResponseWriter, r *http.Request) {
	host, port, _ := net.SplitHostPort(r.Host)
	if _, ok := e.hosts[host]; r.Method != http.MethodConnect || !ok || port != "443" {
		e.mu.Lock()
		e.refused = append(e.refused, r.Method+" "+r.Host)
		e.mu.Unlock()
		http.Error(w, "no stand-in for "+r.Host, http.StatusForbidden)
		return
	}
	up, err := net.Dial("tcp", e.tls.Listener.Addr().String())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	defer conn.Close()
	defer up.Close()
	if _, err := rw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n"); err != nil || rw.Flush() != nil {
		return
	}
	go func() {
		_, _ = io.Copy(up, rw.Reader) // what the client already sent, then the rest
		up.Close()
	}()
	_, _ = io.Copy(conn, up)
}

// serve hands a tunnelled request to its host's handler.
func (e *egress) serve(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, port, err := net.SplitHostPort(r.Host); err == nil && port == "443" {
		host = h
	}
	next, ok := e.hosts[host]
	if !ok {
		http.Error(w, "no stand-in for "+r.Host, http.StatusMisdirectedRequest)
		return
	}
	e.mu.Lock()
	e.served[host]++
	e.mu.Unlock()
	next.ServeHTTP(w, r)
}

// reverseTo hands requests for the public https origin (e.g.
// https://login.microsoftonline.com) to the https stand-in at target over client, keeping
// the public Host, so the stand-in's documents name the public host, as the real service's
// do (MSAL checks that a tenant's issuer is on its authority).
func reverseTo(target string, client *http.Client) http.Handler {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = r.In.Host
		},
		Transport: client.Transport,
	}
}

// selfSigned makes a certificate (its own issuer) for names.
func selfSigned(t *testing.T, names []string) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "egress stand-in"},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
