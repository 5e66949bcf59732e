package publish_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/daedalus-dev/daedalus/internal/step/publish"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// TestProxyImage builds the real proxy (./cmd/proxy, or DAEDALUS_PUBLISH_PACKAGE) into an
// image on the empty base and runs its entrypoint as the image's non-root user: `proxy -h`
// prints the usage and exits 2.
func TestProxyImage(t *testing.T) {
	engine.Heavy(t)
	t.Parallel()
	pkg := os.Getenv("DAEDALUS_PUBLISH_PACKAGE")
	if pkg == "" {
		pkg = publish.DefaultPackage
	}
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	rev, created := headCommit(t, root)
	b, err := publish.Build(context.Background(), publish.BuildOptions{
		Dir: root, Package: pkg, Base: publish.Scratch, Created: created, Revision: rev,
		Platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if size := b.Sizes["linux/amd64"]; size > 8e6 {
		t.Errorf("compressed linux/amd64 image is %d bytes, goal is at most 8 MB", size)
	}
	im, err := b.Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := b.Index.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cmd := nonRootCommand(t, img, "-h")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.HasPrefix(string(out), "Usage of proxy:") {
		t.Fatalf("proxy -h as the image user: %v\n%s", err, out)
	}
}
