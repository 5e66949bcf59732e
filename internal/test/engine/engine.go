// Package engine locates the real engines (terraform, kube-apiserver, etcd, …) that
// heavy tests run against, and decides what happens when one is missing.
//
// Under `make test` the Makefile builds every engine first and sets
// DAEDALUS_REQUIRE_ENGINES=1: a missing engine then fails the test and names the make
// target that builds it. A plain `go test -short ./...` skips such tests instead.
package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequireEnv is the variable the Makefile sets so that a missing engine fails a test.
const RequireEnv = "DAEDALUS_REQUIRE_ENGINES"

// Path returns the path of an engine binary: the value of the variable env when set,
// else name looked up on PATH. When neither finds an executable it fails the test under
// `make test`, naming target, and skips it otherwise.
func Path(t testing.TB, env, name, target string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		missing(t, env+"="+p+" does not exist", target)
		return ""
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	missing(t, name+" is not on PATH and "+env+" is unset", target)
	return ""
}

// Heavy skips a test under -short unless engines are required.
func Heavy(t testing.TB) {
	t.Helper()
	if testing.Short() && os.Getenv(RequireEnv) == "" {
		t.Skip("heavy test: skipped under -short")
	}
}

func missing(t testing.TB, why, target string) {
	t.Helper()
	if os.Getenv(RequireEnv) != "" {
		t.Fatalf("engine missing: %s; build it with `make %s`", why, target)
	}
	t.Skipf("engine missing: %s (run `make %s`, or `make test` to build every engine)", why, target)
}

// RepoRoot is the repository's root: the nearest directory above the test's own that holds
// go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}
