package publish_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/daedalus-dev/daedalus/internal/step/publish"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// BenchmarkPublishVsKo builds and pushes the proxy image (linux/amd64 + linux/arm64, SBOM
// included) to an in-process loopback registry, side by side with ko building the same
// package on the same base image pushed to the same registry, with the same build flags
// (-trimpath, -ldflags=-s -w: ko gets them through a .ko.yaml). The registry stores blobs
// per repository, as a real one does, and every timed round pushes to a fresh repository,
// so each round uploads its layers: the bytes uploaded are reported beside the times. The
// Go build cache is warmed first. It reports the median seconds of each over three rounds
// per b.N (run it with -benchtime 1x: a round is two full builds and pushes of each),
// their ratio (goal ≤ 1.0), the compressed size of the linux/amd64 image (goal ≤ 8 MB),
// and the bytes a re-push of the same commit to the same repository uploads.
//
// DAEDALUS_KO is the ko binary (make ko); DAEDALUS_BENCH_PACKAGE overrides ./cmd/proxy.
func BenchmarkPublishVsKo(b *testing.B) {
	ko := engine.Path(b, "DAEDALUS_KO", "ko", "ko")
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		b.Fatal(err)
	}
	pkg := os.Getenv("DAEDALUS_BENCH_PACKAGE")
	if pkg == "" {
		pkg = publish.DefaultPackage
	}
	reg := newStoringRegistry(b)
	koConfig := b.TempDir()
	if err := os.WriteFile(filepath.Join(koConfig, ".ko.yaml"), []byte("defaultFlags: [-trimpath]\ndefaultLdflags: [-s, -w]\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	base := pushBase(b, reg.host)
	baseSize := imageSizeOf(b, base, "amd64")
	rev, created := headCommit(b, root)
	ctx := context.Background()

	ours := func(repo string) (time.Duration, int64) {
		start := time.Now()
		built, err := publish.Build(ctx, publish.BuildOptions{
			Dir: root, Package: pkg, Platforms: twoPlatforms, Base: base,
			Created: created, Revision: rev, Version: rev,
		})
		if err != nil {
			b.Fatal(err)
		}
		r, _ := name.NewRepository(reg.host + "/" + repo)
		if _, err := publish.Push(ctx, built, r, []string{"bench"}); err != nil {
			b.Fatal(err)
		}
		return time.Since(start), built.Sizes["linux/amd64"]
	}
	theirs := func(repo string) (time.Duration, int64) {
		start := time.Now()
		cmd := exec.Command(ko, "build", "--bare", "--platform=linux/amd64,linux/arm64", pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "KO_DOCKER_REPO="+reg.host+"/"+repo, "KO_DEFAULTBASEIMAGE="+base, "KO_CONFIG_PATH="+koConfig, "CGO_ENABLED=0")
		out, err := cmd.Output()
		if err != nil {
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			b.Fatalf("ko build: %v\n%s", err, stderr)
		}
		d := time.Since(start)
		return d, imageSizeOf(b, strings.TrimSpace(string(out)), "amd64")
	}

	// Warm the Go build cache for both.
	_, size := ours("warm-daedalus")
	_, koSize := theirs("warm-ko")

	// uploaded runs push and returns the blob bytes it uploaded.
	uploaded := func(push func()) int64 {
		before := reg.uploadBytes.Load()
		push()
		return reg.uploadBytes.Load() - before
	}
	b.ResetTimer()
	var mine, kos []time.Duration
	var myBytes, koBytes []int64
	ourRound := func(i int) {
		myBytes = append(myBytes, uploaded(func() {
			d, _ := ours("daedalus-" + strconv.Itoa(i))
			mine = append(mine, d)
		}))
	}
	koRound := func(i int) {
		koBytes = append(koBytes, uploaded(func() {
			d, _ := theirs("ko-" + strconv.Itoa(i))
			kos = append(kos, d)
		}))
	}
	for i := range 3 * b.N {
		// Alternate who goes first, so neither always runs on a cooler machine.
		if i%2 == 0 {
			ourRound(i)
			koRound(i)
		} else {
			koRound(i)
			ourRound(i)
		}
	}
	b.StopTimer()
	// The same commit again, into the repository it was just pushed to.
	last := strconv.Itoa(3*b.N - 1)
	myRepush := uploaded(func() { ours("daedalus-" + last) })
	koRepush := uploaded(func() { theirs("ko-" + last) })
	m, k := median(mine), median(kos)
	b.ReportMetric(m.Seconds(), "daedalus-s/op")
	b.ReportMetric(k.Seconds(), "ko-s/op")
	b.ReportMetric(m.Seconds()/k.Seconds(), "ratio")
	b.ReportMetric(float64(size)/1e6, "MB-amd64")
	b.ReportMetric(float64(koSize)/1e6, "ko-MB-amd64")
	b.ReportMetric(float64(myBytes[0])/1e6, "uploaded-MB")
	b.ReportMetric(float64(koBytes[0])/1e6, "ko-uploaded-MB")
	b.ReportMetric(float64(myRepush)/1e3, "repush-KB")
	b.ReportMetric(float64(koRepush)/1e3, "ko-repush-KB")
	b.Logf("build+push of %s for linux/amd64+linux/arm64, median of %d: daedalus %.2fs, ko %.2fs, ratio %.2fx (goal <= 1.0x)",
		pkg, len(mine), m.Seconds(), k.Seconds(), m.Seconds()/k.Seconds())
	b.Logf("uploaded per round into a fresh repository: daedalus %.2f MB, ko %.2f MB; a re-push of the same commit: daedalus %d B, ko %d B",
		float64(myBytes[0])/1e6, float64(koBytes[0])/1e6, myRepush, koRepush)
	b.Logf("compressed linux/amd64 image: daedalus %.2f MB, ko %.2f MB (goal <= 8 MB; both on the %.2f KB test base, distroless static adds about 2 MB)",
		float64(size)/1e6, float64(koSize)/1e6, float64(baseSize)/1e3)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// imageSizeOf is the compressed size (layers + config) of ref's image for arch.
func imageSizeOf(tb testing.TB, ref, arch string) int64 {
	tb.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		tb.Fatal(err)
	}
	img, err := remote.Image(r, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: arch}))
	if err != nil {
		tb.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		tb.Fatal(err)
	}
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

func headCommit(tb testing.TB, dir string) (string, time.Time) {
	tb.Helper()
	out, err := exec.Command("git", "-C", dir, "log", "-1", "--format=%H %ct").Output()
	if err != nil {
		tb.Fatal(err)
	}
	rev, ct, _ := strings.Cut(strings.TrimSpace(string(out)), " ")
	secs, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		tb.Fatal(fmt.Errorf("commit time %q: %w", ct, err))
	}
	return rev, time.Unix(secs, 0).UTC()
}

// The benchmark's registry stores blobs per repository: an image pushed to a second
// repository is uploaded again (ggcr's default store would answer that it has the blobs),
// pushed again to the same repository under another tag it uploads nothing, and it reads
// back whole.
func TestStoringRegistryUploadsPerRepository(t *testing.T) {
	t.Parallel()
	reg := newStoringRegistry(t)
	img, err := random.Image(64<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	push := func(repo, tag string) int64 {
		before := reg.uploadBytes.Load()
		ref, err := name.ParseReference(reg.host + "/" + repo + ":" + tag)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		return reg.uploadBytes.Load() - before
	}
	first, second, again := push("a", "1"), push("b", "1"), push("b", "2")
	if first < 128<<10 || second != first || again != 0 {
		t.Errorf("uploaded %d B to a, %d B to b, %d B to b under a new tag; want the layers (≥ 128 KiB) twice, then nothing", first, second, again)
	}
	// Every blob reads back from where it was pushed.
	ref, err := name.ParseReference(reg.host + "/b:2")
	if err != nil {
		t.Fatal(err)
	}
	back, err := remote.Image(ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := back.RawConfigFile(); err != nil {
		t.Fatalf("config of b:2: %v", err)
	}
	layers, err := back.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("layer of b:2: %v", err)
		}
		_ = rc.Close()
	}
}
