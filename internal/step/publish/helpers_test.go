package publish_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/azure/azuretest"
	"github.com/daedalus-dev/daedalus/internal/step/publish/publishtest"
)

const (
	tenant   = "11111111-2222-3333-4444-555555555555"
	clientID = "66666666-7777-8888-9999-000000000000"
)

// recorder wraps a registry handler and records what it was sent.
type recorder struct {
	next        http.Handler
	requests    atomic.Int64
	uploadBytes atomic.Int64 // bytes of blob upload bodies
	mu          sync.Mutex
	secrets     []string // every Authorization header and token form field received
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.requests.Add(1)
	r.mu.Lock()
	if a := req.Header.Get("Authorization"); a != "" {
		r.secrets = append(r.secrets, a)
	}
	r.mu.Unlock()
	if strings.Contains(req.URL.Path, "/blobs/uploads") && req.Body != nil {
		body, _ := io.ReadAll(req.Body)
		r.uploadBytes.Add(int64(len(body)))
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	if req.Method == http.MethodPost && strings.HasPrefix(req.URL.Path, "/oauth2/") {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.secrets = append(r.secrets, string(body))
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.next.ServeHTTP(w, req)
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.secrets...)
}

// plainRegistry is an anonymous in-process OCI registry (ggcr's pkg/registry).
type plainRegistry struct {
	*recorder
	host string
}

func newPlainRegistry(t testing.TB) *plainRegistry {
	t.Helper()
	rec := &recorder{next: registry.New(registry.Logger(discardLogger()), registry.WithReferrersSupport(true))}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return &plainRegistry{recorder: rec, host: strings.TrimPrefix(srv.URL, "http://")}
}

// newStoringRegistry is newPlainRegistry with blobs stored per repository, as a real
// registry stores them (ggcr's default store answers for a blob pushed to any repository,
// so a push to a fresh repository would upload nothing).
func newStoringRegistry(t testing.TB) *plainRegistry {
	t.Helper()
	rec := &recorder{next: registry.New(registry.Logger(discardLogger()), registry.WithReferrersSupport(true),
		registry.WithBlobHandler(&repoBlobs{blobs: map[string][]byte{}}))}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return &plainRegistry{recorder: rec, host: strings.TrimPrefix(srv.URL, "http://")}
}

// repoBlobs keeps each blob under the repository it was pushed to.
type repoBlobs struct {
	mu    sync.Mutex
	blobs map[string][]byte // "<repo>@<digest>"
}

// key names a blob of a repository. ggcr's registry passes an upload's repository with
// "/blobs" still on it (v0.22.1); it is the same repository.
func key(repo string, h v1.Hash) string { return strings.TrimSuffix(repo, "/blobs") + "@" + h.String() }

func (r *repoBlobs) blob(repo string, h v1.Hash) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.blobs[key(repo, h)]
	if !ok {
		return nil, registry.ErrNotFound
	}
	return b, nil
}

func (r *repoBlobs) Get(_ context.Context, repo string, h v1.Hash) (io.ReadCloser, error) {
	b, err := r.blob(repo, h)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (r *repoBlobs) Stat(_ context.Context, repo string, h v1.Hash) (int64, error) {
	b, err := r.blob(repo, h)
	return int64(len(b)), err
}

func (r *repoBlobs) Put(_ context.Context, repo string, h v1.Hash, rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blobs[key(repo, h)] = b
	return nil
}

// pushBase pushes the base image stand-in to reg.
func pushBase(t testing.TB, reg string) string {
	t.Helper()
	return publishtest.PushBase(t, reg, "distroless/static:nonroot")
}

// checkout makes a git repository holding a tiny main package (testdata/hello) as its own
// module, committed at a fixed time, so its revision and commit time never change.
func checkout(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "hello", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod":            "module example.com/hello\n\ngo 1.26\n",
		"cmd/hello/main.go": string(src),
	}
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitEnv := append(os.Environ(),
		"GIT_AUTHOR_NAME=Fixture", "GIT_AUTHOR_EMAIL=fixture@example.com",
		"GIT_COMMITTER_NAME=Fixture", "GIT_COMMITTER_EMAIL=fixture@example.com",
		"GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"commit", "-q", "-m", "fixture"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = dir, gitEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// fixtureCommitTime is the commit time checkout uses.
var fixtureCommitTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// workflowEnv is what the runner sets for a push to main in octo/app, plus the step's
// output files and the OIDC variables of gh.
func workflowEnv(t *testing.T, gh *azuretest.GitHub, ref string, event map[string]any) map[string]string {
	t.Helper()
	dir := t.TempDir()
	ev := filepath.Join(dir, "event.json")
	b, _ := json.Marshal(event)
	if err := os.WriteFile(ev, b, 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"GITHUB_REF":          ref,
		"GITHUB_REPOSITORY":   "octo/app",
		"GITHUB_SERVER_URL":   "https://github.com",
		"GITHUB_EVENT_PATH":   ev,
		"GITHUB_OUTPUT":       filepath.Join(dir, "output"),
		"GITHUB_STEP_SUMMARY": filepath.Join(dir, "summary"),
	}
	for k, v := range gh.Env() {
		env[k] = v
	}
	return env
}

// outputs parses a GITHUB_OUTPUT file as the runner does.
func outputs(t *testing.T, file string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	out, err := actions.ParseOutputs(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// extractFile copies the file at path in the flattened image tar rc to dst, mode 0755.
func extractFile(rc io.ReadCloser, path, dst string) error {
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("%s is not in the image", path)
		}
		if err != nil {
			return err
		}
		if strings.TrimPrefix(hdr.Name, "./") != path {
			continue
		}
		if hdr.Mode&0o001 == 0 {
			return fmt.Errorf("%s has mode %o: others cannot execute it", path, hdr.Mode)
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
}
