package publish

import (
	"regexp"
	"strconv"
	"strings"
)

// Origin is where a build comes from: the facts the default tags are derived from.
type Origin struct {
	Revision      string // full commit SHA
	Ref           string // refs/heads/<branch>, refs/tags/<tag> or refs/pull/<n>/merge
	PRNumber      int    // pull request number on pull_request events, else 0
	DefaultBranch string // the repository's default branch, e.g. main
}

// tagRe is the OCI distribution spec's tag grammar.
var tagRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// ValidTag reports whether t is a legal image tag.
func ValidTag(t string) bool { return tagRe.MatchString(t) }

// Tags returns the default tags for o, in order: the commit SHA; pr-<N> on a pull request,
// else the branch or tag slug; latest only on the default branch. Duplicates are dropped.
func Tags(o Origin) []string {
	var tags []string
	add := func(t string) {
		if t == "" || !ValidTag(t) {
			return
		}
		for _, x := range tags {
			if x == t {
				return
			}
		}
		tags = append(tags, t)
	}
	add(o.Revision)
	pr := o.PRNumber
	if pr == 0 {
		if m := prRefRe.FindStringSubmatch(o.Ref); m != nil {
			pr, _ = strconv.Atoi(m[1])
		}
	}
	switch {
	case pr > 0:
		add("pr-" + strconv.Itoa(pr))
	case strings.HasPrefix(o.Ref, "refs/heads/"):
		branch := strings.TrimPrefix(o.Ref, "refs/heads/")
		add(Slug(branch))
		if o.DefaultBranch != "" && branch == o.DefaultBranch {
			add("latest")
		}
	case strings.HasPrefix(o.Ref, "refs/tags/"):
		add(Slug(strings.TrimPrefix(o.Ref, "refs/tags/")))
	}
	return tags
}

var (
	prRefRe  = regexp.MustCompile(`^refs/pull/(\d+)/`)
	slugBad  = regexp.MustCompile(`[^a-z0-9_.-]+`)
	slugTrim = regexp.MustCompile(`^[.-]+|[.-]+$`)
)

// Slug turns a branch or tag name into a tag: lower case, every run of other characters
// ("/", spaces, …) replaced by "-", no leading "." or "-", at most 128 characters.
func Slug(ref string) string {
	s := slugBad.ReplaceAllString(strings.ToLower(ref), "-")
	s = slugTrim.ReplaceAllString(s, "")
	if len(s) > 128 {
		s = slugTrim.ReplaceAllString(s[:128], "")
	}
	return s
}
