package workflows

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// TestReleaseSnapshot builds a snapshot release of every cmd/<step> of the commit (HEAD)
// for this platform with scripts/release, checks the assets and checksums.txt, builds it again to prove
// the assets are reproducible, and then serves it as a release to the fetcher, which
// must download, verify and run the real step binary.
func TestReleaseSnapshot(t *testing.T) {
	engine.Heavy(t)
	t.Parallel()
	root := engine.RepoRoot(t)
	platform := runtime.GOOS + "/" + runtime.GOARCH
	// One commit for both builds, even if HEAD moves meanwhile.
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	commit := strings.TrimSpace(string(head))
	steps := cmdNames(t, root, commit)

	build := func(out string) time.Duration {
		t.Helper()
		start := time.Now()
		cmd := exec.Command("nice", "-n", "10", filepath.Join(root, "scripts", "release"), "--snapshot", "--ref", commit, "--out", out, "--platforms", platform)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scripts/release: %v\n%s", err, b)
		}
		return time.Since(start)
	}
	out := t.TempDir()
	took := build(out)

	sums := readChecksums(t, filepath.Join(out, "checksums.txt"))
	var want []string
	for _, n := range steps {
		want = append(want, fmt.Sprintf("daedalus-%s_%s_%s.tar.gz", n, runtime.GOOS, runtime.GOARCH))
	}
	var got []string
	for a := range sums {
		got = append(got, a)
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("checksums.txt lists %v, want %v (one asset per cmd/<step>)", got, want)
	}
	epoch := commitTime(t, root, commit)
	var total int64
	for i, asset := range want {
		body, err := os.ReadFile(filepath.Join(out, asset))
		if err != nil {
			t.Fatal(err)
		}
		total += int64(len(body))
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != sums[asset] {
			t.Errorf("%s: sha256 differs from checksums.txt", asset)
		}
		hdrs := tarHeaders(t, body)
		var entries []string
		for _, h := range hdrs {
			entries = append(entries, fmt.Sprintf("%s mode %o uid %d time %s", h.Name, h.Mode, h.Uid, h.ModTime.UTC().Format(time.RFC3339)))
		}
		if len(hdrs) != 1 || hdrs[0].Name != "daedalus-"+steps[i] || hdrs[0].Mode&0o111 == 0 ||
			hdrs[0].Uid != 0 || !hdrs[0].ModTime.Equal(epoch) {
			t.Errorf("%s holds %v: want exactly one executable daedalus-%s, uid 0, time %s (the commit's)",
				asset, entries, steps[i], epoch.UTC().Format(time.RFC3339))
		}
	}
	t.Logf("snapshot of %d binaries for %s in %s, %.1f MB of archives", len(steps), platform, took.Round(time.Second), float64(total)/1e6)

	// The same commit builds the same bytes.
	out2 := t.TempDir()
	took2 := build(out2)
	sums2 := readChecksums(t, filepath.Join(out2, "checksums.txt"))
	for _, asset := range want {
		if sums2[asset] != sums[asset] {
			t.Errorf("%s differs between two builds of the same commit: %s, then %s", asset, sums[asset], sums2[asset])
		}
	}
	t.Logf("second build (warm cache) in %s", took2.Round(time.Second))

	// Serve it as release v0.0.0-test and let the fetcher run the real infra binary:
	// with no inputs it must refuse, naming the input.
	// The tags API says the tag points at the commit built; gh stands in for the
	// attestation check, which needs GitHub (TestFetcherAttestation covers its decisions).
	mux := http.NewServeMux()
	mux.Handle("/daedalus-dev/daedalus/releases/download/v0.0.0-test/", http.StripPrefix("/daedalus-dev/daedalus/releases/download/v0.0.0-test/", http.FileServer(http.Dir(out))))
	mux.HandleFunc("/api/repos/daedalus-dev/daedalus/tags", func(w http.ResponseWriter, r *http.Request) {
		serveTags(w, r, map[string]string{"v0.0.0-test": commit})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cache := t.TempDir()
	path, ghCalls := ghStandIn(t, 0, "Verification succeeded!")
	env := map[string]string{
		"DAEDALUS_ACTION_REPOSITORY": "daedalus-dev/daedalus", "DAEDALUS_ACTION_REF": "v0.0.0-test",
		"DAEDALUS_BIN_CACHE": cache, "GITHUB_SERVER_URL": srv.URL, "GITHUB_API_URL": srv.URL + "/api",
		"DAEDALUS_BIN_SOURCE": "release", "PATH": path,
	}
	for i, how := range []string{"downloaded daedalus-infra_", "cached"} {
		r := fetch(t, root, env, "infra")
		if r.err == nil || !strings.Contains(r.stdout, "::error title=Input command::") {
			t.Fatalf("run %d: the released infra binary did not refuse empty inputs (err %v):\n%s%s", i, r.err, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, how) {
			t.Errorf("run %d: stderr %q lacks %q", i, r.stderr, how)
		}
		t.Logf("fetcher start-up for the released daedalus-infra (%s): %d ms", how, r.readyMS)
	}
	if calls := ghCalls(); len(calls) != 1 || calls[0][len(calls[0])-1] != commit {
		t.Errorf("gh calls %q: want one attestation check for commit %s", calls, commit)
	}
}

// TestReleaseNeedsTag: a real release is only made from a release tag (vX.Y.Z); an
// untagged commit and one with only a floating tag (v1) are refused before any build.
func TestReleaseNeedsTag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gitIn(t, dir, "init", "-q")
	writeFiles(t, dir, scriptCopies(t))
	gitIn(t, dir, "add", ".")
	gitIn(t, dir, "commit", "-q", "-m", "scripts")
	refuse := func(what string) {
		t.Helper()
		cmd := exec.Command(filepath.Join(dir, "scripts", "release"), "--out", t.TempDir())
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), gitEnv...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "HEAD is not a release tag (vX.Y.Z); tag it, or use --snapshot") {
			t.Errorf("scripts/release on %s: %v\n%s", what, err, out)
		}
	}
	refuse("an untagged commit")
	gitIn(t, dir, "tag", "v1")
	refuse("a commit with only the floating tag v1")
}

// cmdNames lists the cmd/<name> packages of a commit, which is what scripts/release
// builds.
func cmdNames(t *testing.T, root, commit string) []string {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-tree", "-r", "--name-only", commit, "cmd/").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range strings.Fields(string(out)) {
		parts := strings.Split(f, "/")
		if len(parts) == 3 && parts[2] == "main.go" {
			names = append(names, parts[1])
		}
	}
	if len(names) == 0 {
		t.Fatal("no cmd/*/main.go at HEAD")
	}
	sort.Strings(names)
	return names
}

func readChecksums(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("checksums.txt line %q is not `<sha256>  <file>`", line)
		}
		out[name] = sum
	}
	return out
}

func commitTime(t *testing.T, root, commit string) time.Time {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "log", "-1", "--format=%ct", commit).Output()
	if err != nil {
		t.Fatal(err)
	}
	sec, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Unix(sec, 0)
}

func tarHeaders(t *testing.T, body []byte) []*tar.Header {
	t.Helper()
	gz, err := gzip.NewReader(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var hdrs []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return hdrs
		}
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, h)
	}
}
