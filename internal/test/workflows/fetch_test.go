package workflows

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// releaseServer stands in for GitHub's release downloads and tags API as the fetcher
// uses them: GET /<owner>/<repo>/releases/download/<tag>/<asset> (404 when there is no
// such release or asset) and GET /api/repos/<owner>/<repo>/tags (name and commit.sha,
// paged by per_page and page).
type releaseServer struct {
	URL  string
	repo string

	mu       sync.Mutex
	assets   map[string]map[string][]byte // tag → asset name → content
	tags     map[string]string            // tag → commit SHA
	requests []string
	auth     []string
	// noDownloads, when set, fails that test on any request for a release asset (and
	// answers 403): a run that must not use release assets at all.
	noDownloads *testing.T
}

func newReleaseServer(t *testing.T, repo string) *releaseServer {
	t.Helper()
	s := &releaseServer{repo: repo, assets: map[string]map[string][]byte{}, tags: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *releaseServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, r.URL.Path)
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	if r.URL.Path == "/api/repos/"+s.repo+"/tags" {
		serveTags(w, r, s.tags)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/"+s.repo+"/releases/download/")
	if ok && s.noDownloads != nil {
		s.noDownloads.Errorf("release asset requested: %s", r.URL.Path)
		http.Error(w, "no release downloads in this test", http.StatusForbidden)
		return
	}
	tag, asset, _ := strings.Cut(rest, "/")
	body, found := s.assets[tag][asset]
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write(body)
}

// publish adds a release: for each binary name a tar.gz holding an executable shell
// script that prints "<name> ran with: <args>", and checksums.txt over the archives.
func (s *releaseServer) publish(t *testing.T, tag, sha string, names ...string) {
	t.Helper()
	scripts := map[string]string{}
	for _, n := range names {
		scripts[n] = fmt.Sprintf("#!/bin/sh\necho \"%s ran with: $*\"\n", n)
	}
	s.publishScripts(t, tag, sha, scripts)
}

// publishScripts adds a release whose binaries are the given scripts (name → script).
func (s *releaseServer) publishScripts(t *testing.T, tag, sha string, scripts map[string]string) {
	t.Helper()
	files := releaseAssets(t, scripts)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.assets[tag] = files
	if sha != "" {
		s.tags[tag] = sha
	}
}

// releaseAssets lays out release assets as scripts/release does: for each binary name a
// <name>_<os>_<arch>.tar.gz holding it (here, the given script), and checksums.txt with
// their sha256 sums.
func releaseAssets(t *testing.T, scripts map[string]string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	var sums []string
	for n, script := range scripts {
		asset := fmt.Sprintf("%s_%s_%s.tar.gz", n, runtime.GOOS, runtime.GOARCH)
		files[asset] = targz(t, n, []byte(script))
		sum := sha256.Sum256(files[asset])
		sums = append(sums, hex.EncodeToString(sum[:])+"  "+asset)
	}
	sort.Strings(sums)
	files["checksums.txt"] = []byte(strings.Join(sums, "\n") + "\n")
	return files
}

// serveTags answers GitHub's tags API from name → commit SHA: in name order (so a
// floating tag, v2, comes before the release tag, v2.0.0, of the same commit and a fetcher
// that takes the first match is caught), paged as GitHub pages it: per_page (default 30,
// at most 100) and page (from 1).
func serveTags(w http.ResponseWriter, r *http.Request, tags map[string]string) {
	names := make([]string, 0, len(tags))
	for name := range tags {
		names = append(names, name)
	}
	sort.Strings(names)
	perPage, page := 30, 1
	if v, err := strconv.Atoi(r.URL.Query().Get("per_page")); err == nil && v > 0 {
		perPage = min(v, 100)
	}
	if v, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && v > 0 {
		page = v
	}
	out := []map[string]any{}
	for i := (page - 1) * perPage; i < min(page*perPage, len(names)); i++ {
		out = append(out, map[string]any{"name": names[i], "commit": map[string]string{"sha": tags[names[i]]}})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
func (s *releaseServer) set(tag, asset string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.assets[tag][asset] = body
}

func (s *releaseServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func targz(t *testing.T, name string, content []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// actionRepo lays out a minimal copy of an action repository under dir: the real
// fetcher at actions/_bin/run, and a module with ./cmd/hello for source builds.
func actionRepo(t *testing.T, dir string) string {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(engine.RepoRoot(t), "actions", "_bin", "run"))
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{
		"actions/_bin/run":   string(script),
		"go.mod":             "module example.com/actionrepo\n\ngo 1.26\n",
		"cmd/hello/main.go":  "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() { fmt.Println(\"hello from source with:\", os.Args[1:]) }\n",
		"actions/x/.keep":    "",
		"cmd/hello/.gitkeep": "",
	})
	return dir
}

type fetchRun struct {
	stdout, stderr string
	err            error
	readyMS        int
}

var readyRe = regexp.MustCompile(`\(ready in (\d+) ms\)`)

// fetch runs <root>/actions/_bin/run ./cmd/<step> args... with only the given variables
// (plus PATH and the Go caches), as a composite action step would.
func fetch(t *testing.T, root string, env map[string]string, step string, args ...string) fetchRun {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "actions", "_bin", "run"), append([]string{"./cmd/" + step}, args...)...)
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOROOT", "GOFLAGS", "GOTOOLCHAIN"} {
		if v := goEnv(t, k); v != "" {
			base = append(base, k+"="+v)
		}
	}
	base = append(base, "GOTOOLCHAIN=local", "GOPROXY=off")
	for k, v := range env {
		base = append(base, k+"="+v)
	}
	cmd.Env = base
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := fetchRun{stdout: stdout.String(), stderr: stderr.String(), err: err}
	if m := readyRe.FindStringSubmatch(r.stderr); m != nil {
		r.readyMS, _ = strconv.Atoi(m[1])
	}
	return r
}

var (
	goEnvOnce sync.Once
	goEnvs    map[string]string
)

func goEnv(t *testing.T, key string) string {
	t.Helper()
	goEnvOnce.Do(func() {
		goEnvs = map[string]string{}
		out, err := exec.Command("go", "env", "-json").Output()
		if err == nil {
			_ = json.Unmarshal(out, &goEnvs)
		}
	})
	return goEnvs[key]
}

func TestFetcherReleaseAsset(t *testing.T) {
	t.Parallel()
	const repo, tag = "daedalus-dev/daedalus", "v1.2.3"
	const commit = "0123456789abcdef0123456789abcdef01234567"
	srv := newReleaseServer(t, repo)
	srv.publish(t, tag, commit, "daedalus-hello", "daedalus-other")
	root := actionRepo(t, t.TempDir())
	cache := t.TempDir()
	path, ghCalls := ghStandIn(t, 0, "Verification succeeded!")
	env := map[string]string{
		"DAEDALUS_ACTION_REPOSITORY": repo,
		"DAEDALUS_ACTION_REF":        tag,
		"DAEDALUS_BIN_CACHE":         cache,
		"GITHUB_SERVER_URL":          srv.URL,
		"GITHUB_API_URL":             srv.URL + "/api",
		"PATH":                       path,
		"INPUT_NAME":                 "passed through",
	}

	first := fetch(t, root, env, "hello", "a b", "c")
	if first.err != nil {
		t.Fatalf("first run: %v\n%s%s", first.err, first.stdout, first.stderr)
	}
	if want := "daedalus-hello ran with: a b c\n"; first.stdout != want {
		t.Errorf("stdout %q, want %q (the binary runs with the arguments)", first.stdout, want)
	}
	asset := "daedalus-hello_" + runtime.GOOS + "_" + runtime.GOARCH + ".tar.gz"
	if !strings.Contains(first.stderr, "release v1.2.3, downloaded "+asset+", sha256 and attestation verified (commit "+commit+")") {
		t.Errorf("stderr does not say where the binary came from:\n%s", first.stderr)
	}
	calls := ghCalls()
	if len(calls) != 1 {
		t.Fatalf("gh ran %d times, want once: %q", len(calls), calls)
	}
	calls[0][2] = filepath.Base(calls[0][2])
	if want := verifyArgs(asset, repo, commit); !slices.Equal(calls[0], want) {
		t.Errorf("gh %q, want gh %q", calls[0], want)
	}
	cached := filepath.Join(cache, repo, tag, runtime.GOOS+"_"+runtime.GOARCH, "daedalus-hello")
	if fi, err := os.Stat(cached); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("no executable in the cache at %s: %v", cached, err)
	}
	body, err := os.ReadFile(cached)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if record, _ := os.ReadFile(cached + ".sha256"); !strings.HasPrefix(string(record), hex.EncodeToString(sum[:])+"  daedalus-hello\n") {
		t.Errorf("%s.sha256 is %q: want the binary's sha256 first", cached, record)
	}
	downloads := len(srv.seen())

	second := fetch(t, root, env, "hello")
	if second.err != nil || !strings.Contains(second.stderr, "release v1.2.3, cached, sha256 re-checked") {
		t.Fatalf("second run: %v\n%s", second.err, second.stderr)
	}
	if second.stdout != "daedalus-hello ran with: \n" {
		t.Errorf("cached run stdout %q", second.stdout)
	}
	if n := len(srv.seen()); n != downloads {
		t.Errorf("the cached run made %d requests: %v", n-downloads, srv.seen()[downloads:])
	}
	if n := len(ghCalls()); n != 1 {
		t.Errorf("the cached run ran gh again (%d calls in all): the cache entry was verified when it was made", n)
	}
	t.Logf("start-up: %d ms with a download (loopback); cached binary start %d ms", first.readyMS, second.readyMS)
}

func TestFetcherRefusesBadRelease(t *testing.T) {
	t.Parallel()
	const repo = "daedalus-dev/daedalus"
	asset := fmt.Sprintf("daedalus-hello_%s_%s.tar.gz", runtime.GOOS, runtime.GOARCH)
	for _, tc := range []struct {
		name    string
		breakIt func(*releaseServer, string)
		want    string
	}{
		{"tampered asset", func(s *releaseServer, tag string) {
			s.set(tag, asset, targz(t, "daedalus-hello", []byte("#!/bin/sh\necho evil\n")))
		}, "but checksums.txt records"},
		{"no checksum for the platform", func(s *releaseServer, tag string) {
			s.set(tag, "checksums.txt", []byte(strings.Repeat("0", 64)+"  daedalus-hello_plan9_386.tar.gz\n"))
		}, "records no checksum for " + asset},
		{"asset listed but missing", func(s *releaseServer, tag string) {
			s.mu.Lock()
			delete(s.assets[tag], asset)
			s.mu.Unlock()
		}, "downloading it answered HTTP 404"},
		{"archive without the binary", func(s *releaseServer, tag string) {
			body := targz(t, "something-else", []byte("x"))
			sum := sha256.Sum256(body)
			s.set(tag, asset, body)
			s.set(tag, "checksums.txt", []byte(hex.EncodeToString(sum[:])+"  "+asset+"\n"))
		}, "does not hold daedalus-hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newReleaseServer(t, repo)
			srv.publish(t, "v1.0.0", strings.Repeat("1", 40), "daedalus-hello")
			tc.breakIt(srv, "v1.0.0")
			cache := t.TempDir()
			path, _ := ghStandIn(t, 0, "Verification succeeded!")
			r := fetch(t, actionRepo(t, t.TempDir()), map[string]string{
				"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": "v1.0.0",
				"DAEDALUS_BIN_CACHE": cache, "GITHUB_SERVER_URL": srv.URL,
				"GITHUB_API_URL": srv.URL + "/api", "PATH": path,
			}, "hello")
			if r.err == nil {
				t.Fatalf("the fetcher ran a bad release:\n%s%s", r.stdout, r.stderr)
			}
			if !strings.HasPrefix(r.stdout, "::error title=Daedalus binary::") || !strings.Contains(r.stdout, tc.want) {
				t.Errorf("stdout %q: want an ::error:: saying %q", r.stdout, tc.want)
			}
			if strings.Contains(r.stdout+r.stderr, "ran with") || strings.Contains(r.stdout+r.stderr, "evil") {
				t.Errorf("the binary ran:\n%s%s", r.stdout, r.stderr)
			}
			if entries, _ := os.ReadDir(cache); len(entries) != 0 {
				t.Errorf("a bad release left %v in the cache", entries)
			}
		})
	}
}

func TestFetcherResolvesRefs(t *testing.T) {
	t.Parallel()
	const repo = "daedalus-dev/daedalus"
	const sha = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name string
		// layout puts the action repository somewhere and returns its root.
		layout func(t *testing.T) string
		env    map[string]string
		want   string // in stdout
		how    string // in stderr
	}{
		{"commit SHA of a release tag builds from source", nil,
			map[string]string{"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": sha},
			"hello from source with: [x]", "built from source"},
		{"repository and ref from the downloaded action's path", func(t *testing.T) string {
			return actionRepo(t, filepath.Join(t.TempDir(), "_work", "_actions", "daedalus-dev", "daedalus", "v2.0.0"))
		}, map[string]string{}, "daedalus-hello ran with:", "release v2.0.0, downloaded"},
		{"branch without a release builds from source", nil,
			map[string]string{"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": "main"},
			"hello from source with: [x]", "built from source"},
		{"SHA that no tag points at builds from source", nil,
			map[string]string{"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": strings.Repeat("f", 40)},
			"hello from source with: [x]", "built from source"},
		{"floating major tag, through the tags API, to the release of its commit", nil,
			map[string]string{"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": "v2", "DAEDALUS_GITHUB_TOKEN": "ghs_test"},
			"daedalus-hello ran with:", "release v2.0.0, downloaded"},
		{"floating minor tag", nil,
			map[string]string{"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": "v2.0"},
			"daedalus-hello ran with:", "release v2.0.0, downloaded"},
		{"floating tag whose commit has no release builds from source", nil,
			map[string]string{"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": "v3"},
			"hello from source with: [x]", "built from source"},
		{"local action (uses: ./actions/x) builds from source", nil,
			map[string]string{}, "hello from source with: [x]", "built from source"},
		{"forced source build despite a release", nil,
			map[string]string{"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": "v2.0.0", "DAEDALUS_BIN_SOURCE": "source"},
			"hello from source with: [x]", "built from source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newReleaseServer(t, repo)
			srv.publish(t, "v2.0.0", sha, "daedalus-hello")
			srv.publish(t, "v1.0.0", "1111111111111111111111111111111111111111", "daedalus-hello")
			// Floating tags have no release of their own; v2 and v2.0 share v2.0.0's
			// commit (so the SHA case must pick v2.0.0), v3 points at an unreleased one.
			// 120 nightly tags sort between v2.0 and v2.0.0, so the floating tags are on
			// the first page of 100 and their release tag is on the second.
			srv.mu.Lock()
			srv.tags["v2"], srv.tags["v2.0"] = sha, sha
			srv.tags["v3"] = "3333333333333333333333333333333333333333"
			for i := range 120 {
				srv.tags[fmt.Sprintf("v2.0-nightly.%03d", i)] = fmt.Sprintf("%040x", 0xa000+i)
			}
			srv.mu.Unlock()
			root := ""
			if tc.layout != nil {
				root = tc.layout(t)
			} else {
				root = actionRepo(t, t.TempDir())
			}
			path, _ := ghStandIn(t, 0, "Verification succeeded!")
			env := map[string]string{
				"DAEDALUS_BIN_CACHE": t.TempDir(), "GITHUB_SERVER_URL": srv.URL,
				"GITHUB_API_URL": srv.URL + "/api", "RUNNER_TEMP": t.TempDir(), "PATH": path,
			}
			for k, v := range tc.env {
				env[k] = v
			}
			r := fetch(t, root, env, "hello", "x")
			if r.err != nil {
				t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.want) || !strings.Contains(r.stderr, tc.how) {
				t.Errorf("stdout %q stderr %q: want %q and %q", r.stdout, r.stderr, tc.want, tc.how)
			}
			if tc.env["DAEDALUS_GITHUB_TOKEN"] != "" {
				srv.mu.Lock()
				auth := strings.Join(srv.auth, ",")
				srv.mu.Unlock()
				if !strings.Contains(auth, "Bearer ghs_test") {
					t.Errorf("the tags API got no token: %q", auth)
				}
				if strings.Contains(r.stdout+r.stderr, "ghs_test") {
					t.Errorf("the token was printed")
				}
			}
		})
	}
}

func TestFetcherErrors(t *testing.T) {
	t.Parallel()
	const repo = "daedalus-dev/daedalus"
	srv := newReleaseServer(t, repo)
	verifyingGh, _ := ghStandIn(t, 0, "Verification succeeded!")
	noGo := t.TempDir() // a PATH with the tools the fetcher needs, but no go
	for _, tool := range []string{"bash", "curl", "tar", "sha256sum", "awk", "uname", "tr", "cut", "date", "mktemp", "dirname", "mkdir", "rm", "mv", "chmod", "gzip"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(noGo, tool)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"release required but none", map[string]string{"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": "main", "DAEDALUS_BIN_SOURCE": "release"}, []string{"./cmd/hello"}, "no release of daedalus-dev/daedalus for ref main"},
		{"bad mode", map[string]string{"DAEDALUS_BIN_SOURCE": "magic"}, []string{"./cmd/hello"}, "want auto, release or source"},
		{"no Go and no release", map[string]string{"PATH": noGo}, []string{"./cmd/hello"}, "no Go toolchain to build ./cmd/hello"},
		{"not a cmd package", nil, []string{"hello"}, "usage: run ./cmd/<step>"},
		{"release server failing", map[string]string{"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": "v9.0.0", "GITHUB_SERVER_URL": "http://127.0.0.1:1", "PATH": verifyingGh}, []string{"./cmd/hello"}, "checksums.txt answered HTTP 000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"DAEDALUS_BIN_CACHE": t.TempDir(), "GITHUB_SERVER_URL": srv.URL, "RUNNER_TEMP": t.TempDir()}
			for k, v := range tc.env {
				env[k] = v
			}
			root := actionRepo(t, t.TempDir())
			cmd := exec.Command(filepath.Join(root, "actions", "_bin", "run"), tc.args...)
			cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("succeeded:\n%s", out)
			}
			if !strings.Contains(string(out), "::error title=Daedalus binary::") || !strings.Contains(string(out), tc.want) {
				t.Errorf("output %q: want an ::error:: saying %q", out, tc.want)
			}
		})
	}
}

func TestFetcherPrebuiltDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "daedalus-hello"), []byte("#!/bin/sh\necho prebuilt \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := fetch(t, actionRepo(t, t.TempDir()), map[string]string{"DAEDALUS_BIN_DIR": dir, "DAEDALUS_BIN_SOURCE": "release"}, "hello", "y")
	if r.err != nil || r.stdout != "prebuilt y\n" {
		t.Fatalf("%v: %q %q", r.err, r.stdout, r.stderr)
	}
}

// TestFetcherSHARefBuildsFromSource: a ref pinned by commit SHA runs what that commit's
// source builds, never a release asset, even when a release tag points at the commit:
// the assets of a release can be replaced by anyone who can edit it, the checked-out
// action is the commit itself. The stand-in fails the test on any asset request.
func TestFetcherSHARefBuildsFromSource(t *testing.T) {
	t.Parallel()
	const repo = "daedalus-dev/daedalus"
	const sha = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name   string
		layout func(t *testing.T) string
		env    map[string]string
		want   string // in stdout (success) or in the ::error:: (failure)
		fails  bool
	}{
		{"SHA from the action's inputs", nil,
			map[string]string{"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": sha}, "hello from source with: [x]", false},
		{"SHA from the downloaded action's path", func(t *testing.T) string {
			return actionRepo(t, filepath.Join(t.TempDir(), "_work", "_actions", "daedalus-dev", "daedalus", sha))
		}, map[string]string{}, "hello from source with: [x]", false},
		{"SHA with release binaries required", nil,
			map[string]string{"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": sha, "DAEDALUS_BIN_SOURCE": "release"},
			"no release of daedalus-dev/daedalus for ref " + sha + " (a commit SHA never uses release assets", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newReleaseServer(t, repo)
			srv.publish(t, "v2.0.0", sha, "daedalus-hello")
			srv.mu.Lock()
			srv.tags["v2"] = sha
			srv.noDownloads = t
			srv.mu.Unlock()
			root := actionRepo(t, t.TempDir())
			if tc.layout != nil {
				root = tc.layout(t)
			}
			path, ghCalls := ghStandIn(t, 0, "Verification succeeded!")
			env := map[string]string{
				"DAEDALUS_BIN_CACHE": t.TempDir(), "GITHUB_SERVER_URL": srv.URL, "GITHUB_API_URL": srv.URL + "/api",
				"DAEDALUS_GITHUB_TOKEN": "ghs_test", "RUNNER_TEMP": t.TempDir(), "PATH": path,
			}
			for k, v := range tc.env {
				env[k] = v
			}
			r := fetch(t, root, env, "hello", "x")
			switch {
			case tc.fails && (r.err == nil || !strings.HasPrefix(r.stdout, "::error title=Daedalus binary::") || !strings.Contains(r.stdout, tc.want)):
				t.Errorf("err %v, stdout %q: want a failure and an ::error:: saying %q", r.err, r.stdout, tc.want)
			case !tc.fails && (r.err != nil || r.stdout != tc.want+"\n" || !strings.Contains(r.stderr, "built from source")):
				t.Errorf("err %v, stdout %q, stderr %q: want %q, built from source", r.err, r.stdout, r.stderr, tc.want)
			}
			if seen := srv.seen(); len(seen) != 0 {
				t.Errorf("a SHA ref made requests %v: it needs none", seen)
			}
			if calls := ghCalls(); len(calls) != 0 {
				t.Errorf("a SHA ref ran gh %q: it verifies nothing, it builds", calls)
			}
		})
	}
}

// TestFetcherRefusesAlteredCache: a cached release binary is re-hashed on every use and
// refused, never run, when it (or the sha256 recorded beside it at download) changed on
// disk since it was verified: here a planted script that would leave a marker file.
func TestFetcherRefusesAlteredCache(t *testing.T) {
	t.Parallel()
	const repo, tag = "daedalus-dev/daedalus", "v1.2.3"
	for _, tc := range []struct {
		name  string
		alter func(t *testing.T, bin, planted string)
	}{
		{"binary replaced", func(t *testing.T, bin, planted string) {
			writeExecutable(t, bin, planted)
		}},
		{"binary replaced and its record rewritten for another binary", func(t *testing.T, bin, planted string) {
			writeExecutable(t, bin, planted)
			if err := os.WriteFile(bin+".sha256", []byte(strings.Repeat("ab", 32)+"  daedalus-hello\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"binary replaced and its record removed", func(t *testing.T, bin, planted string) {
			writeExecutable(t, bin, planted)
			if err := os.Remove(bin + ".sha256"); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}},
		{"binary replaced by a symlink to another program", func(t *testing.T, bin, planted string) {
			other := filepath.Join(t.TempDir(), "other")
			writeExecutable(t, other, planted)
			if err := os.Remove(bin); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(other, bin); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newReleaseServer(t, repo)
			srv.publish(t, tag, strings.Repeat("1", 40), "daedalus-hello")
			cache := t.TempDir()
			path, _ := ghStandIn(t, 0, "Verification succeeded!")
			env := map[string]string{
				"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": tag,
				"DAEDALUS_BIN_CACHE": cache, "GITHUB_SERVER_URL": srv.URL,
				"GITHUB_API_URL": srv.URL + "/api", "PATH": path,
			}
			if r := fetch(t, actionRepo(t, t.TempDir()), env, "hello"); r.err != nil {
				t.Fatalf("first run: %v\n%s%s", r.err, r.stdout, r.stderr)
			}
			bin := cachedFile(t, cache, "daedalus-hello")
			marker := filepath.Join(t.TempDir(), "planted-ran")
			planted := "#!/bin/sh\necho planted\ntouch " + marker + "\n"
			tc.alter(t, bin, planted)
			sum := sha256.Sum256([]byte(planted))
			requests := len(srv.seen())

			r := fetch(t, actionRepo(t, t.TempDir()), env, "hello")
			if r.err == nil {
				t.Errorf("the altered cache entry ran: stdout %q stderr %q", r.stdout, r.stderr)
			}
			if _, err := os.Stat(marker); err == nil || strings.Contains(r.stdout+r.stderr, "planted") {
				t.Errorf("the planted binary ran: stdout %q stderr %q", r.stdout, r.stderr)
			}
			for _, want := range []string{"::error title=Daedalus binary::cached binary " + bin, "sha256 " + hex.EncodeToString(sum[:]), "refusing to run it"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("stdout %q lacks %q", r.stdout, want)
				}
			}
			if record, err := os.ReadFile(bin + ".sha256"); err == nil && !strings.Contains(r.stdout, string(record[:64])+" was recorded") {
				t.Errorf("stdout %q does not name the recorded sha256 %s", r.stdout, record[:64])
			}
			if n := len(srv.seen()); n != requests {
				t.Errorf("the refused run made requests %v: an altered entry is refused, not replaced", srv.seen()[requests:])
			}
		})
	}
}

// TestFetcherCachePerRepository: on a shared tool cache (a self-hosted runner) another
// repository's release of the same tag does not serve this repository's steps.
func TestFetcherCachePerRepository(t *testing.T) {
	t.Parallel()
	const repo, fork, tag = "daedalus-dev/daedalus", "someone/daedalus", "v1.2.3"
	ours := newReleaseServer(t, repo)
	ours.publish(t, tag, strings.Repeat("1", 40), "daedalus-hello")
	theirs := newReleaseServer(t, fork)
	theirs.publishScripts(t, tag, strings.Repeat("2", 40), map[string]string{"daedalus-hello": "#!/bin/sh\necho the fork binary\n"})
	cache := t.TempDir()
	path, _ := ghStandIn(t, 0, "Verification succeeded!")
	run := func(repo string, srv *releaseServer) fetchRun {
		t.Helper()
		r := fetch(t, actionRepo(t, t.TempDir()), map[string]string{
			"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": tag,
			"DAEDALUS_BIN_CACHE": cache, "GITHUB_SERVER_URL": srv.URL,
			"GITHUB_API_URL": srv.URL + "/api", "PATH": path,
		}, "hello")
		if r.err != nil {
			t.Fatalf("%s@%s: %v\n%s%s", repo, tag, r.err, r.stdout, r.stderr)
		}
		return r
	}
	if r := run(fork, theirs); r.stdout != "the fork binary\n" {
		t.Fatalf("%s@%s ran %q", fork, tag, r.stdout)
	}
	for i, how := range []string{"downloaded", "cached"} {
		r := run(repo, ours)
		if r.stdout != "daedalus-hello ran with: \n" || !strings.Contains(r.stderr, how) {
			t.Errorf("run %d of %s@%s after %s@%s: stdout %q stderr %q, want its own release's binary, %s",
				i, repo, tag, fork, tag, r.stdout, r.stderr, how)
		}
	}
	if r := run(fork, theirs); r.stdout != "the fork binary\n" || !strings.Contains(r.stderr, "cached") {
		t.Errorf("%s@%s from the cache: stdout %q stderr %q", fork, tag, r.stdout, r.stderr)
	}
}

// cachedFile is the one file called name under the cache root, wherever the cache's
// layout puts it.
func cachedFile(t *testing.T, cache, name string) string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(cache, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == name && !d.IsDir() {
			found = append(found, path)
		}
		return err
	})
	if err != nil || len(found) != 1 {
		t.Fatalf("want one %s in the cache %s, found %v (%v)", name, cache, found, err)
	}
	return found[0]
}

func writeExecutable(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

// ghStandIn writes an executable gh into a new directory and returns a PATH that finds it
// first, and the argument lists of every call to it. It stands in for `gh attestation
// verify`, whose documented exit status is 0 when an attestation of the file verifies
// against the given identity and 1 when none does: it records its arguments, prints
// message to stderr and exits with exit. The fetcher's decisions are what is under test
// here; the verification itself is gh's.
func ghStandIn(t *testing.T, exit int, message string) (path string, calls func() [][]string) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	script := fmt.Sprintf("#!/bin/sh\nfor a in \"$@\"; do printf '%%s\\n' \"$a\" >>%q; done\necho --- >>%q\necho %q >&2\nexit %d\n", log, log, message, exit)
	writeExecutable(t, filepath.Join(dir, "gh"), script)
	return dir + string(os.PathListSeparator) + pathWithoutGh(t), func() [][]string {
		raw, err := os.ReadFile(log)
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		var out [][]string
		var call []string
		for _, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
			if line == "---" {
				out, call = append(out, call), nil
				continue
			}
			call = append(call, line)
		}
		return out
	}
}

// pathWithoutGh is this process's PATH without the directories that hold a gh.
func pathWithoutGh(t *testing.T) string {
	t.Helper()
	var keep []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, "gh")); err == nil {
			continue
		}
		keep = append(keep, dir)
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

// verifyArgs are the arguments the fetcher must give gh for an asset of repo's release
// whose tag points at commit.
func verifyArgs(asset, repo, commit string) []string {
	return []string{"attestation", "verify", asset, "--repo", repo, "--signer-workflow", repo + "/.github/workflows/release.yml", "--source-digest", commit}
}

// TestFetcherAttestation: a release asset runs only when gh attestation verify proves it
// was built by the repository's release workflow from the commit its tag points at. Where
// that cannot be checked the fetcher builds from source and says why (or fails, when
// release binaries are required); where gh refuses the asset, so does the fetcher.
func TestFetcherAttestation(t *testing.T) {
	t.Parallel()
	const repo = "daedalus-dev/daedalus"
	const commit = "0123456789abcdef0123456789abcdef01234567"
	asset := fmt.Sprintf("daedalus-hello_%s_%s.tar.gz", runtime.GOOS, runtime.GOARCH)
	const refusal = "Error: verifying with issuer \"sigstore.dev\": no attestations matched the signer workflow"
	for _, tc := range []struct {
		name     string
		ref      string
		gh       int // gh's exit status; -1: no gh on PATH
		mode     string
		tagsDown bool // the tags API fails
		fails    bool
		stdout   string // the binary's output, or in the ::error::
		stderr   string // in the log
		gets     bool   // the release's asset is downloaded
		verifies bool   // gh is asked about the asset, for commit
	}{
		{name: "gh verifies the asset", ref: "v2.0.0", gh: 0,
			stdout: "daedalus-hello ran with: x", stderr: "sha256 and attestation verified (commit " + commit + ")", gets: true, verifies: true},
		{name: "floating tag: the commit of its release tag", ref: "v2", gh: 0,
			stdout: "daedalus-hello ran with: x", stderr: "release v2.0.0, downloaded", gets: true, verifies: true},
		{name: "gh refuses the asset", ref: "v2.0.0", gh: 1, fails: true,
			stdout: asset + " of release v2.0.0 failed its attestation check (gh attestation verify exited 1: " + refusal, gets: true, verifies: true},
		{name: "no gh: built from source", ref: "v2.0.0", gh: -1,
			stdout: "hello from source with: [x]", stderr: "the gh CLI is not on PATH, so the attestation of release v2.0.0 cannot be verified: building ./cmd/hello from source instead"},
		{name: "no gh, release binaries required", ref: "v2.0.0", gh: -1, mode: "release", fails: true,
			stdout: "the gh CLI is not on PATH, so the attestation of release v2.0.0 cannot be verified; unset DAEDALUS_BIN_SOURCE"},
		{name: "tag's commit unreadable: built from source", ref: "v2.0.0", gh: 0, tagsDown: true,
			stdout: "hello from source with: [x]", stderr: "the commit of tag v2.0.0 cannot be read from the GitHub tags API"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newReleaseServer(t, repo)
			srv.publish(t, "v2.0.0", commit, "daedalus-hello")
			srv.mu.Lock()
			srv.tags["v2"] = commit
			srv.mu.Unlock()
			path, ghCalls := ghStandIn(t, tc.gh, refusal)
			if tc.gh < 0 {
				path = pathWithoutGh(t)
			}
			api := srv.URL + "/api"
			if tc.tagsDown {
				api = srv.URL + "/no-api"
			}
			cache := t.TempDir()
			env := map[string]string{
				"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": tc.ref, "DAEDALUS_BIN_CACHE": cache,
				"GITHUB_SERVER_URL": srv.URL, "GITHUB_API_URL": api, "RUNNER_TEMP": t.TempDir(), "PATH": path,
				"DAEDALUS_GITHUB_TOKEN": "ghs_test",
			}
			if tc.mode != "" {
				env["DAEDALUS_BIN_SOURCE"] = tc.mode
			}
			r := fetch(t, actionRepo(t, t.TempDir()), env, "hello", "x")
			if tc.fails {
				if r.err == nil || !strings.HasPrefix(r.stdout, "::error title=Daedalus binary::") || !strings.Contains(r.stdout, tc.stdout) {
					t.Errorf("err %v, stdout %q: want a failure and an ::error:: saying %q", r.err, r.stdout, tc.stdout)
				}
				if strings.Contains(r.stdout+r.stderr, "ran with") {
					t.Errorf("the refused binary ran: %q %q", r.stdout, r.stderr)
				}
				if entries, _ := os.ReadDir(cache); len(entries) != 0 {
					t.Errorf("a refused asset left %v in the cache", entries)
				}
			} else if r.err != nil || r.stdout != tc.stdout+"\n" || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("err %v, stdout %q, stderr %q: want %q and %q", r.err, r.stdout, r.stderr, tc.stdout, tc.stderr)
			}
			got := slices.ContainsFunc(srv.seen(), func(p string) bool { return strings.HasSuffix(p, "/"+asset) })
			if got != tc.gets {
				t.Errorf("asset downloaded: %v, want %v (requests %v)", got, tc.gets, srv.seen())
			}
			calls := ghCalls()
			if !tc.verifies {
				if tc.gh >= 0 && len(calls) != 0 {
					t.Errorf("gh ran %q: nothing was there to verify", calls)
				}
				return
			}
			if len(calls) != 1 {
				t.Fatalf("gh ran %d times, want once: %q", len(calls), calls)
			}
			calls[0][2] = filepath.Base(calls[0][2])
			if want := verifyArgs(asset, repo, commit); !slices.Equal(calls[0], want) {
				t.Errorf("gh %q, want gh %q", calls[0], want)
			}
			if strings.Contains(strings.Join(calls[0], " "), "ghs_test") {
				t.Error("the token reached gh's arguments")
			}
		})
	}
}

// TestFetcherReverifiesOldCacheEntry: a cache entry whose record names no attested commit
// (written before attestations were checked) is not run as it is: the asset is downloaded
// and verified again, and the new entry records the commit.
func TestFetcherReverifiesOldCacheEntry(t *testing.T) {
	t.Parallel()
	const repo, tag = "daedalus-dev/daedalus", "v1.2.3"
	const commit = "0123456789abcdef0123456789abcdef01234567"
	srv := newReleaseServer(t, repo)
	srv.publish(t, tag, commit, "daedalus-hello")
	cache := t.TempDir()
	path, ghCalls := ghStandIn(t, 0, "Verification succeeded!")
	env := map[string]string{
		"DAEDALUS_ACTION_REPOSITORY": repo, "DAEDALUS_ACTION_REF": tag, "DAEDALUS_BIN_CACHE": cache,
		"GITHUB_SERVER_URL": srv.URL, "GITHUB_API_URL": srv.URL + "/api", "PATH": path,
	}
	// The entry as the fetcher wrote it before: the binary and its sha256, no commit.
	dir := filepath.Join(cache, repo, tag, runtime.GOOS+"_"+runtime.GOARCH)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := "#!/bin/sh\necho unattested\n"
	writeExecutable(t, filepath.Join(dir, "daedalus-hello"), old)
	sum := sha256.Sum256([]byte(old))
	if err := os.WriteFile(filepath.Join(dir, "daedalus-hello.sha256"), []byte(hex.EncodeToString(sum[:])+"  daedalus-hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := fetch(t, actionRepo(t, t.TempDir()), env, "hello")
	if r.err != nil || r.stdout != "daedalus-hello ran with: \n" || !strings.Contains(r.stderr, "attestation verified (commit "+commit+")") {
		t.Fatalf("err %v, stdout %q, stderr %q: want the release's binary, downloaded and verified again", r.err, r.stdout, r.stderr)
	}
	if n := len(ghCalls()); n != 1 {
		t.Errorf("gh ran %d times, want once", n)
	}
	record, _ := os.ReadFile(filepath.Join(dir, "daedalus-hello.sha256"))
	if !strings.Contains(string(record), commit+"  commit\n") {
		t.Errorf("the new record %q does not name the attested commit", record)
	}
}
