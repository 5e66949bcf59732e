package publish_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/daedalus-dev/daedalus/internal/lib/attest"
)

// TestPublishSignsAndAttests: the pushed index gets three Sigstore bundles as referrers
// (signature, SLSA provenance, SBOM), signed with the workflow's identity through the
// loopback Fulcio and logged in the loopback Rekor; they verify against that instance's
// trusted root, and the OIDC token never reaches the log.
func TestPublishSignsAndAttests(t *testing.T) {
	t.Parallel()
	s := newStepEnv(t)
	out, err := s.run(t)
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	o := outputs(t, s.env["GITHUB_OUTPUT"])
	const wf = "https://github.com/octo/app/.github/workflows/release.yml@refs/heads/main"
	if o["signer-identity"] != wf {
		t.Fatalf("signer-identity %q, want %q", o["signer-identity"], wf)
	}
	if s.ss.Certificates() != 1 || s.ss.Entries() != 3 {
		t.Errorf("%d certificates, %d log entries; want 1 and 3", s.ss.Certificates(), s.ss.Entries())
	}
	sum, _ := os.ReadFile(s.env["GITHUB_STEP_SUMMARY"])
	for _, w := range []string{"| Signed by | `" + wf + "`", "| Signature (Sigstore bundle, referrer) | `sha256:", "| SLSA provenance v1 (referrer) |", "| SBOM attestation (referrer) |", "3 entries in " + s.ss.RekorURL} {
		if !strings.Contains(string(sum), w) {
			t.Errorf("summary lacks %q:\n%s", w, sum)
		}
	}
	if !strings.Contains(out, "::group::Sign and attest "+o["image"]) {
		t.Errorf("no signing group:\n%s", out)
	}
	for _, tok := range s.gh.Issued() {
		if !strings.Contains(out, "::add-mask::"+tok) {
			t.Errorf("an OIDC token was not masked")
		}
		if strings.Count(out, tok) != 1 {
			t.Errorf("an OIDC token appears in the log outside its mask")
		}
	}

	img, _ := name.NewDigest(o["image"])
	refs, err := attest.Fetch(context.Background(), img, remote.WithAuthFromKeychain(pullKeychain(s.acr)))
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	var provenance map[string]any
	for _, r := range refs {
		types = append(types, r.PredicateType)
		var b struct {
			DSSE struct {
				Payload string `json:"payload"`
			} `json:"dsseEnvelope"`
		}
		if err := json.Unmarshal(r.Bundle, &b); err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(b.DSSE.Payload)
		var st attest.Statement
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatal(err)
		}
		if st.PredicateType != r.PredicateType || st.Subject[0].Digest["sha256"] != strings.TrimPrefix(o["digest"], "sha256:") || st.Subject[0].Name != s.acr.Host+"/daedalus-proxy" {
			t.Errorf("statement %s about %+v", st.PredicateType, st.Subject)
		}
		if st.PredicateType == attest.PredicateSLSA {
			_ = json.Unmarshal(st.Predicate, &provenance)
		}
	}
	slices.Sort(types)
	if want := []string{attest.PredicateSign, attest.PredicateSLSA, attest.PredicateSPDX}; !slices.Equal(types, want) {
		t.Fatalf("referrer predicate types %v, want %v", types, want)
	}
	rd := provenance["runDetails"].(map[string]any)
	bd := provenance["buildDefinition"].(map[string]any)
	if got := rd["builder"].(map[string]any)["id"]; got != wf {
		t.Errorf("builder id %v", got)
	}
	src := bd["resolvedDependencies"].([]any)[0].(map[string]any)
	if src["uri"] != "git+https://github.com/octo/app@refs/heads/main" || src["digest"].(map[string]any)["gitCommit"] != gitHead(t, s.dir) {
		t.Errorf("source %v", src)
	}
	if bd["externalParameters"].(map[string]any)["package"] != "./cmd/hello" {
		t.Errorf("external parameters %v", bd["externalParameters"])
	}

	v, err := attest.Verify(s.ss.TrustedRoot(t), mustHash(t, o["digest"]), refs, attest.Policy{Subject: wf, Issuer: attest.GitHubIssuer})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if v.Identity.Extensions.SourceRepositoryURI != "https://github.com/octo/app" {
		t.Errorf("verified %+v", v.Identity)
	}
}

func TestSignFalsePublishesUnsigned(t *testing.T) {
	t.Parallel()
	s := newStepEnv(t)
	s.env["INPUT_SIGN"] = "false"
	out, err := s.run(t)
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	o := outputs(t, s.env["GITHUB_OUTPUT"])
	if o["signer-identity"] != "" || s.ss.Certificates() != 0 || s.ss.Entries() != 0 {
		t.Fatalf("signed anyway: %v, %d certificates", o, s.ss.Certificates())
	}
	sum, _ := os.ReadFile(s.env["GITHUB_STEP_SUMMARY"])
	if !strings.Contains(string(sum), "| Signature | none: signing skipped because the sign input is false |") {
		t.Errorf("summary does not say why it is unsigned:\n%s", sum)
	}
	if !strings.Contains(out, "::notice::The image is not signed: the sign input is false") {
		t.Errorf("no notice:\n%s", out)
	}
}

func TestSigningFailureFailsTheStep(t *testing.T) {
	t.Parallel()
	s := newStepEnv(t)
	s.env["INPUT_REKOR-URL"] = "http://127.0.0.1:1" // nothing listens
	out, err := s.run(t)
	if err == nil || !strings.Contains(out, "::error::") || !strings.Contains(err.Error(), "logging in http://127.0.0.1:1") {
		t.Fatalf("got %v\n%s", err, out)
	}
}

func mustHash(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
