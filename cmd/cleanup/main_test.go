package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// forbidden lists the packages the cleanup binary must never link: it only talks to ARM,
// so Helm, client-go (and the rest of Kubernetes) or a test fake in it would be a mistake
// that also grows the binary and its attack surface.
var forbidden = []string{
	"helm.sh/",
	"k8s.io/",
	"sigs.k8s.io/",
	"github.com/daedalus-dev/daedalus/internal/step/cleanup/cleanuptest",
}

// sdkFake reports whether d is one of the Azure SDK's fake servers (azcore's own internal
// poller for them is part of every client and allowed).
func sdkFake(d string) bool {
	return strings.HasPrefix(d, "github.com/Azure/") && !strings.Contains(d, "/internal/") &&
		(strings.HasSuffix(d, "/fake") || strings.Contains(d, "/fake/"))
}

func violations(deps []string) []string {
	var bad []string
	for _, d := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(d, f) || sdkFake(d) {
				bad = append(bad, d)
				break
			}
		}
	}
	return bad
}

// TestDependencyFence lists what `go build ./cmd/cleanup` links and fails on anything
// forbidden.
func TestDependencyFence(t *testing.T) {
	t.Parallel()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	// The listing is real: it holds what the binary is known to use.
	for _, want := range []string{
		"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3",
		"github.com/daedalus-dev/daedalus/internal/lib/azure",
	} {
		if !slices.Contains(deps, want) {
			t.Fatalf("go list -deps lacks %s; got %d packages", want, len(deps))
		}
	}
	if bad := violations(deps); len(bad) > 0 {
		t.Fatalf("cmd/cleanup links forbidden packages:\n%s", strings.Join(bad, "\n"))
	}
	t.Logf("cmd/cleanup links %d packages, none of them Helm, client-go or a fake", len(deps))
}

func TestFenceCatches(t *testing.T) {
	t.Parallel()
	deps := []string{
		"fmt",
		"helm.sh/helm/v3/pkg/action",
		"k8s.io/client-go/kubernetes",
		"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3/fake",
		"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources/v3",
		"github.com/Azure/azure-sdk-for-go/sdk/azcore/internal/pollers/fake",
	}
	got := violations(deps)
	want := deps[1:4]
	if !slices.Equal(got, want) {
		t.Errorf("violations = %v, want %v", got, want)
	}
}
