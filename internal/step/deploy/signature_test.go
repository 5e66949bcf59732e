package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	"k8s.io/client-go/rest"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/aks"
	"github.com/daedalus-dev/daedalus/internal/lib/attest"
	"github.com/daedalus-dev/daedalus/internal/lib/attest/attesttest"
	"github.com/daedalus-dev/daedalus/internal/lib/azure/azuretest"
)

const releaseWorkflow = "https://github.com/octo/app/.github/workflows/release.yml@refs/heads/main"

// errReachedCluster is what the REST stand-in returns: the step got past the signature
// check and the chart render to the point of touching the cluster.
var errReachedCluster = errors.New("reached the cluster")

// signedRegistry is an OCI registry (go-containerregistry's, with the referrers API) and a
// loopback Sigstore instance, as publish leaves them.
type signedRegistry struct {
	ss   *attesttest.Sigstore
	repo name.Repository
}

func newSignedRegistry(t *testing.T) *signedRegistry {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(true)))
	t.Cleanup(srv.Close)
	repo, err := name.NewRepository(strings.TrimPrefix(srv.URL, "http://") + "/daedalus-proxy")
	if err != nil {
		t.Fatal(err)
	}
	return &signedRegistry{ss: attesttest.New(t), repo: repo}
}

// push pushes a fresh image index under tag and returns its descriptor.
func (r *signedRegistry) push(t *testing.T, tag string) v1.Descriptor {
	t.Helper()
	idx, err := random.Index(64, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r.repo.Tag(tag), idx); err != nil {
		t.Fatal(err)
	}
	d, err := partial.Descriptor(idx)
	if err != nil {
		t.Fatal(err)
	}
	return *d
}

// sign signs a statement about subject as the workflow (path@ref in repository) through
// the loopback Fulcio and Rekor, and pushes the bundle as a referrer of target: the same
// calls publish makes.
func (r *signedRegistry) sign(t *testing.T, repository, workflow string, target, subject v1.Descriptor, predicateType string) []byte {
	t.Helper()
	s := &attest.Signer{FulcioURL: r.ss.FulcioURL, RekorURL: r.ss.RekorURL, IDToken: func(context.Context) (string, error) {
		return azuretest.JWT(map[string]any{
			"iss": attesttest.Issuer, "aud": attest.Audience, "sub": "repo:" + repository + ":ref:refs/heads/main",
			"exp": time.Now().Add(5 * time.Minute).Unix(), "repository": repository, "ref": "refs/heads/main",
			"sha": "0123456789abcdef0123456789abcdef01234567", "job_workflow_ref": repository + "/" + workflow,
		}), nil
	}}
	st, err := attest.NewStatement(r.repo.Name(), subject.Digest, predicateType, nil)
	if err != nil {
		t.Fatal(err)
	}
	bundles, _, err := s.Sign(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	r.attach(t, target, bundles[0], predicateType)
	return bundles[0]
}

func (r *signedRegistry) attach(t *testing.T, target v1.Descriptor, bundle []byte, predicateType string) {
	t.Helper()
	if _, err := attest.PushBundle(context.Background(), r.repo, target, bundle, predicateType, ""); err != nil {
		t.Fatal(err)
	}
}

// deploy runs the deploy step's Run for image with the signature required of
// releaseWorkflow, the trusted root read from a trusted_root.json file. It returns the
// error, the log, and whether Run reached for the cluster.
func (r *signedRegistry) deploy(t *testing.T, image string) (error, string, bool) {
	t.Helper()
	cfg := Config{
		Target: aks.Target{Kubeconfig: "/unused"}, Chart: chartDir(t), Namespace: "daedalus", Release: "daedalus",
		Values: []string{"values-aks-test.yaml"}, Timeout: time.Minute, KEDA: KEDAHelm, InstallKEDA: true,
		ProxyImage: image, WorkerImages: map[string]string{"copilot": "r.azurecr.io/copilot-bridge:7"},
		Signature: Signature{
			Required:    true,
			Policy:      attest.Policy{Subject: releaseWorkflow, Issuer: attest.GitHubIssuer},
			TrustedRoot: r.ss.WriteTrustedRoot(t),
		},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	var out bytes.Buffer
	a := actions.New(actions.WithGetenv(func(string) string { return "" }), actions.WithWriter(&out))
	reached := false
	_, err := Run(context.Background(), cfg, Deps{
		Report: a,
		REST: func(context.Context) (*rest.Config, error) {
			reached = true
			return nil, errReachedCluster
		},
	})
	if err != nil && !errors.Is(err, errReachedCluster) {
		a.Fail(err)
	}
	return err, out.String(), reached
}

// TestDeployVerifiesThenProceeds: a signed image passes, and deploy goes on with the
// image pinned to the verified digest although it was given by tag.
func TestDeployVerifiesThenProceeds(t *testing.T) {
	t.Parallel()
	r := newSignedRegistry(t)
	img := r.push(t, "v1")
	r.sign(t, "octo/app", ".github/workflows/release.yml@refs/heads/main", img, img, attest.PredicateSLSA)
	r.sign(t, "octo/app", ".github/workflows/release.yml@refs/heads/main", img, img, attest.PredicateSign)

	err, out, reached := r.deploy(t, r.repo.Tag("v1").String())
	if !errors.Is(err, errReachedCluster) || !reached {
		t.Fatalf("deploy stopped before the cluster: %v\n%s", err, out)
	}
	pinned := r.repo.Digest(img.Digest.String()).String()
	for _, want := range []string{
		"::group::Verify the proxy image's signature",
		pinned + " is signed by " + releaseWorkflow + " (issuer " + attest.GitHubIssuer + "); deploying it by digest",
		"::group::Render the chart",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestDeployRefusesUnverifiedImages: each way an image can lack a valid signature by the
// release workflow stops the step with an error naming what did not match, before the
// cluster is touched.
func TestDeployRefusesUnverifiedImages(t *testing.T) {
	t.Parallel()
	r := newSignedRegistry(t)
	tests := []struct {
		name  string
		setup func(t *testing.T) v1.Descriptor
		want  string
	}{
		{"unsigned image", func(t *testing.T) v1.Descriptor {
			img := r.push(t, "unsigned")
			r.sign(t, "octo/app", ".github/workflows/release.yml@refs/heads/main", img, img, attest.PredicateSLSA)
			return img
		}, "has no Sigstore signature among its referrers"},
		{"another workflow", func(t *testing.T) v1.Descriptor {
			img := r.push(t, "pr")
			r.sign(t, "octo/app", ".github/workflows/pr.yml@refs/pull/7/merge", img, img, attest.PredicateSign)
			return img
		}, "signed by https://github.com/octo/app/.github/workflows/pr.yml@refs/pull/7/merge (issuer " + attest.GitHubIssuer + "), not by identity " + releaseWorkflow},
		{"another repository", func(t *testing.T) v1.Descriptor {
			img := r.push(t, "fork")
			r.sign(t, "mallory/app", ".github/workflows/release.yml@refs/heads/main", img, img, attest.PredicateSign)
			return img
		}, "signed by https://github.com/mallory/app/.github/workflows/release.yml@refs/heads/main"},
		{"signature copied from another image", func(t *testing.T) v1.Descriptor {
			signed, img := r.push(t, "good"), r.push(t, "copied")
			b := r.sign(t, "octo/app", ".github/workflows/release.yml@refs/heads/main", signed, signed, attest.PredicateSign)
			r.attach(t, img, b, attest.PredicateSign)
			return img
		}, "not the image sha256:"},
		{"tampered bundle", func(t *testing.T) v1.Descriptor {
			img, other := r.push(t, "tampered"), r.push(t, "other")
			b := r.sign(t, "octo/app", ".github/workflows/release.yml@refs/heads/main", other, other, attest.PredicateSign)
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			forged, _ := attest.NewStatement(r.repo.Name(), img.Digest, attest.PredicateSign, nil)
			m["dsseEnvelope"].(map[string]any)["payload"] = forged
			raw, _ := json.Marshal(m)
			r.attach(t, img, raw, attest.PredicateSign)
			return img
		}, "does not verify against the trusted root"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := tc.setup(t)
			err, out, reached := r.deploy(t, r.repo.Digest(img.Digest.String()).String())
			if err == nil || reached {
				t.Fatalf("deployed (reached the cluster: %v): %v\n%s", reached, err, out)
			}
			want := strings.ReplaceAll(tc.want, "sha256:", img.Digest.String())
			if !strings.Contains(out, "::error::") || !strings.Contains(out, want) || !strings.Contains(out, "refusing to deploy") {
				t.Fatalf("log does not refuse with %q:\n%s", want, out)
			}
			if strings.Contains(out, "::group::Render the chart") {
				t.Fatalf("went on after the refusal:\n%s", out)
			}
		})
	}
}
