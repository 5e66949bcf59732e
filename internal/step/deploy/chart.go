package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// RenderKubeVersion is the Kubernetes version a client-only render assumes.
const RenderKubeVersion = "v1.37.2"

// LoadChart loads a chart from a directory or archive.
func LoadChart(path string) (*chart.Chart, error) {
	ch, err := loader.Load(path)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", path, err)
	}
	return ch, nil
}

// Values merges value files (in order, later wins) and then --set style assignments
// ("a.b=c", "workers[0].image.tag=x"). A relative value file that does not exist is
// looked up in chartDir, so "values-aks-test.yaml" names the chart's own overlay.
func Values(chartDir string, files, sets []string) (map[string]any, error) {
	base := map[string]any{}
	for _, f := range files {
		path := ResolveValuesFile(chartDir, f)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading values file %s: %w", f, err)
		}
		cur := map[string]any{}
		if err := yaml.Unmarshal(b, &cur); err != nil {
			return nil, fmt.Errorf("parsing values file %s: %w", f, err)
		}
		base = mergeMaps(base, cur)
	}
	for _, s := range sets {
		if err := strvals.ParseInto(s, base); err != nil {
			return nil, fmt.Errorf("parsing --set %q: %w", s, err)
		}
	}
	return base, nil
}

// ResolveValuesFile returns f, or f inside chartDir when f is relative and missing.
func ResolveValuesFile(chartDir, f string) string {
	if filepath.IsAbs(f) {
		return f
	}
	if _, err := os.Stat(f); err == nil {
		return f
	}
	return filepath.Join(chartDir, f)
}

// mergeMaps merges b over a the way Helm merges -f files: maps deeply, everything else
// (lists included) replaced.
func mergeMaps(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]any); ok {
			if am, ok := out[k].(map[string]any); ok {
				out[k] = mergeMaps(am, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// Render renders the chart client-side as `helm template` does, validating the values
// against values.schema.json and running every template's checks. Nothing reaches a
// cluster. KEDA's API is assumed present.
func Render(ch *chart.Chart, vals map[string]any, releaseName, namespace string) (*release.Release, error) {
	inst := action.NewInstall(&action.Configuration{})
	inst.DryRun = true
	inst.DryRunOption = "client"
	inst.ClientOnly = true
	inst.Replace = true
	inst.ReleaseName = releaseName
	inst.Namespace = namespace
	kv, err := chartutil.ParseKubeVersion(RenderKubeVersion)
	if err != nil {
		return nil, err
	}
	inst.KubeVersion = kv
	inst.APIVersions = chartutil.VersionSet{"keda.sh/v1alpha1", "keda.sh/v1alpha1/ScaledJob"}
	rel, err := inst.Run(ch, vals)
	if err != nil {
		return nil, &ValuesError{Err: err}
	}
	return rel, nil
}

// ValuesError is a chart that does not render with the given values: a schema
// violation, a placeholder image, a template's own check.
type ValuesError struct{ Err error }

func (e *ValuesError) Error() string { return "rendering the chart: " + cleanHelmError(e.Err) }
func (e *ValuesError) Unwrap() error { return e.Err }

// cleanHelmError shortens Helm's template error chains to the message a user acts on.
func cleanHelmError(err error) string {
	msg := err.Error()
	for _, marker := range []string{"error calling fail: ", "error calling required: "} {
		if i := strings.LastIndex(msg, marker); i >= 0 {
			return msg[i+len(marker):]
		}
	}
	if strings.HasPrefix(msg, "execution error at (") {
		if i := strings.Index(msg, "): "); i >= 0 {
			return msg[i+3:]
		}
	}
	return msg
}

// Manifests returns the rendered objects of rel, hooks included, as one YAML stream in
// a stable order (manifest, then hooks by path): what golden files hold.
func Manifests(rel *release.Release) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(rel.Manifest))
	b.WriteString("\n")
	for _, h := range rel.Hooks {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", h.Path, strings.TrimSpace(h.Manifest))
	}
	return b.String()
}

// ErrNoWorkers is returned by WorkerNames for values without a workers list.
var ErrNoWorkers = errors.New("values define no workers")

// WorkerNames returns the names in the values' workers list, in order.
func WorkerNames(vals map[string]any) ([]string, error) {
	list, ok := vals["workers"].([]any)
	if !ok || len(list) == 0 {
		return nil, ErrNoWorkers
	}
	var names []string
	for i, w := range list {
		m, ok := w.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("workers[%d] is not a map", i)
		}
		name, _ := m["name"].(string)
		names = append(names, name)
	}
	return names, nil
}

// lookup reads a nested value, e.g. lookup(vals, "keda", "enabled").
func lookup(vals map[string]any, path ...string) any {
	var cur any = vals
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}
