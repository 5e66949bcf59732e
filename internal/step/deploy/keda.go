package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/registry"
)

// KEDACRDs are the CustomResourceDefinitions the chart's objects and KEDA's operator
// need served before anything uses them.
var KEDACRDs = []string{
	"scaledjobs.keda.sh",
	"scaledobjects.keda.sh",
	"triggerauthentications.keda.sh",
	"clustertriggerauthentications.keda.sh",
}

// KEDAChartName is the chart's name in KEDA's repository.
const KEDAChartName = "keda"

func isLocalChart(source string) bool {
	return !strings.HasPrefix(source, "oci://") && !strings.HasPrefix(source, "https://") && !strings.HasPrefix(source, "http://")
}

// FetchChart loads a chart from source: a chart repository URL (the chart is name), an
// oci:// reference, or a local directory or archive. version pins remote charts; a local
// chart whose version differs is refused. A remote chart's archive must have the sha256
// digest (64 hex digits) before it is loaded: one that differs is refused with a
// *ChartDigestError, and an empty digest refuses every remote chart. Local charts are the
// caller's own files and are not hashed. work is a scratch directory for Helm's caches.
func FetchChart(ctx context.Context, source, name, version, digest, work string) (*chart.Chart, error) {
	if isLocalChart(source) {
		ch, err := LoadChart(source)
		if err != nil {
			return nil, err
		}
		if version != "" && ch.Metadata.Version != version {
			return nil, fmt.Errorf("chart %s is version %s, not the pinned %s", source, ch.Metadata.Version, version)
		}
		return ch, nil
	}
	settings := &cli.EnvSettings{
		RepositoryConfig: filepath.Join(work, "repositories.yaml"),
		RepositoryCache:  filepath.Join(work, "repository"),
		RegistryConfig:   filepath.Join(work, "registry.json"),
		PluginsDirectory: filepath.Join(work, "plugins"),
	}
	if err := os.MkdirAll(settings.RepositoryCache, 0o755); err != nil {
		return nil, err
	}
	// An Install carries the ChartPathOptions (the registry client is only settable there).
	inst := action.NewInstall(&action.Configuration{})
	opts := &inst.ChartPathOptions
	opts.Version = version
	ref := source
	if strings.HasPrefix(source, "oci://") {
		rc, err := registry.NewClient(registry.ClientOptCredentialsFile(settings.RegistryConfig))
		if err != nil {
			return nil, fmt.Errorf("creating an OCI registry client: %w", err)
		}
		inst.SetRegistryClient(rc)
	} else {
		opts.RepoURL = source
		ref = name
	}
	if digest == "" {
		return nil, fmt.Errorf("chart %s %s from %s: no digest to check it against", name, version, source)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	path, err := opts.LocateChart(ref, settings)
	if err != nil {
		return nil, fmt.Errorf("fetching chart %s %s from %s: %w", name, version, source, err)
	}
	// The archive's bytes, before Helm reads anything in it.
	if err := checkDigest(path, name, version, digest); err != nil {
		return nil, err
	}
	return LoadChart(path)
}
