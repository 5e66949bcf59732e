package deploy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// Lifetimes of the scaler's certificates. A leaf is renewed by the first deploy within
// LeafRenewBefore of its expiry, so deploying at least every nine months keeps push
// mode's TLS valid; a CA renewal re-issues both leaves.
const (
	CAValidity      = 10 * 365 * 24 * time.Hour
	CARenewBefore   = 365 * 24 * time.Hour
	LeafValidity    = 365 * 24 * time.Hour
	LeafRenewBefore = 90 * 24 * time.Hour
)

// backdate is how far before its issue a certificate is valid, for nodes whose clocks lag.
const backdate = time.Hour

// keyPair is a certificate with its private key, parsed and as PEM (the key as PKCS #8).
type keyPair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// leafProfile is what a leaf certificate is for: its subject, DNS names and extended
// key usages.
type leafProfile struct {
	CommonName string
	DNSNames   []string
	Usages     []x509.ExtKeyUsage
}

// newCA creates a self-signed ECDSA P-256 CA valid from now for CAValidity, that may
// sign leaves only (path length 0).
func newCA(commonName string, now time.Time) (*keyPair, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	return sign(tmpl, nil)
}

// issue signs a leaf for p, valid from now for LeafValidity (never past the CA's own end).
func (ca *keyPair) issue(p leafProfile, now time.Time) (*keyPair, error) {
	end := now.Add(LeafValidity)
	if end.After(ca.Cert.NotAfter) {
		end = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: p.CommonName},
		DNSNames:              p.DNSNames,
		NotBefore:             now.Add(-backdate),
		NotAfter:              end,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           p.Usages,
	}
	return sign(tmpl, ca)
}

// sign creates a new P-256 key and its certificate from tmpl, signed by ca (self-signed
// when ca is nil), with a random 128-bit serial number.
func sign(tmpl *x509.Certificate, ca *keyPair) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating a key: %w", err)
	}
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128)); err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	parent, signer := tmpl, crypto.Signer(key)
	if ca != nil {
		parent, signer = ca.Cert, ca.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("signing %q: %w", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &keyPair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// parseKeyPair reads a PEM certificate and its key, and checks that they belong together.
// Its errors never quote the key.
func parseKeyPair(certPEM, keyPEM []byte) (*keyPair, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, errors.New("tls.crt and tls.key do not hold a certificate and its key")
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("tls.key cannot sign")
	}
	return &keyPair{Cert: pair.Leaf, Key: signer, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// usableCA says why ca cannot go on signing at now, or nil: it must be a CA and valid
// for at least CARenewBefore more.
func usableCA(ca *keyPair, now time.Time) error {
	switch {
	case !ca.Cert.IsCA:
		return errors.New("not a CA certificate")
	case now.Before(ca.Cert.NotBefore):
		return fmt.Errorf("not valid before %s", ca.Cert.NotBefore.UTC().Format(time.RFC3339))
	case ca.Cert.NotAfter.Sub(now) < CARenewBefore:
		return fmt.Errorf("expires %s", ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// usableLeaf says why leaf does not do for p under ca at now, or nil: it must chain to
// ca for p's usages, carry exactly p's DNS names, and stay valid for at least
// LeafRenewBefore more.
func usableLeaf(leaf, ca *keyPair, p leafProfile, now time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: p.Usages}); err != nil {
		return fmt.Errorf("does not verify against the CA: %w", err)
	}
	for _, u := range p.Usages {
		if !slices.Contains(leaf.Cert.ExtKeyUsage, u) {
			return errors.New("lacks an extended key usage")
		}
	}
	if !slices.Equal(leaf.Cert.DNSNames, p.DNSNames) {
		return fmt.Errorf("names %v, want %v", leaf.Cert.DNSNames, p.DNSNames)
	}
	if leaf.Cert.NotAfter.Sub(now) < LeafRenewBefore {
		return fmt.Errorf("expires %s", leaf.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}
