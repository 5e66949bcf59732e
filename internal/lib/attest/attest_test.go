package attest_test

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/daedalus-dev/daedalus/internal/lib/attest"
	"github.com/daedalus-dev/daedalus/internal/lib/attest/attesttest"
	"github.com/daedalus-dev/daedalus/internal/lib/azure/azuretest"
)

const release = "https://github.com/octo/app/.github/workflows/release.yml@refs/heads/main"

// token is a GitHub Actions OIDC token for audience sigstore from workflow (a path@ref in
// octo/app).
func token(workflow string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		return azuretest.JWT(map[string]any{
			"iss": attesttest.Issuer, "aud": attest.Audience, "sub": "repo:octo/app:ref:refs/heads/main",
			"exp": time.Now().Add(5 * time.Minute).Unix(), "repository": "octo/app", "ref": "refs/heads/main",
			"sha": "0123456789abcdef0123456789abcdef01234567", "job_workflow_ref": "octo/app/" + workflow,
			"event_name": "push", "run_id": "42", "run_attempt": "1",
		}), nil
	}
}

type fixture struct {
	ss    *attesttest.Sigstore
	repo  name.Repository
	index v1.ImageIndex
	desc  v1.Descriptor
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true)))
	t.Cleanup(srv.Close)
	repo, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://") + "/daedalus-proxy")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{ss: attesttest.New(t), repo: repo}
}

// image pushes a random index and returns its descriptor.
func (f *fixture) image(t *testing.T) v1.Descriptor {
	t.Helper()
	idx, err := random.Index(64, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(f.repo.Digest(d.String()), idx); err != nil {
		t.Fatal(err)
	}
	desc, err := partial.Descriptor(idx)
	if err != nil {
		t.Fatal(err)
	}
	return *desc
}

// sign signs the statements about subject as workflow and pushes each bundle as a
// referrer of target.
func (f *fixture) sign(t *testing.T, workflow string, target, subject v1.Descriptor, predicateTypes ...string) attest.Identity {
	t.Helper()
	s := &attest.Signer{FulcioURL: f.ss.FulcioURL, RekorURL: f.ss.RekorURL, IDToken: token(workflow), TrustedRoot: f.ss.TrustedRoot(t)}
	var sts [][]byte
	for _, pt := range predicateTypes {
		st, err := attest.NewStatement(f.repo.Name(), subject.Digest, pt, nil)
		if err != nil {
			t.Fatal(err)
		}
		sts = append(sts, st)
	}
	bundles, id, err := s.Sign(context.Background(), sts...)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	for i, b := range bundles {
		if _, err := attest.PushBundle(context.Background(), f.repo, target, b, predicateTypes[i], ""); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

func (f *fixture) verify(t *testing.T, img v1.Descriptor, p attest.Policy) (*attest.Verified, error) {
	t.Helper()
	refs, err := attest.Fetch(context.Background(), f.repo.Digest(img.Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	return attest.Verify(f.ss.TrustedRoot(t), img.Digest, refs, p)
}

func TestSignThenVerify(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	img := f.image(t)
	id := f.sign(t, ".github/workflows/release.yml@refs/heads/main", img, img, attest.PredicateSign, attest.PredicateSLSA)
	if id.Subject != release || id.Issuer != attesttest.Issuer {
		t.Fatalf("signer %+v", id)
	}
	if id.Extensions.SourceRepositoryDigest != "0123456789abcdef0123456789abcdef01234567" {
		t.Errorf("certificate commit %q", id.Extensions.SourceRepositoryDigest)
	}
	if f.ss.Certificates() != 1 || f.ss.Entries() != 2 {
		t.Errorf("%d certificates, %d log entries; want 1 certificate for 2 entries", f.ss.Certificates(), f.ss.Entries())
	}
	for _, p := range []attest.Policy{
		{Subject: release, Issuer: attest.GitHubIssuer},
		{SubjectRegexp: `^https://github\.com/octo/app/\.github/workflows/release\.yml@`, Issuer: attest.GitHubIssuer},
	} {
		v, err := f.verify(t, img, p)
		if err != nil {
			t.Fatalf("verify %+v: %v", p, err)
		}
		if v.Identity.Subject != release {
			t.Errorf("verified identity %+v", v.Identity)
		}
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	policy := attest.Policy{Subject: release, Issuer: attest.GitHubIssuer}

	t.Run("unsigned", func(t *testing.T) {
		img := f.image(t)
		_, err := f.verify(t, img, policy)
		want := "image " + img.Digest.String() + " has no Sigstore signature among its referrers"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want %q", err, want)
		}
	})
	t.Run("attestations are not signatures", func(t *testing.T) {
		img := f.image(t)
		f.sign(t, ".github/workflows/release.yml@refs/heads/main", img, img, attest.PredicateSLSA, attest.PredicateSPDX)
		_, err := f.verify(t, img, policy)
		if err == nil || !strings.Contains(err.Error(), "has no Sigstore signature") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("another workflow", func(t *testing.T) {
		img := f.image(t)
		f.sign(t, ".github/workflows/pr.yml@refs/pull/7/merge", img, img, attest.PredicateSign)
		_, err := f.verify(t, img, policy)
		want := "signed by https://github.com/octo/app/.github/workflows/pr.yml@refs/pull/7/merge (issuer " + attesttest.Issuer + "), not by identity " + release
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want %q", err, want)
		}
	})
	t.Run("another workflow against a regexp", func(t *testing.T) {
		img := f.image(t)
		f.sign(t, ".github/workflows/release.yml.evil@refs/heads/main", img, img, attest.PredicateSign)
		_, err := f.verify(t, img, attest.Policy{SubjectRegexp: `^https://github\.com/octo/app/\.github/workflows/release\.yml@`, Issuer: attest.GitHubIssuer})
		if err == nil || !strings.Contains(err.Error(), "signed by https://github.com/octo/app/.github/workflows/release.yml.evil@") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("another issuer", func(t *testing.T) {
		img := f.image(t)
		f.sign(t, ".github/workflows/release.yml@refs/heads/main", img, img, attest.PredicateSign)
		_, err := f.verify(t, img, attest.Policy{Subject: release, Issuer: "https://issuer.example"})
		if err == nil || !strings.Contains(err.Error(), "(issuer "+attesttest.Issuer+"), not by identity "+release+" issued by https://issuer.example") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("signature copied from another image", func(t *testing.T) {
		signed, img := f.image(t), f.image(t)
		f.sign(t, ".github/workflows/release.yml@refs/heads/main", img, signed, attest.PredicateSign)
		_, err := f.verify(t, img, policy)
		want := "signs " + signed.Digest.String() + ", not the image " + img.Digest.String()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("got %v, want %q", err, want)
		}
	})
	t.Run("tampered bundle", func(t *testing.T) {
		img, other := f.image(t), f.image(t)
		s := &attest.Signer{FulcioURL: f.ss.FulcioURL, RekorURL: f.ss.RekorURL, IDToken: token(".github/workflows/release.yml@refs/heads/main")}
		st, _ := attest.NewStatement(f.repo.Name(), other.Digest, attest.PredicateSign, nil)
		bundles, _, err := s.Sign(context.Background(), st)
		if err != nil {
			t.Fatal(err)
		}
		// Rewrite the signed statement's subject to this image, keeping the signature.
		var b map[string]any
		if err := json.Unmarshal(bundles[0], &b); err != nil {
			t.Fatal(err)
		}
		env := b["dsseEnvelope"].(map[string]any)
		forged, _ := attest.NewStatement(f.repo.Name(), img.Digest, attest.PredicateSign, nil)
		env["payload"] = forged
		raw, _ := json.Marshal(b)
		if _, err := attest.PushBundle(context.Background(), f.repo, img, raw, attest.PredicateSign, ""); err != nil {
			t.Fatal(err)
		}
		_, err = f.verify(t, img, policy)
		if err == nil || !strings.Contains(err.Error(), "does not verify against the trusted root") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("another Sigstore instance", func(t *testing.T) {
		img := f.image(t)
		other := &fixture{ss: attesttest.New(t), repo: f.repo}
		other.sign(t, ".github/workflows/release.yml@refs/heads/main", img, img, attest.PredicateSign)
		_, err := f.verify(t, img, policy)
		if err == nil || !strings.Contains(err.Error(), "does not verify against the trusted root") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestFulcioRefusesAWrongAudience(t *testing.T) {
	t.Parallel()
	ss := attesttest.New(t)
	s := &attest.Signer{FulcioURL: ss.FulcioURL, RekorURL: ss.RekorURL, IDToken: func(context.Context) (string, error) {
		return azuretest.JWT(map[string]any{"iss": attesttest.Issuer, "aud": "api://AzureADTokenExchange", "sub": "x", "exp": time.Now().Add(time.Minute).Unix(), "job_workflow_ref": "o/r/.github/workflows/x.yml@refs/heads/main"}), nil
	}}
	_, _, err := s.Sign(context.Background(), []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "audience api://AzureADTokenExchange is not sigstore") {
		t.Fatalf("got %v", err)
	}
	if ss.Entries() != 0 {
		t.Fatal("an entry was logged without a certificate")
	}
}

func TestPolicyValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    attest.Policy
		want string
	}{
		{attest.Policy{Issuer: attest.GitHubIssuer}, "no signer identity"},
		{attest.Policy{Subject: "a", SubjectRegexp: "b", Issuer: attest.GitHubIssuer}, "both"},
		{attest.Policy{SubjectRegexp: "(", Issuer: attest.GitHubIssuer}, "does not compile"},
		{attest.Policy{Subject: "a"}, "no issuer"},
		{attest.Policy{Subject: "a", Issuer: attest.GitHubIssuer}, ""},
	} {
		err := tc.p.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: got %v, want %q", tc.p, err, tc.want)
		}
	}
}
