package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInputExitsNonZero runs the built binary as the runner would, with inputs that
// must fail before anything is contacted: exit status 1 and one ::error:: per input.
func TestBadInputExitsNonZero(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "deploy")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"INPUT_KUBECONFIG=/nonexistent/kubeconfig",
		"INPUT_NAMESPACE=Not_A_Namespace",
		"INPUT_PROXY-IMAGE=proxy-without-registry",
		"INPUT_GITHUB-TOKEN=ghp_notprinted0123456789",
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit = %v, want status 1\n%s", err, out.String())
	}
	for _, want := range []string{"::error title=Input namespace::", "::error title=Input proxy-image::", "::add-mask::ghp_notprinted0123456789"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Count(out.String(), "ghp_notprinted0123456789") != 1 {
		t.Errorf("the token is printed outside ::add-mask::\n%s", out.String())
	}
}
