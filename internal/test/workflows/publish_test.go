package workflows

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// These tests run scripts/publish-release (what .github/workflows/release.yml runs after
// scripts/release) with the real gh (`make gh`) against fakeGitHub, in throwaway git
// repositories laid out like the workflow's checkout.

const (
	publishRepo  = "daedalus-dev/daedalus"
	publishToken = "ghs_publishtoken"
)

// gitEnv keeps the machine's git configuration (signing, hooks, identity) out of the
// throwaway repositories.
var gitEnv = []string{"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
	"GIT_AUTHOR_NAME=Release Test", "GIT_AUTHOR_EMAIL=release@example.com",
	"GIT_COMMITTER_NAME=Release Test", "GIT_COMMITTER_EMAIL=release@example.com"}

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), gitEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// writeFiles writes name → content under dir (executable when the content starts with #!).
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(body, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// scriptCopies are this repository's release scripts, to be copied into a throwaway
// repository (each finds its repository from its own path).
func scriptCopies(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range []string{"scripts/release", "scripts/publish-release"} {
		raw, err := os.ReadFile(filepath.Join(engine.RepoRoot(t), filepath.FromSlash(s)))
		if err != nil {
			t.Fatal(err)
		}
		out[s] = string(raw)
	}
	return out
}

type publishRun struct {
	stdout, stderr string
	err            error
	output         string // what the script wrote to GITHUB_OUTPUT
	summary        string // GITHUB_STEP_SUMMARY
}

// publish runs <dir>/scripts/publish-release in dir with the variables the runner sets,
// and gh (the pinned build) pointed at gh: GH_HOST=github.localhost makes gh speak plain
// HTTP to api.github.localhost, and HTTP_PROXY hands those requests to the stand-in. With
// gh nil, any request the script made would fail.
func publish(t *testing.T, dir string, gh *fakeGitHub, args ...string) publishRun {
	t.Helper()
	return publishEnv(t, dir, gh, nil, args...)
}

// publishEnv is publish with env added last (overriding).
func publishEnv(t *testing.T, dir string, gh *fakeGitHub, env []string, args ...string) publishRun {
	t.Helper()
	tmp := t.TempDir()
	outFile, summary := filepath.Join(tmp, "output"), filepath.Join(tmp, "summary")
	cmd := exec.Command(filepath.Join(dir, "scripts", "publish-release"), args...)
	cmd.Dir = dir
	path, proxy := os.Getenv("PATH"), "http://127.0.0.1:1"
	if gh != nil {
		path = filepath.Dir(engine.Path(t, "DAEDALUS_GH", "gh", "release-test")) + string(os.PathListSeparator) + path
		proxy = gh.URL
	}
	cmd.Env = append([]string{"PATH=" + path, "HOME=" + tmp, "GH_CONFIG_DIR=" + filepath.Join(tmp, "gh"),
		"GH_HOST=" + ghLocalHost, "HTTP_PROXY=" + proxy,
		"GITHUB_REPOSITORY=" + publishRepo, "GITHUB_TOKEN=" + publishToken,
		"GITHUB_OUTPUT=" + outFile, "GITHUB_STEP_SUMMARY=" + summary}, gitEnv...)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r := publishRun{err: cmd.Run(), stdout: stdout.String(), stderr: stderr.String()}
	o, _ := os.ReadFile(outFile)
	s, _ := os.ReadFile(summary)
	r.output, r.summary = string(o), string(s)
	if strings.Contains(r.stdout+r.stderr+r.summary, publishToken) {
		t.Errorf("the token reached the log or the summary")
	}
	return r
}

// distFiles reads every file of a dist directory.
func distFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		if e.IsDir() {
			t.Fatalf("%s holds directory %s", dir, e.Name())
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// fakeDist writes release assets the way scripts/release lays them out (archives holding
// daedalus-<name>, checksums.txt over them) without compiling anything.
func fakeDist(t *testing.T, version string, names ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "dist")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	scripts := map[string]string{}
	for _, n := range names {
		scripts["daedalus-"+n] = fmt.Sprintf("#!/bin/sh\necho \"%s %s ran with: $*\"\n", n, version)
	}
	for name, body := range releaseAssets(t, scripts) {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// checkAssets fails unless the release holds exactly the dist files (plus extra names),
// byte for byte, and no archive was uploaded while the published release had a
// checksums.txt (the fetcher would have taken it for whole).
func checkAssets(t *testing.T, rel *fakeRelease, dist string, extra ...string) {
	t.Helper()
	if rel == nil {
		t.Fatal("no release")
	}
	want := distFiles(t, dist)
	var got, wantNames []string
	for _, a := range rel.Assets {
		got = append(got, a.Name)
		if w, ok := want[a.Name]; ok && !bytes.Equal(w, a.Body) {
			t.Errorf("asset %s differs from %s", a.Name, filepath.Join(dist, a.Name))
		}
	}
	for n := range want {
		wantNames = append(wantNames, n)
	}
	wantNames = append(wantNames, extra...)
	sort.Strings(got)
	sort.Strings(wantNames)
	if strings.Join(got, " ") != strings.Join(wantNames, " ") {
		t.Errorf("release %s has assets %v, want %v", rel.Tag, got, wantNames)
	}
	for _, a := range rel.Assets {
		if a.Exposed && a.Name != "checksums.txt" {
			t.Errorf("%s was uploaded while the published release had a checksums.txt", a.Name)
		}
	}
}

// TestReleaseTagCheck: the workflow's first job accepts release tags (as the tag or as
// GITHUB_REF), tells prereleases apart, and refuses everything else with an ::error::
// naming the tag and the fix, before any request; so does publishing. It needs no gh:
// with none on PATH, any call the script made would fail with another message.
func TestReleaseTagCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, scriptCopies(t))
	for _, tc := range []struct {
		ref, tag, prerelease string
	}{
		{"v1.2.3", "v1.2.3", "false"},
		{"refs/tags/v1.2.3", "v1.2.3", "false"},
		{"v0.10.0", "v0.10.0", "false"},
		{"refs/tags/v1.3.0-rc.1", "v1.3.0-rc.1", "true"},
		{"v2.0.0-beta-2.x", "v2.0.0-beta-2.x", "true"},
	} {
		t.Run("accepts "+tc.ref, func(t *testing.T) {
			t.Parallel()
			r := publish(t, dir, nil, "--check", tc.ref)
			if r.err != nil {
				t.Fatalf("%v\n%s%s", r.err, r.stdout, r.stderr)
			}
			if want := fmt.Sprintf("tag=%s\nprerelease=%s\n", tc.tag, tc.prerelease); r.output != want {
				t.Errorf("GITHUB_OUTPUT %q, want %q", r.output, want)
			}
		})
	}
	for _, tc := range []struct{ ref, want string }{
		{"1.2.3", "tag '1.2.3' is not a release tag"},
		{"v1.2", "tag 'v1.2' is not a release tag"},
		{"v1", "tag 'v1' is not a release tag"},
		{"v1.2.3.4", "tag 'v1.2.3.4' is not a release tag"},
		{"v1.2.3-", "tag 'v1.2.3-' is not a release tag"},
		{"v1.2.3+build.5", "tag 'v1.2.3+build.5' is not a release tag"},
		{"refs/tags/version-2", "tag 'version-2' is not a release tag"},
		{"refs/heads/main", "ran for refs/heads/main, not a tag"},
		{"", "no tag given"},
	} {
		for _, mode := range [][]string{{"--check"}, {"--move-major"}} {
			t.Run(fmt.Sprintf("refuses %q %s", tc.ref, mode[0]), func(t *testing.T) {
				t.Parallel()
				args := mode
				if tc.ref != "" {
					args = append(append([]string(nil), mode...), tc.ref)
				}
				r := publish(t, dir, nil, args...)
				if r.err == nil {
					t.Fatalf("accepted:\n%s%s", r.stdout, r.stderr)
				}
				if !strings.HasPrefix(r.stdout, "::error title=Release tag::") || !strings.Contains(r.stdout, tc.want) {
					t.Errorf("stdout %q: want an ::error:: saying %q", r.stdout, tc.want)
				}
				if strings.Contains(tc.want, "not a release tag") && !strings.Contains(r.stdout, "e.g. v1.2.3, v1.3.0-rc.1") {
					t.Errorf("the error does not say which tags are accepted: %q", r.stdout)
				}
				if r.output != "" {
					t.Errorf("a refused tag wrote outputs %q", r.output)
				}
			})
		}
	}
}

// versionsRepo is a repository whose tags are v1.0.0, v1.3.0, a backport v1.2.4 (made
// after v1.3.0), a prerelease v1.4.0-rc.1 and v2.0.0 (the newest), one commit each, with
// the release scripts at every commit. It returns the directory and tag → commit.
func versionsRepo(t *testing.T) (string, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	gitIn(t, dir, "init", "-q", "-b", "main")
	writeFiles(t, dir, scriptCopies(t))
	commits := map[string]string{}
	for i, tag := range []string{"v1.0.0", "v1.3.0", "v1.2.4", "v1.4.0-rc.1", "v2.0.0"} {
		writeFiles(t, dir, map[string]string{"VERSION": tag + "\n"})
		gitIn(t, dir, "add", "-A")
		gitIn(t, dir, "commit", "-q", "-m", fmt.Sprintf("change %d", i))
		if i%2 == 0 {
			gitIn(t, dir, "tag", "-a", "-m", "release "+tag, tag)
		} else {
			gitIn(t, dir, "tag", tag)
		}
		commits[tag] = gitIn(t, dir, "rev-parse", "HEAD")
	}
	return dir, commits
}

// pushTags gives the fake GitHub the repository's tags, annotated ones as tag objects,
// plus the floating tag v1 at v1.0.0.
func pushTags(t *testing.T, gh *fakeGitHub, dir string, commits map[string]string) {
	t.Helper()
	gh.mu.Lock()
	defer gh.mu.Unlock()
	for tag, commit := range commits {
		obj := gitIn(t, dir, "rev-parse", "refs/tags/"+tag)
		gh.refs[tag] = obj
		if obj != commit {
			gh.tagObjects[obj] = commit
		}
	}
	gh.refs["v1"] = commits["v1.0.0"]
}

// TestPublishReleaseVersions: which release becomes latest, which is a prerelease, and
// where the floating major tag goes.
func TestPublishReleaseVersions(t *testing.T) {
	t.Parallel()
	dir, commits := versionsRepo(t)
	for _, tc := range []struct {
		name, tag       string
		prerelease      bool
		latest          string
		v1, v2          string // the floating tags afterwards ("" for none)
		refStatus       int
		wantInStdout    string
		wantRefRequests bool
	}{
		{"newest release creates v2", "v2.0.0", false, "true", commits["v1.0.0"], commits["v2.0.0"], 0, "v2 moved", true},
		{"newest of v1 moves v1, not latest", "v1.3.0", false, "false", commits["v1.3.0"], "", 0, "v1 moved", true},
		{"backport moves nothing", "v1.2.4", false, "false", commits["v1.0.0"], "", 0, "latest false)", false},
		{"prerelease moves nothing", "v1.4.0-rc.1", true, "false", commits["v1.0.0"], "", 0, "prerelease true", false},
		{"floating tag refused: a warning, the release stands", "v2.0.0", false, "true", commits["v1.0.0"], "", 403,
			"::warning title=Floating tag::could not move v2 to v2.0.0 (gh: Resource not accessible by integration (HTTP 403)); move it by hand: git tag -f v2 v2.0.0 && git push -f origin v2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, publishRepo, publishToken)
			pushTags(t, gh, dir, commits)
			gh.refStatus = tc.refStatus
			dist := fakeDist(t, tc.tag, "alpha", "beta")
			r := publish(t, dir, gh, "--dir", dist, "--move-major", tc.tag)
			if r.err != nil {
				t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.wantInStdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantInStdout, r.stdout)
			}
			rel := gh.releaseOf(tc.tag)
			checkAssets(t, rel, dist)
			if rel.Name != tc.tag || rel.Prerelease != tc.prerelease || rel.MakeLatest != tc.latest || !rel.GenerateNotes || rel.Draft {
				t.Errorf("release %+v: want name %s, prerelease %v, make_latest %s, generated notes, published", *rel, tc.tag, tc.prerelease, tc.latest)
			}
			if got := gh.ref("v1"); got != tc.v1 {
				t.Errorf("v1 at %s, want %s", got, tc.v1)
			}
			if got := gh.ref("v2"); got != tc.v2 {
				t.Errorf("v2 at %q, want %q", got, tc.v2)
			}
			refRequests := false
			for _, req := range gh.requests() {
				refRequests = refRequests || strings.HasSuffix(req, "/tags/v1") || strings.HasSuffix(req, "/tags/v2") || strings.HasSuffix(req, "/git/refs")
			}
			if refRequests != tc.wantRefRequests {
				t.Errorf("floating tag requests: %v, want %v: %v", refRequests, tc.wantRefRequests, gh.requests())
			}
			if !strings.Contains(r.summary, "### Release [") || !strings.Contains(r.summary, "daedalus-alpha_") {
				t.Errorf("step summary %q lacks the release and its checksums", r.summary)
			}
		})
	}
}

// TestPublishReleaseRefuses: assets that do not match their checksums, and a tag that
// GitHub does not have where this checkout has it, stop the run before anything changes.
func TestPublishReleaseRefuses(t *testing.T) {
	t.Parallel()
	dir, commits := versionsRepo(t)
	for _, tc := range []struct {
		name    string
		tag     string
		prepare func(t *testing.T, gh *fakeGitHub, dist string)
		env     []string
		want    string
	}{
		{"tampered archive", "v1.3.0", func(t *testing.T, _ *fakeGitHub, dist string) {
			p := filepath.Join(dist, fmt.Sprintf("daedalus-alpha_%s_%s.tar.gz", runtime.GOOS, runtime.GOARCH))
			if err := os.WriteFile(p, targz(t, "daedalus-alpha", []byte("#!/bin/sh\necho evil\n")), 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, "checksums.txt does not match the archives (sha256sum -c failed)"},
		{"archive that checksums.txt does not list", "v1.3.0", func(t *testing.T, _ *fakeGitHub, dist string) {
			if err := os.WriteFile(filepath.Join(dist, "daedalus-gamma_plan9_386.tar.gz"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, nil, "but " + "%DIST% holds [daedalus-alpha_"},
		{"listed archive missing", "v1.3.0", func(t *testing.T, _ *fakeGitHub, dist string) {
			if err := os.Remove(filepath.Join(dist, fmt.Sprintf("daedalus-beta_%s_%s.tar.gz", runtime.GOOS, runtime.GOARCH))); err != nil {
				t.Fatal(err)
			}
		}, nil, "checksums.txt lists [daedalus-alpha_"},
		{"no checksums.txt", "v1.3.0", func(t *testing.T, _ *fakeGitHub, dist string) {
			if err := os.Remove(filepath.Join(dist, "checksums.txt")); err != nil {
				t.Fatal(err)
			}
		}, nil, "checksums.txt does not exist: build the assets first"},
		{"tag not pushed", "v1.3.0", func(t *testing.T, gh *fakeGitHub, _ string) {
			gh.mu.Lock()
			delete(gh.refs, "v1.3.0")
			gh.mu.Unlock()
		}, nil, "tag v1.3.0 does not exist on GitHub (daedalus-dev/daedalus): push it first"},
		{"tag elsewhere on GitHub", "v1.3.0", func(t *testing.T, gh *fakeGitHub, _ string) {
			gh.mu.Lock()
			gh.refs["v1.3.0"] = commits["v1.0.0"]
			gh.mu.Unlock()
		}, nil, fmt.Sprintf("tag v1.3.0 is at %s on GitHub but at %s in this checkout", commits["v1.0.0"], commits["v1.3.0"])},
		{"annotated tag elsewhere on GitHub", "v1.2.4", func(t *testing.T, gh *fakeGitHub, _ string) {
			gh.mu.Lock()
			for obj, c := range gh.tagObjects {
				if c == commits["v1.2.4"] {
					gh.tagObjects[obj] = commits["v1.3.0"]
				}
			}
			gh.mu.Unlock()
		}, nil, fmt.Sprintf("tag v1.2.4 is at %s on GitHub but at %s", commits["v1.3.0"], commits["v1.2.4"])},
		{"tag not in the checkout", "v1.9.0", func(t *testing.T, gh *fakeGitHub, _ string) {
			gh.mu.Lock()
			gh.refs["v1.9.0"] = commits["v1.3.0"]
			gh.mu.Unlock()
		}, nil, "tag v1.9.0 is not in this checkout: check it out with its tags (actions/checkout with fetch-depth: 0)"},
		{"no token", "v1.3.0", nil, []string{"GITHUB_TOKEN=", "GH_TOKEN="}, "no token: set GITHUB_TOKEN (or GH_TOKEN)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, publishRepo, publishToken)
			pushTags(t, gh, dir, commits)
			dist := fakeDist(t, tc.tag, "alpha", "beta")
			if tc.prepare != nil {
				tc.prepare(t, gh, dist)
			}
			r := publishEnv(t, dir, gh, tc.env, "--dir", dist, "--move-major", tc.tag)
			want := strings.ReplaceAll(tc.want, "%DIST%", dist)
			if r.err == nil {
				t.Fatalf("published:\n%s%s", r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, "::error title=Release") || !strings.Contains(r.stdout, want) {
				t.Errorf("stdout %q: want an ::error:: saying %q", r.stdout, want)
			}
			if w := gh.writes(); len(w) != 0 {
				t.Errorf("a refused release changed GitHub: %v", w)
			}
		})
	}
}

// TestPublishReleaseCompletesPartialRun: a run that died half-way is completed by the
// next one: a published release with one archive of other bytes and no checksums.txt, or
// a draft that was never published (the run killed during `gh release create`). An
// asset this build did not produce stays, with a warning.
func TestPublishReleaseCompletesPartialRun(t *testing.T) {
	t.Parallel()
	dir, commits := versionsRepo(t)
	alpha := fmt.Sprintf("daedalus-alpha_%s_%s.tar.gz", runtime.GOOS, runtime.GOARCH)
	for _, draft := range []bool{false, true} {
		t.Run(fmt.Sprintf("draft %v", draft), func(t *testing.T) {
			t.Parallel()
			gh := newFakeGitHub(t, publishRepo, publishToken)
			pushTags(t, gh, dir, commits)
			dist := fakeDist(t, "v1.3.0", "alpha", "beta")
			gh.mu.Lock()
			gh.releases = append(gh.releases, &fakeRelease{ID: 7, Tag: "v1.3.0", Name: "v1.3.0 (edited)", Draft: draft, MakeLatest: "true", Assets: []*fakeAsset{
				{ID: 8, Name: alpha, Body: []byte("half an archive")},
				{ID: 9, Name: "NOTES.md", Body: []byte("added by hand")},
			}})
			gh.mu.Unlock()

			r := publish(t, dir, gh, "--dir", dist, "--move-major", "v1.3.0")
			if r.err != nil {
				t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
			}
			rel := gh.releaseOf("v1.3.0")
			checkAssets(t, rel, dist, "NOTES.md")
			if rel.Name != "v1.3.0 (edited)" || rel.Draft {
				t.Errorf("release %+v: want it published, keeping its name and notes", *rel)
			}
			if draft && rel.MakeLatest != "false" {
				t.Errorf("the published draft has make_latest %q, want false (v2.0.0 is newer)", rel.MakeLatest)
			}
			if !strings.Contains(r.stdout, "::warning title=Release assets::release v1.3.0 also has NOTES.md") {
				t.Errorf("no warning about the asset this build did not produce:\n%s", r.stdout)
			}
			for _, w := range gh.writes() {
				if w == "POST /repos/"+publishRepo+"/releases" {
					t.Errorf("a second release was created: %v", gh.writes())
				}
			}
			if got := gh.ref("v1"); got != commits["v1.3.0"] {
				t.Errorf("v1 at %s, want v1.3.0's commit %s", got, commits["v1.3.0"])
			}
		})
	}
}

// TestPublishReleaseImmutable: with immutable releases on (the repository setting the
// docs recommend), a release is created as a draft, gets every asset, and only then is
// published; a re-run cannot replace the published assets and says so, changing nothing.
func TestPublishReleaseImmutable(t *testing.T) {
	t.Parallel()
	dir, commits := versionsRepo(t)
	gh := newFakeGitHub(t, publishRepo, publishToken)
	gh.immutable = true
	pushTags(t, gh, dir, commits)
	dist := fakeDist(t, "v1.3.0", "alpha", "beta")

	r := publish(t, dir, gh, "--dir", dist, "v1.3.0")
	if r.err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
	}
	rel := gh.releaseOf("v1.3.0")
	checkAssets(t, rel, dist)
	if rel.Draft || rel.MakeLatest != "false" {
		t.Errorf("release %+v: want published, make_latest false (v1.3.0 is not the newest)", *rel)
	}
	for _, a := range rel.Assets {
		if !a.Draft {
			t.Errorf("%s was uploaded after the release was published", a.Name)
		}
	}
	writes := gh.writes()
	if first := writes[0]; first != "POST /repos/"+publishRepo+"/releases" {
		t.Errorf("the first write is %s, want the release created: %v", first, writes)
	}
	if last := writes[len(writes)-1]; last != fmt.Sprintf("PATCH /repos/%s/releases/%d", publishRepo, rel.ID) {
		t.Errorf("the last write is %s, want the draft published after every upload: %v", last, writes)
	}

	before := distFiles(t, dist)
	again := publish(t, dir, gh, "--dir", dist, "v1.3.0")
	if again.err == nil || !strings.Contains(again.stdout, "::error title=Release assets::") || !strings.Contains(again.stdout, "Cannot modify an immutable release") {
		t.Errorf("a re-run on the immutable release: err %v, stdout:\n%s\nstderr:\n%s", again.err, again.stdout, again.stderr)
	}
	rel = gh.releaseOf("v1.3.0")
	checkAssets(t, rel, dist)
	if rel.Draft {
		t.Error("the re-run turned the release back into a draft")
	}
	if len(distFiles(t, dist)) != len(before) {
		t.Error("the re-run changed the dist directory")
	}
}

// TestPublishReleaseFailedUpload: when GitHub refuses an upload, gh deletes the draft it
// created, so nothing half-made stays and the next run starts afresh.
func TestPublishReleaseFailedUpload(t *testing.T) {
	t.Parallel()
	dir, commits := versionsRepo(t)
	gh := newFakeGitHub(t, publishRepo, publishToken)
	pushTags(t, gh, dir, commits)
	gh.refuse = "checksums.txt"
	dist := fakeDist(t, "v1.3.0", "alpha", "beta")

	r := publish(t, dir, gh, "--dir", dist, "--move-major", "v1.3.0")
	if r.err == nil || !strings.Contains(r.stdout, "::error title=Release::creating release v1.3.0: HTTP 422: Validation Failed") {
		t.Errorf("a refused upload: err %v, stdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
	}
	if rel := gh.releaseOf("v1.3.0"); rel != nil {
		t.Errorf("release %+v stayed after the failed upload", *rel)
	}
	if got := gh.ref("v1"); got != commits["v1.0.0"] {
		t.Errorf("v1 moved to %s for a release that failed", got)
	}

	gh.mu.Lock()
	gh.refuse = ""
	gh.mu.Unlock()
	if r := publish(t, dir, gh, "--dir", dist, "--move-major", "v1.3.0"); r.err != nil {
		t.Fatalf("the next run: %v\nstdout:\n%s\nstderr:\n%s", r.err, r.stdout, r.stderr)
	}
	checkAssets(t, gh.releaseOf("v1.3.0"), dist)
}

// TestPublishRelease is the release workflow's publishing end to end in a throwaway
// repository with two commands: scripts/release builds the tagged commit for two
// platforms, scripts/publish-release publishes exactly those files; the downloaded
// assets pass `sha256sum -c`; a second run (a re-run of the workflow) succeeds and
// replaces them; and actions/_bin/run, given the release tag or the floating v1, runs
// the released binary.
func TestPublishRelease(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gitIn(t, dir, "init", "-q", "-b", "main")
	files := scriptCopies(t)
	files["go.mod"] = "module example.com/released\n\ngo 1.26\n"
	files["cmd/hello/main.go"] = "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() { fmt.Println(\"released hello ran with:\", os.Args[1:]) }\n"
	files["cmd/other/main.go"] = "package main\n\nfunc main() {}\n"
	writeFiles(t, dir, files)
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-q", "-m", "first")
	gitIn(t, dir, "tag", "v1.0.0")
	gitIn(t, dir, "commit", "-q", "--allow-empty", "-m", "second")
	gitIn(t, dir, "tag", "-a", "-m", "Release v1.1.0", "v1.1.0")
	commit := gitIn(t, dir, "rev-parse", "v1.1.0^{commit}")

	// scripts/release, as the workflow runs it, for this platform and one other.
	other := "linux/arm64"
	if runtime.GOOS+"/"+runtime.GOARCH == other {
		other = "linux/amd64"
	}
	build := exec.Command("nice", "-n", "10", filepath.Join(dir, "scripts", "release"), "--ref", "refs/tags/v1.1.0", "--out", "dist",
		"--platforms", runtime.GOOS+"/"+runtime.GOARCH+" "+other)
	build.Dir = dir
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOPROXY=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/release: %v\n%s", err, out)
	}
	dist := filepath.Join(dir, "dist")
	built := distFiles(t, dist)
	if len(built) != 5 { // 2 commands × 2 platforms + checksums.txt
		t.Fatalf("scripts/release built %d files, want 5", len(built))
	}

	gh := newFakeGitHub(t, publishRepo, publishToken)
	gh.mu.Lock()
	gh.refs["v1.0.0"] = gitIn(t, dir, "rev-parse", "v1.0.0")
	gh.refs["v1.1.0"] = gitIn(t, dir, "rev-parse", "v1.1.0") // the tag object
	gh.tagObjects[gh.refs["v1.1.0"]] = commit
	gh.mu.Unlock()

	for run := 1; run <= 2; run++ {
		before := len(gh.writes())
		r := publish(t, dir, gh, "--dir", "dist", "--move-major", "v1.1.0")
		if r.err != nil {
			t.Fatalf("run %d: %v\nstdout:\n%s\nstderr:\n%s", run, r.err, r.stdout, r.stderr)
		}
		t.Logf("run %d: %s", run, strings.TrimSpace(r.stdout))
		gh.mu.Lock()
		n := len(gh.releases)
		gh.mu.Unlock()
		if n != 1 {
			t.Fatalf("run %d: %d releases, want 1", run, n)
		}
		rel := gh.releaseOf("v1.1.0")
		checkAssets(t, rel, dist)
		if rel.Prerelease || rel.MakeLatest != "true" || !rel.GenerateNotes {
			t.Errorf("run %d: release %+v: want a full release, latest, generated notes", run, *rel)
		}
		if got := gh.ref("v1"); got != commit {
			t.Errorf("run %d: v1 at %q, want %s", run, got, commit)
		}
		if run == 2 {
			// checksums.txt first out and last in; every old asset deleted, then uploaded again.
			writes := gh.writes()[before:]
			deletes, uploads := 0, 0
			for _, w := range writes {
				deletes += strings.Count(w, "DELETE ")
				uploads += strings.Count(w, "?name=")
			}
			if deletes != len(built) || uploads != len(built) || !strings.HasSuffix(writes[0], "(checksums.txt)") ||
				rel.Assets[len(rel.Assets)-1].Name != "checksums.txt" {
				t.Errorf("the re-run: %d deletes and %d uploads, want %d each, checksums.txt deleted first and uploaded last: %v",
					deletes, uploads, len(built), writes)
			}
		}
	}

	// What a user downloads passes sha256sum -c.
	down := t.TempDir()
	for name := range built {
		resp, err := http.Get(gh.URL + "/" + publishRepo + "/releases/download/v1.1.0/" + name)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("downloading %s: %v %d", name, err, resp.StatusCode)
		}
		if err := os.WriteFile(filepath.Join(down, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check := exec.Command("sha256sum", "-c", "--strict", "checksums.txt")
	check.Dir = down
	if out, err := check.CombinedOutput(); err != nil || strings.Count(string(out), ": OK\n") != 4 {
		t.Errorf("sha256sum -c over the published assets: %v\n%s", err, out)
	}

	// The fetcher runs the published binary, from the release tag and from v1, once gh
	// (a stand-in: the attestation API is GitHub's) has verified it for the tag's commit,
	// the annotated tag peeled.
	for _, ref := range []string{"v1.1.0", "v1"} {
		path, ghCalls := ghStandIn(t, 0, "Verification succeeded!")
		r := fetch(t, actionRepo(t, t.TempDir()), map[string]string{
			"DAEDALUS_ACTION_REPOSITORY": publishRepo, "DAEDALUS_ACTION_REF": ref, "DAEDALUS_BIN_SOURCE": "release",
			"DAEDALUS_BIN_CACHE": t.TempDir(), "GITHUB_SERVER_URL": gh.URL, "GITHUB_API_URL": gh.URL, "PATH": path,
		}, "hello", "x")
		if r.err != nil || r.stdout != "released hello ran with: [x]\n" || !strings.Contains(r.stderr, "release v1.1.0, downloaded daedalus-hello_") {
			t.Errorf("uses: …@%s: %v\nstdout %q\nstderr %q", ref, r.err, r.stdout, r.stderr)
		}
		if calls := ghCalls(); len(calls) != 1 || calls[0][len(calls[0])-1] != commit {
			t.Errorf("uses: …@%s: gh calls %q, want one attestation check for commit %s", ref, calls, commit)
		}
	}
}
