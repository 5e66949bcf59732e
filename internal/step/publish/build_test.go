package publish_test

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/daedalus-dev/daedalus/internal/step/publish"
)

var twoPlatforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

func TestBuildIsReproducible(t *testing.T) {
	t.Parallel()
	dir := checkout(t)
	build := func(created time.Time) (v1.Hash, *publish.Built) {
		t.Helper()
		b, err := publish.Build(context.Background(), publish.BuildOptions{
			Dir: dir, Package: "./cmd/hello", Platforms: twoPlatforms, Base: publish.Scratch,
			Created: created, Revision: sha, Version: "v1",
		})
		if err != nil {
			t.Fatal(err)
		}
		d, err := b.Index.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d, b
	}
	first, b := build(fixtureCommitTime)
	second, _ := build(fixtureCommitTime)
	if first != second {
		t.Fatalf("two builds of the same commit: %s and %s", first, second)
	}
	other, _ := build(fixtureCommitTime.Add(time.Second))
	if other == first {
		t.Fatal("a different commit time gave the same digest: timestamps are not in the image")
	}
	for _, p := range b.Platforms {
		if b.Sizes[p] <= 0 || b.Sizes[p] > 8<<20 {
			t.Errorf("%s: size %d", p, b.Sizes[p])
		}
	}
	if !strings.Contains(string(b.SBOM), `"spdxVersion": "SPDX-2.3"`) {
		t.Errorf("SBOM:\n%s", b.SBOM)
	}
}

func TestBuildRejectsBaseWithoutPlatform(t *testing.T) {
	t.Parallel()
	reg := newPlainRegistry(t)
	base := pushBase(t, reg.host)
	_, err := publish.Build(context.Background(), publish.BuildOptions{
		Dir: checkout(t), Package: "./cmd/hello", Base: base, Created: fixtureCommitTime,
		Platforms: []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "s390x"}},
	})
	if err == nil || !strings.Contains(err.Error(), "has no linux/s390x image") {
		t.Fatalf("error %v", err)
	}
}

func TestBuildReportsCompileErrors(t *testing.T) {
	t.Parallel()
	_, err := publish.Build(context.Background(), publish.BuildOptions{
		Dir: checkout(t), Package: "./cmd/nosuch", Base: publish.Scratch, Created: fixtureCommitTime,
		Platforms: twoPlatforms[:1],
	})
	if err == nil || !strings.Contains(err.Error(), "go build ./cmd/nosuch for linux/amd64") {
		t.Fatalf("error %v", err)
	}
}
