package publish_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/attest/attesttest"
	"github.com/daedalus-dev/daedalus/internal/lib/azure/azuretest"
	"github.com/daedalus-dev/daedalus/internal/step/publish"
)

// stepEnv is the full environment of one publish run against the stand-ins.
type stepEnv struct {
	env   map[string]string
	gh    *azuretest.GitHub
	entra *azuretest.Entra
	acr   *azuretest.ACR
	ss    *attesttest.Sigstore
	dir   string
}

func newStepEnv(t *testing.T) *stepEnv {
	t.Helper()
	gh := azuretest.NewGitHub(t, azuretest.GitHubOptions{Subject: "repo:octo/app:ref:refs/heads/main", Claims: map[string]any{
		"job_workflow_ref": "octo/app/.github/workflows/release.yml@refs/heads/main", "run_id": "42", "run_attempt": "1",
	}})
	ss := attesttest.New(t)
	entra := azuretest.NewEntra(t, azuretest.EntraOptions{Subjects: []string{"repo:octo/app:ref:refs/heads/main"}})
	acr := azuretest.NewACR(t, entra)
	env := workflowEnv(t, gh, "refs/heads/main", map[string]any{"repository": map[string]any{"default_branch": "main"}})
	for k, v := range map[string]string{
		"INPUT_REGISTRY":   acr.Host,
		"INPUT_REPOSITORY": "daedalus-proxy",
		"INPUT_BASE-IMAGE": "scratch",
		"INPUT_PACKAGE":    "./cmd/hello",
		"INPUT_TENANT-ID":  tenant,
		"INPUT_CLIENT-ID":  clientID,
		"INPUT_CLOUD":      entra.URL,
		// Signing runs against the loopback Sigstore instance.
		"INPUT_FULCIO-URL":    ss.FulcioURL,
		"INPUT_REKOR-URL":     ss.RekorURL,
		"GITHUB_WORKFLOW_REF": "octo/app/.github/workflows/release.yml@refs/heads/main",
		"GITHUB_RUN_ID":       "42",
		"GITHUB_RUN_ATTEMPT":  "1",
	} {
		env[k] = v
	}
	return &stepEnv{env: env, gh: gh, entra: entra, acr: acr, ss: ss, dir: checkout(t)}
}

// run runs the step in-process and returns its output.
func (s *stepEnv) run(t *testing.T) (string, error) {
	t.Helper()
	var out bytes.Buffer
	a := actions.New(actions.WithGetenv(func(k string) string { return s.env[k] }), actions.WithWriter(&out))
	_, err := publish.Main(context.Background(), a, publish.Deps{AzureTransport: s.entra.Client(), Dir: s.dir, AllowLoopbackRegistry: true})
	if err != nil {
		a.Fail(err)
	}
	return out.String(), err
}

// pullKeychain lets the test read the ACR stand-in directly.
func pullKeychain(acr *azuretest.ACR) authn.Keychain {
	return publish.PinnedKeychain{Registry: acr.Host, Auth: &authn.Bearer{Token: acr.AccessToken()}}
}

func TestPublishEndToEnd(t *testing.T) {
	t.Parallel()
	s := newStepEnv(t)
	baseReg := newPlainRegistry(t)
	base := pushBase(t, baseReg.host)
	s.env["INPUT_BASE-IMAGE"] = base

	out, err := s.run(t)
	if err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	firstUpload := s.acr.UploadBytes()
	o := outputs(t, s.env["GITHUB_OUTPUT"])
	rev := gitHead(t, s.dir)
	digest := o["digest"]
	if o["image"] != s.acr.Host+"/daedalus-proxy@"+digest || !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("outputs %v", o)
	}
	if want := rev + ",main,latest"; o["tags"] != want {
		t.Fatalf("tags output %q, want %q", o["tags"], want)
	}
	sum, _ := os.ReadFile(s.env["GITHUB_STEP_SUMMARY"])
	for _, w := range []string{"| Image | `" + o["image"] + "` |", "| Digest |", "linux/amd64 (", "linux/arm64 (", "| Tags | `" + rev + "` `main` `latest` |", "SBOM"} {
		if !strings.Contains(string(sum), w) {
			t.Errorf("summary lacks %q:\n%s", w, sum)
		}
	}
	if !strings.Contains(out, "::warning::base-image "+base+" is not pinned by digest") {
		t.Errorf("no warning about the unpinned base:\n%s", out)
	}
	for _, g := range []string{"::debug::publish configuration: ", "::group::Sign in to " + s.acr.Host, "::group::Build ./cmd/hello for linux/amd64, linux/arm64", "::group::Push " + s.acr.Host + "/daedalus-proxy"} {
		if !strings.Contains(out, g) {
			t.Errorf("output lacks %q", g)
		}
	}

	// Pull the index back under every tag.
	ropts := []remote.Option{remote.WithAuthFromKeychain(pullKeychain(s.acr))}
	for _, tag := range strings.Split(o["tags"], ",") {
		ref, _ := name.NewTag(s.acr.Host + "/daedalus-proxy:" + tag)
		desc, err := remote.Head(ref, ropts...)
		if err != nil || desc.Digest.String() != digest {
			t.Fatalf("tag %s: %v, %v", tag, desc, err)
		}
	}
	ref, _ := name.NewDigest(o["image"])
	idx, err := remote.Index(ref, ropts...)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	wantAnn := map[string]string{
		publish.AnnotationSource:   "https://github.com/octo/app",
		publish.AnnotationRevision: rev,
		publish.AnnotationVersion:  rev,
		publish.AnnotationCreated:  fixtureCommitTime.Format(time.RFC3339),
		publish.AnnotationBaseName: base,
	}
	if !reflect.DeepEqual(im.Annotations, wantAnn) {
		t.Errorf("index annotations %v, want %v", im.Annotations, wantAnn)
	}
	var plats []string
	for _, m := range im.Manifests {
		plats = append(plats, m.Platform.String())
		img, err := idx.Image(m.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != "65532:65532" || !reflect.DeepEqual(cf.Config.Entrypoint, []string{"/usr/local/bin/hello"}) ||
			cf.Architecture != m.Platform.Architecture || !cf.Created.Time.Equal(fixtureCommitTime) ||
			cf.Config.Labels[publish.AnnotationRevision] != rev || cf.Config.Labels[publish.AnnotationSource] != "https://github.com/octo/app" {
			t.Errorf("%s config: user %q entrypoint %v arch %s created %v labels %v", m.Platform, cf.Config.User,
				cf.Config.Entrypoint, cf.Architecture, cf.Created, cf.Config.Labels)
		}
		if layers, _ := img.Layers(); len(layers) != 2 {
			t.Errorf("%s has %d layers, want base + binary", m.Platform, len(layers))
		}
		if m.Platform.Architecture == "amd64" {
			runAsNonRoot(t, img)
		}
	}
	if strings.Join(plats, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("platforms %v", plats)
	}

	// The SBOM is a referrer of the index, beside the three Sigstore bundles
	// (TestPublishSignsAndAttests).
	refs, err := remote.Referrers(ref, ropts...)
	if err != nil {
		t.Fatal(err)
	}
	rm, _ := refs.IndexManifest()
	var sbomRefs []v1.Descriptor
	for _, d := range rm.Manifests {
		if d.Annotations["dev.sigstore.bundle.predicateType"] == "" {
			sbomRefs = append(sbomRefs, d)
		}
	}
	if len(rm.Manifests) != 4 || len(sbomRefs) != 1 {
		t.Fatalf("referrers %+v", rm.Manifests)
	}
	sbomImg, err := remote.Image(ref.Context().Digest(sbomRefs[0].Digest.String()), ropts...)
	if err != nil {
		t.Fatal(err)
	}
	if sm, _ := sbomImg.Manifest(); sm.ArtifactType != publish.SBOMMediaType || sm.Subject == nil || sm.Subject.Digest.String() != digest {
		t.Fatalf("SBOM manifest %+v", sm)
	}
	ls, _ := sbomImg.Layers()
	rc, _ := ls[0].Uncompressed()
	raw, _ := io.ReadAll(rc)
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct{ Name, VersionInfo string }
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.SPDXVersion != "SPDX-2.3" || len(doc.Packages) < 2 ||
		doc.Packages[0].Name != "example.com/hello" || doc.Packages[0].VersionInfo != rev {
		t.Fatalf("SBOM %s (%v)", raw, err)
	}

	// The base registry never saw a credential.
	if seen := baseReg.seen(); len(seen) != 0 {
		t.Fatalf("the base registry received credentials: %q", seen)
	}

	// Same commit again: same digest, and no layer bytes uploaded a second time. (Unsigned:
	// a signed run signs afresh, and its new bundles are new blobs.)
	s.env["INPUT_SIGN"] = "false"
	if out, err := s.run(t); err != nil {
		t.Fatalf("second publish: %v\n%s", err, out)
	}
	if again := outputs(t, s.env["GITHUB_OUTPUT"])["digest"]; again != digest {
		t.Fatalf("second build of the same commit gave %s, first %s", again, digest)
	}
	if n := s.acr.UploadBytes() - firstUpload; n != 0 {
		t.Fatalf("second push uploaded %d bytes (first push: %d)", n, firstUpload)
	}
	if firstUpload == 0 {
		t.Fatal("first push uploaded nothing: the byte count is broken")
	}
	if got := len(s.gh.Issued()); got != 3 {
		t.Fatalf("GitHub issued %d OIDC tokens for two runs, want 3 (Azure twice, Sigstore once)", got)
	}
}

// runAsNonRoot extracts the image's entrypoint binary and runs it as the image's user.
func runAsNonRoot(t *testing.T, img v1.Image) {
	t.Helper()
	cmd := nonRootCommand(t, img, "x")
	want := "hello uid=65532 gid=65532 args=x"
	if os.Getuid() != 0 {
		want = "args=x" // not root: cannot switch user; the mode bits were still checked
	}
	got, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(got), want) {
		t.Fatalf("running the entrypoint: %v: %q, want %q", err, got, want)
	}
}

// nonRootCommand extracts the image's entrypoint into a directory any user can read and
// returns a command running it with args as the image's user (when the test runs as root).
func nonRootCommand(t *testing.T, img v1.Image, args ...string) *exec.Cmd {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != publish.NonRootUser {
		t.Fatalf("image user %q, want %q", cf.Config.User, publish.NonRootUser)
	}
	dir, err := os.MkdirTemp("", "nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "entrypoint")
	if err := extractFile(mutate.Extract(img), strings.TrimPrefix(cf.Config.Entrypoint[0], "/"), bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	if os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
	}
	return cmd
}

func gitHead(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func TestBadInputsChangeNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		env    map[string]string
		inputs []string // inputs the ::error:: annotations must name
		is     error
	}{
		{"registry with scheme", map[string]string{"INPUT_REGISTRY": "https://myacr.azurecr.io"}, []string{"registry"}, nil},
		{"registry not a host", map[string]string{"INPUT_REGISTRY": "my_acr.azurecr.io"}, []string{"registry"}, nil},
		{"registry with path", map[string]string{"INPUT_REGISTRY": "myacr.azurecr.io/proxy"}, []string{"registry"}, nil},
		{"registry missing", map[string]string{"INPUT_REGISTRY": ""}, []string{"registry"}, nil},
		{"repository", map[string]string{"INPUT_REPOSITORY": "Daedalus/Proxy"}, []string{"repository"}, nil},
		{"tag syntax", map[string]string{"INPUT_TAGS": "ok, -bad,also:bad"}, []string{"tags", "tags"}, nil},
		{"platform", map[string]string{"INPUT_PLATFORMS": "windows/amd64"}, []string{"platforms"}, nil},
		{"base image", map[string]string{"INPUT_BASE-IMAGE": "UPPER CASE:!"}, []string{"base-image"}, nil},
		{"ids", map[string]string{"INPUT_TENANT-ID": "", "INPUT_CLIENT-ID": "nope"}, []string{"tenant-id", "client-id"}, nil},
		{"several at once", map[string]string{"INPUT_REGISTRY": "a_b", "INPUT_TAGS": ".x"}, []string{"registry", "tags"}, nil},
		{"no id-token permission", map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": "", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "", "INPUT_SIGN": "false"}, nil, actions.ErrNoIDToken},
		{"sign without id-token", map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": "", "INPUT_SIGN": "true"}, []string{"sign"}, nil},
		{"sign not a bool", map[string]string{"INPUT_SIGN": "yes please"}, []string{"sign"}, nil},
		{"sigstore urls", map[string]string{"INPUT_FULCIO-URL": "http://fulcio.example.com", "INPUT_REKOR-URL": "https://rekor.example.com/api/v1"}, []string{"fulcio-url", "rekor-url"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStepEnv(t)
			for k, v := range tc.env {
				s.env[k] = v
			}
			out, err := s.run(t)
			if err == nil {
				t.Fatal("publish succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v, want %v", err, tc.is)
			}
			var names []string
			for _, line := range strings.Split(out, "\n") {
				if n, ok := strings.CutPrefix(line, "::error title=Input "); ok {
					names = append(names, strings.SplitN(n, "::", 2)[0])
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.inputs, ",") {
				t.Fatalf("annotations name %v, want %v:\n%s", names, tc.inputs, out)
			}
			if !strings.Contains(out, "::error") {
				t.Fatalf("no ::error:: annotation:\n%s", out)
			}
			if n := s.acr.Requests(); n != 0 {
				t.Fatalf("the registry received %d requests", n)
			}
			if n := s.ss.Certificates() + s.ss.Entries(); n != 0 {
				t.Fatalf("Sigstore received %d requests", n)
			}
			if n := len(s.gh.Issued()); n != 0 {
				t.Fatalf("%d OIDC tokens were requested", n)
			}
			if _, err := os.Stat(s.env["GITHUB_OUTPUT"]); err == nil {
				t.Fatal("outputs were written")
			}
		})
	}
}

func TestMissingPermissionNamesTheFix(t *testing.T) {
	t.Parallel()
	s := newStepEnv(t)
	delete(s.env, "ACTIONS_ID_TOKEN_REQUEST_URL")
	out, _ := s.run(t)
	if !strings.Contains(out, "::error::") || !strings.Contains(out, "permissions: id-token: write") {
		t.Fatalf("output does not say how to fix the missing permission:\n%s", out)
	}
}

func TestSubjectMismatchIsExplained(t *testing.T) {
	t.Parallel()
	s := newStepEnv(t)
	s.gh = azuretest.NewGitHub(t, azuretest.GitHubOptions{Subject: "repo:octo/app:pull_request"})
	for k, v := range s.gh.Env() {
		s.env[k] = v
	}
	out, err := s.run(t)
	if err == nil {
		t.Fatal("publish succeeded with a subject Entra does not know")
	}
	if !strings.Contains(out, `Entra ID rejected the GitHub OIDC token (AADSTS70021)`) || !strings.Contains(out, "::endgroup::\n::error::signing in to "+s.acr.Host+": ") ||
		!strings.Contains(out, "repo:octo/app:pull_request") || !strings.Contains(out, "each tier identity of deploy/terraform/bootstrap") {
		t.Fatalf("output:\n%s", out)
	}
	if n := s.acr.Requests(); n != 0 {
		t.Fatalf("the registry received %d requests", n)
	}
}

// TestTokenGoesOnlyToTheCloudsRegistry reproduces a token leak: any registry host got the
// Entra token in the exchange, over plain http for a local address. A registry that
// records every request stands in for the attacker's host; without the test-only
// loopback allowance the step must refuse it as input, before signing in.
func TestTokenGoesOnlyToTheCloudsRegistry(t *testing.T) {
	t.Parallel()
	s := newStepEnv(t)
	var requests atomic.Int32
	rogue := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(rogue.Close)
	s.env["INPUT_REGISTRY"] = strings.TrimPrefix(rogue.URL, "http://")
	var out bytes.Buffer
	a := actions.New(actions.WithGetenv(func(k string) string { return s.env[k] }), actions.WithWriter(&out))
	_, err := publish.Main(context.Background(), a, publish.Deps{AzureTransport: s.entra.Client(), Dir: s.dir})
	var ie *actions.InputError
	if !errors.As(err, &ie) || ie.Input != publish.InputRegistry {
		t.Fatalf("publish to %s: err %v, want an input error for registry\n%s", s.env["INPUT_REGISTRY"], err, out.String())
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the rogue registry got %d requests", n)
	}
}
