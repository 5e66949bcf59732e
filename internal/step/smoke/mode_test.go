package smoke

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// The scaling mode is read from the ScaledJobs the chart really renders (deploy's golden
// renders, which its tests keep equal to the chart): scaler.mode poll and push.
func TestScalingModeOfTheChartsScaledJobs(t *testing.T) {
	t.Parallel()
	for golden, want := range map[string]string{"render-job.yaml": ModePoll, "render-push.yaml": ModePush} {
		raw, err := os.ReadFile(filepath.Join(engine.RepoRoot(t), "internal", "step", "deploy", "testdata", golden))
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, doc := range strings.Split(string(raw), "\n---") {
			if !strings.Contains(doc, "\nkind: ScaledJob\n") {
				continue
			}
			var sj unstructured.Unstructured
			if err := yaml.Unmarshal([]byte(doc), &sj.Object); err != nil {
				t.Fatal(err)
			}
			found++
			if got := scalingMode(&sj); got != want {
				t.Errorf("%s: ScaledJob %s is in %s mode, want %s", golden, sj.GetName(), got, want)
			}
		}
		if found == 0 {
			t.Errorf("%s renders no ScaledJob", golden)
		}
	}
}
