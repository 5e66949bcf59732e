package deploy

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/daedalus-dev/daedalus/proxy/contract"
)

// The names other steps compute for the release's objects (contract.Fullname and its
// helpers) are the names the chart renders, including a release name that the chart's
// trunc 50 | trimSuffix "-" leaves ending in a dash.
func TestContractNamesMatchTheChart(t *testing.T) {
	t.Parallel()
	for _, release := range []string{
		"daedalus",
		"pr-42",
		"my-daedalus-preview",
		strings.Repeat("a", 40) + "--x",  // "<40 a>--x-daedalus" cut to 50 ends in "-"
		strings.Repeat("b", 48) + "--zz", // cut to 50 ends in "--"
	} {
		_, _, rel := renderChart(t, nil, nil, release)
		got := map[string]bool{}
		for _, doc := range strings.Split(rel.Manifest, "\n---") {
			var obj struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(doc), &obj); err == nil && obj.Kind != "" {
				got[obj.Kind+"/"+obj.Metadata.Name] = true
			}
		}
		for _, want := range []string{"Service/" + contract.NATSService(release), "Secret/" + contract.NATSAuthSecret(release)} {
			if !got[want] {
				t.Errorf("release %q: the chart renders no %s (contract.Fullname = %q)", release, want, contract.Fullname(release))
			}
		}
	}
}
