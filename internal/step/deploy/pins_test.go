package deploy

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"
)

// pinnedRef is an image reference that names its content: …@sha256:<64 hex>.
var pinnedRef = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)

// podImages returns every image named by a container or init container anywhere in the
// rendered chart (Deployments, StatefulSets, DaemonSets, Jobs, ScaledJobs' job templates).
func podImages(t *testing.T, manifest string) []string {
	t.Helper()
	var images []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, child := range v {
				if k == "containers" || k == "initContainers" {
					list, _ := child.([]any)
					for _, c := range list {
						if img, ok := c.(map[string]any)["image"].(string); ok {
							images = append(images, img)
						}
					}
				}
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	for _, doc := range strings.Split(manifest, "\n---") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("rendered manifest does not parse: %v\n%s", err, doc)
		}
		walk(obj)
	}
	return images
}

// unpinnedThirdParty renders the chart and returns its third-party images not pinned by
// digest, and how many third-party images it saw. The proxy and the workers' agent images
// are the user's own: the deploy step sets them to the digests it was given.
func unpinnedThirdParty(t *testing.T, files, sets []string) (unpinned []string, seen int) {
	t.Helper()
	ch, vals, rel := renderChart(t, files, sets, "daedalus")
	eff, err := chartutil.CoalesceValues(ch, vals)
	if err != nil {
		t.Fatal(err)
	}
	own := []string{lookup(eff, "proxy", "image", "repository").(string)}
	workers, _ := eff["workers"].([]any)
	for _, w := range workers {
		if repo, ok := lookup(w.(map[string]any), "image", "repository").(string); ok {
			own = append(own, repo)
		}
	}
	for _, img := range podImages(t, Manifests(rel)) {
		repo, _, _ := strings.Cut(img, "@")
		if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			repo = repo[:i]
		}
		if slices.Contains(own, repo) {
			continue
		}
		seen++
		if !pinnedRef.MatchString(img) {
			unpinned = append(unpinned, img)
		}
	}
	return unpinned, seen
}

// TestThirdPartyImagesPinned: every image the chart runs that is not the user's own
// (today the NATS server) is pulled by digest, in the defaults and in every example
// values file, so an image added or changed later without a digest fails here.
func TestThirdPartyImagesPinned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files []string
		sets  []string
	}{
		{name: "chart defaults"},
		{name: "AKS overlay", files: []string{"values-aks-test.yaml"}, sets: overlaySets},
		{name: "3-node cluster", files: []string{"values-production.yaml"}},
		{name: "agent presets with pre-pull", files: []string{"values-agents.yaml"}, sets: []string{"prepull.enabled=true"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			unpinned, seen := unpinnedThirdParty(t, tt.files, tt.sets)
			if seen == 0 {
				t.Fatal("the render holds no third-party image: the check would pass vacuously")
			}
			if len(unpinned) > 0 {
				t.Errorf("third-party images pulled by tag, not by digest: %s (set <image>.digest to the registry's digest for the tag)", strings.Join(unpinned, ", "))
			}
		})
	}

	// The check itself: the NATS image with its digest cleared is reported.
	unpinned, _ := unpinnedThirdParty(t, nil, []string{"nats.image.digest="})
	if want := []string{"nats:2.12.1-alpine"}; !slices.Equal(unpinned, want) {
		t.Errorf("with nats.image.digest empty, unpinned = %q, want %q", unpinned, want)
	}
}

// TestNATSImageReference: the NATS image renders as repository:tag@digest, as
// repository@digest without a tag, and is refused by the schema with a digest that is
// not one.
func TestNATSImageReference(t *testing.T) {
	t.Parallel()
	const digest = "sha256:b3f2bd84176ae7bd0afa9c48a00f06d7d0818ff4aaee898e4172e0b8340e5816"
	for _, tt := range []struct {
		sets []string
		want string
	}{
		{want: "nats:2.12.1-alpine@" + digest},
		{sets: []string{"nats.image.tag="}, want: "nats@" + digest},
		{sets: []string{"nats.image.repository=registry.example/mirror/nats"}, want: "registry.example/mirror/nats:2.12.1-alpine@" + digest},
	} {
		docs := renderedDocs(t, nil, tt.sets, "StatefulSet")
		if len(docs) != 1 {
			t.Fatalf("%v: %d StatefulSets rendered, want 1", tt.sets, len(docs))
		}
		if got := podImages(t, docs[0]); !slices.Equal(got, []string{tt.want}) {
			t.Errorf("%v: images %q, want [%q]", tt.sets, got, tt.want)
		}
	}

	ch, err := LoadChart(chartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := Values(chartDir(t), nil, []string{"nats.image.digest=2.12.1-alpine"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Render(ch, vals, "daedalus", "daedalus"); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("a digest that is a tag rendered (err %v), want a schema error naming digest", err)
	}
}
