package publish_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/step/publish"
)

const sha = "0123456789abcdef0123456789abcdef01234567"

func TestTags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    publish.Origin
		want []string
	}{
		{"default branch", publish.Origin{Revision: sha, Ref: "refs/heads/main", DefaultBranch: "main"}, []string{sha, "main", "latest"}},
		{"other branch", publish.Origin{Revision: sha, Ref: "refs/heads/Feature/Big_Thing", DefaultBranch: "main"}, []string{sha, "feature-big_thing"}},
		{"default unknown", publish.Origin{Revision: sha, Ref: "refs/heads/main"}, []string{sha, "main"}},
		{"pull request from event", publish.Origin{Revision: sha, Ref: "refs/pull/42/merge", PRNumber: 42, DefaultBranch: "main"}, []string{sha, "pr-42"}},
		{"pull request from ref", publish.Origin{Revision: sha, Ref: "refs/pull/7/merge"}, []string{sha, "pr-7"}},
		{"tag", publish.Origin{Revision: sha, Ref: "refs/tags/v1.2.3", DefaultBranch: "main"}, []string{sha, "v1.2.3"}},
		{"branch named latest is not the default", publish.Origin{Revision: sha, Ref: "refs/heads/latest", DefaultBranch: "main"}, []string{sha, "latest"}},
		{"no ref", publish.Origin{Revision: sha}, []string{sha}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := publish.Tags(tc.o); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Tags = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSlug(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"main":                   "main",
		"feature/x":              "feature-x",
		"Dependabot/Go/x@1.2":    "dependabot-go-x-1.2",
		"-.weird.-":              "weird",
		"a  b":                   "a-b",
		strings.Repeat("a", 200): strings.Repeat("a", 128),
		"release/v1.0":           "release-v1.0",
	}
	for in, want := range tests {
		got := publish.Slug(in)
		if got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
		if !publish.ValidTag(got) {
			t.Errorf("Slug(%q) = %q is not a valid tag", in, got)
		}
	}
}

func TestValidTag(t *testing.T) {
	t.Parallel()
	for tag, want := range map[string]bool{
		"v1.0": true, "latest": true, "_x": true, sha: true,
		"": false, "-x": false, ".x": false, "a:b": false, "a/b": false, strings.Repeat("a", 129): false,
	} {
		if got := publish.ValidTag(tag); got != want {
			t.Errorf("ValidTag(%q) = %v", tag, got)
		}
	}
}
