// Package attesttest serves a private Sigstore instance on loopback for tests: a Fulcio
// that issues code-signing certificates to GitHub Actions OIDC tokens, and a Rekor
// (v1 API) that logs entries in a real RFC 6962 Merkle tree, each speaking the wire API
// sigstore-go's clients use against the public-good instance. TrustedRoot describes both,
// so sigstore-go's verifier checks the bundles they helped make exactly as it would
// check public-good ones.
package attesttest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	"github.com/go-openapi/runtime"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	"github.com/sigstore/rekor/pkg/util"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	// The entry kinds sigstore-go submits.
	_ "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1"
)

// Issuer is the OIDC issuer the Fulcio stand-in accepts: GitHub Actions'.
const Issuer = "https://token.actions.githubusercontent.com"

// Sigstore is one private instance: a CA behind the Fulcio API and a log key behind the
// Rekor API.
type Sigstore struct {
	FulcioURL string
	RekorURL  string

	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	logKey *ecdsa.PrivateKey
	start  time.Time

	mu      sync.Mutex
	tree    *testonly.Tree
	entries int
	certs   int
}

// New starts a Fulcio and a Rekor stand-in; they stop when the test ends.
func New(t testing.TB) *Sigstore {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	logKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"daedalus test"}, CommonName: "test fulcio root"},
		NotBefore:             start,
		NotAfter:              start.Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	s := &Sigstore{ca: ca, caKey: caKey, logKey: logKey, start: start, tree: testonly.New(rfc6962.DefaultHasher)}
	fulcio := httptest.NewServer(http.HandlerFunc(s.fulcio))
	rekor := httptest.NewServer(http.HandlerFunc(s.rekor))
	t.Cleanup(fulcio.Close)
	t.Cleanup(rekor.Close)
	s.FulcioURL, s.RekorURL = fulcio.URL, rekor.URL
	return s
}

// FulcioHandler and RekorHandler serve the two APIs, for a test that routes the public
// hosts to them (an egress proxy).
func (s *Sigstore) FulcioHandler() http.Handler { return http.HandlerFunc(s.fulcio) }
func (s *Sigstore) RekorHandler() http.Handler  { return http.HandlerFunc(s.rekor) }

// Certificates is how many certificates Fulcio issued; Entries how many entries Rekor logged.
func (s *Sigstore) Certificates() int { s.mu.Lock(); defer s.mu.Unlock(); return s.certs }
func (s *Sigstore) Entries() int      { s.mu.Lock(); defer s.mu.Unlock(); return s.entries }

// TrustedRoot is the instance's trust root: its CA and its log key.
func (s *Sigstore) TrustedRoot(t testing.TB) *root.TrustedRoot {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&s.logKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(der)
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01,
		[]root.CertificateAuthority{&root.FulcioCertificateAuthority{Root: s.ca, ValidityPeriodStart: s.start, URI: s.FulcioURL}},
		nil, nil,
		map[string]*root.TransparencyLog{hex.EncodeToString(id[:]): {
			BaseURL: s.RekorURL, ID: id[:], ValidityPeriodStart: s.start,
			HashFunc: crypto.SHA256, PublicKey: &s.logKey.PublicKey, SignatureHashFunc: crypto.SHA256,
		}})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// WriteTrustedRoot writes TrustedRoot as trusted_root.json in a temporary directory.
func (s *Sigstore) WriteTrustedRoot(t testing.TB) string {
	t.Helper()
	raw, err := s.TrustedRoot(t).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg})
}

// fulcio serves POST /api/v2/signingCert (Fulcio's CreateSigningCertificate): the bearer
// is the OIDC token, the body the public key and a proof of possession, a signature over
// the token's sub claim. It stands in for Fulcio's token verification by checking the
// issuer, audience and expiry claims (the GitHub stand-in's tokens are not signed), and
// maps GitHub's claims to the certificate the way Fulcio does: SAN = the job's workflow
// ref, and the issuer, repository, commit, ref and run in Sigstore's OID extensions.
func (s *Sigstore) fulcio(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v2/signingCert" {
		httpError(w, http.StatusNotFound, "not found")
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		httpError(w, http.StatusUnauthorized, "no bearer token")
		return
	}
	claims, err := decodeJWT(tok)
	if err != nil {
		httpError(w, http.StatusUnauthorized, err.Error())
		return
	}
	iss, _ := claims["iss"].(string)
	aud, _ := claims["aud"].(string)
	exp, _ := claims["exp"].(float64)
	wf, _ := claims["job_workflow_ref"].(string)
	switch {
	case iss != Issuer:
		httpError(w, http.StatusUnauthorized, "unknown issuer "+iss)
		return
	case aud != "sigstore":
		httpError(w, http.StatusUnauthorized, "audience "+aud+" is not sigstore")
		return
	case time.Unix(int64(exp), 0).Before(time.Now()):
		httpError(w, http.StatusUnauthorized, "token expired")
		return
	case wf == "":
		httpError(w, http.StatusBadRequest, "token has no job_workflow_ref claim")
		return
	}
	var req struct {
		PublicKeyRequest struct {
			PublicKey struct {
				Algorithm string `json:"algorithm"`
				Content   string `json:"content"`
			} `json:"publicKey"`
			ProofOfPossession string `json:"proofOfPossession"`
		} `json:"publicKeyRequest"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	block, _ := pem.Decode([]byte(req.PublicKeyRequest.PublicKey.Content))
	if block == nil {
		httpError(w, http.StatusBadRequest, "public key is not PEM")
		return
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	ecPub, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("unsupported key %T", pub))
		return
	}
	pop, err := base64.StdEncoding.DecodeString(req.PublicKeyRequest.ProofOfPossession)
	sub, _ := claims["sub"].(string)
	sum := sha256.Sum256([]byte(sub))
	if err != nil || !ecdsa.VerifyASN1(ecPub, sum[:], pop) {
		httpError(w, http.StatusBadRequest, "the proof of possession does not verify")
		return
	}

	server := "https://github.com"
	repo, _ := claims["repository"].(string)
	str := func(k string) string { v, _ := claims[k].(string); return v }
	exts := []pkix.Extension{{Id: certificate.OIDIssuer, Value: []byte(iss)}}
	// Sigstore's OIDs 1.3.6.1.4.1.57264.1.<n>: issuer (8), build signer URI (9), runner
	// environment (11), source repository URI, digest and ref (12-14), build config URI
	// (18), trigger (20) and run invocation URI (21).
	for n, v := range map[int]string{
		8: iss, 9: server + "/" + wf, 11: "github-hosted",
		12: server + "/" + repo, 13: str("sha"), 14: str("ref"), 18: server + "/" + wf,
		20: str("event_name"), 21: server + "/" + repo + "/actions/runs/" + str("run_id") + "/attempts/" + str("run_attempt"),
	} {
		if v == "" {
			continue
		}
		der, err := asn1.MarshalWithParams(v, "utf8")
		if err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		exts = append(exts, pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, n}, Value: der})
	}
	san, err := url.Parse(server + "/" + wf)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	s.certs++
	serial := int64(s.certs + 1)
	s.mu.Unlock()
	now := time.Now()
	leaf := &x509.Certificate{
		SerialNumber:    big.NewInt(serial),
		NotBefore:       now.Add(-time.Minute),
		NotAfter:        now.Add(10 * time.Minute),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		URIs:            []*url.URL{san},
		ExtraExtensions: exts,
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, s.ca, ecPub, s.caKey)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	chain := []string{
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ca.Raw})),
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"signedCertificateEmbeddedSct": map[string]any{"chain": map[string]any{"certificates": chain}}})
}

// rekor serves POST /api/v1/log/entries (Rekor's createLogEntry): it canonicalizes the
// proposed entry with Rekor's own entry types (which check the signature against the
// submitted certificate), appends it to the Merkle tree and answers 201 with the
// LogEntry: body, integrated time, log ID and index, a signed entry timestamp and an
// inclusion proof against a signed checkpoint.
func (s *Sigstore) rekor(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/log/entries" {
		httpError(w, http.StatusNotFound, "not found")
		return
	}
	pe, err := models.UnmarshalProposedEntry(r.Body, runtime.JSONConsumer())
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	entry, err := types.CreateVersionedEntry(pe)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	body, err := types.CanonicalizeEntry(r.Context(), entry)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	der, _ := x509.MarshalPKIXPublicKey(&s.logKey.PublicKey)
	idSum := sha256.Sum256(der)
	logID := hex.EncodeToString(idSum[:])

	s.mu.Lock()
	s.tree.AppendData(body)
	index := s.tree.Size() - 1
	size := s.tree.Size()
	rootHash := s.tree.Hash()
	proof, err := s.tree.InclusionProof(index, size)
	s.entries++
	s.mu.Unlock()
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	integrated := time.Now().Unix()
	payload, _ := json.Marshal(tlog.RekorPayload{
		Body: base64.StdEncoding.EncodeToString(body), IntegratedTime: integrated, LogIndex: int64(index), LogID: logID,
	})
	canon, err := jsoncanonicalizer.Transform(payload)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	setSum := sha256.Sum256(canon)
	set, err := ecdsa.SignASN1(rand.Reader, s.logKey, setSum[:])
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	signer, err := signature.LoadECDSASignerVerifier(s.logKey, crypto.SHA256)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	checkpoint, err := util.CreateAndSignCheckpoint(context.Background(), "rekor.test", 1, size, rootHash, signer)
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	hashes := make([]string, len(proof))
	for i, h := range proof {
		hashes[i] = hex.EncodeToString(h)
	}
	leafHash := rfc6962.DefaultHasher.HashLeaf(body)
	uuid := hex.EncodeToString(leafHash)
	idx, sz := int64(index), int64(size)
	rh := hex.EncodeToString(rootHash)
	cp := string(checkpoint)
	resp := models.LogEntry{uuid: models.LogEntryAnon{
		Body:           base64.StdEncoding.EncodeToString(body),
		IntegratedTime: &integrated,
		LogID:          &logID,
		LogIndex:       &idx,
		Verification: &models.LogEntryAnonVerification{
			SignedEntryTimestamp: set,
			InclusionProof: &models.InclusionProof{
				Checkpoint: &cp, Hashes: hashes, LogIndex: &idx, RootHash: &rh, TreeSize: &sz,
			},
		},
	}}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(resp); err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", uuid)
	w.Header().Set("Location", "/api/v1/log/entries/"+uuid)
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(buf.Bytes())
}

func decodeJWT(tok string) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("the token is not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("the token's claims: %w", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		return nil, fmt.Errorf("the token's claims: %w", err)
	}
	return claims, nil
}
