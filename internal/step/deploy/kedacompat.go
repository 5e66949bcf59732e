package deploy

import (
	"fmt"
	"strconv"
	"strings"

	utilversion "k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apimachinery/pkg/version"
)

// The ways KEDA gets onto the cluster (input keda).
const (
	// KEDAAddon is AKS's managed KEDA add-on (workload_autoscaler_profile
	// { keda_enabled = true }): AKS installs and upgrades KEDA to fit the cluster's
	// Kubernetes version, and deploy only checks that KEDA's API is served.
	KEDAAddon = "addon"
	// AddonKEDANamespace is where AKS runs the add-on's operator.
	AddonKEDANamespace = "kube-system"
	// KEDAHelm installs KEDA's chart, at the version KEDA's compatibility table gives for
	// the cluster's Kubernetes minor.
	KEDAHelm = "helm"
)

// KEDARelease is one KEDA minor release, the Kubernetes minors KEDA tested it against,
// and the chart version deploy installs for it.
type KEDARelease struct {
	Minor            int    // KEDA 2.<Minor>
	Chart            string // chart version in KEDA's repository
	MinKube, MaxKube int    // Kubernetes 1.<MinKube> to 1.<MaxKube>
}

func (k KEDARelease) String() string {
	return fmt.Sprintf("KEDA 2.%d supports Kubernetes 1.%d-1.%d", k.Minor, k.MinKube, k.MaxKube)
}

func (k KEDARelease) supports(kubeMinor int) bool {
	return kubeMinor >= k.MinKube && kubeMinor <= k.MaxKube
}

// KEDACompatibility is KEDA's published compatibility matrix (keda.sh, "Operate →
// Cluster → Kubernetes Compatibility"), newest first: the Kubernetes versions each KEDA
// release is tested on. KEDA ships a chart per release whose version is the release's;
// deploy pins the first of each minor. 2.14.0 stays: it was the step's default.
func KEDACompatibility() []KEDARelease {
	return []KEDARelease{
		{Minor: 21, Chart: "2.21.0", MinKube: 34, MaxKube: 36},
		{Minor: 20, Chart: "2.20.0", MinKube: 33, MaxKube: 35},
		{Minor: 19, Chart: "2.19.0", MinKube: 32, MaxKube: 34},
		{Minor: 18, Chart: "2.18.0", MinKube: 31, MaxKube: 33},
		{Minor: 17, Chart: "2.17.0", MinKube: 30, MaxKube: 32},
		{Minor: 16, Chart: "2.16.0", MinKube: 29, MaxKube: 31},
		{Minor: 15, Chart: "2.15.0", MinKube: 28, MaxKube: 30},
		{Minor: 14, Chart: "2.14.0", MinKube: 27, MaxKube: 29},
	}
}

// KubeMinor reads the Kubernetes minor version from the API server's /version. It uses
// gitVersion (v1.31.2, v1.31.2-gke.1) and falls back to minor, which some providers
// suffix with '+'.
func KubeMinor(v *version.Info) (int, error) {
	if pv, err := utilversion.ParseGeneric(v.GitVersion); err == nil {
		if pv.Major() != 1 {
			return 0, fmt.Errorf("version %s is not a Kubernetes 1.x version", v.GitVersion)
		}
		return int(pv.Minor()), nil
	}
	if n, err := strconv.Atoi(strings.TrimSuffix(v.Minor, "+")); err == nil && v.Major == "1" {
		return n, nil
	}
	return 0, fmt.Errorf("the API server reports no version (gitVersion %q, minor %q)", v.GitVersion, v.Minor)
}

// kedaMinor parses a KEDA (chart) version such as 2.14.0 or v2.14.
func kedaMinor(v string) (int, bool) {
	pv, err := utilversion.ParseGeneric(v)
	if err != nil || pv.Major() != 2 {
		return 0, false
	}
	return int(pv.Minor()), true
}

// lookupKEDA finds the table's entry for a KEDA version.
func lookupKEDA(v string) (KEDARelease, bool) {
	m, ok := kedaMinor(v)
	if !ok {
		return KEDARelease{}, false
	}
	for _, k := range KEDACompatibility() {
		if k.Minor == m {
			return k, true
		}
	}
	return KEDARelease{}, false
}

// KEDAIncompatibleError says that no KEDA (or not the one asked for) supports the
// cluster's Kubernetes version.
type KEDAIncompatibleError struct {
	Kube      int    // the cluster's Kubernetes minor
	Version   string // the KEDA version asked for; "" when choosing
	Supported []KEDARelease
}

func (e *KEDAIncompatibleError) Error() string {
	if e.Version != "" {
		k, _ := lookupKEDA(e.Version)
		return fmt.Sprintf("KEDA %s does not support the cluster's Kubernetes 1.%d: %s", e.Version, e.Kube, k)
	}
	newest := KEDACompatibility()[0]
	return fmt.Sprintf("no KEDA release in KEDA's compatibility table supports the cluster's Kubernetes 1.%d (the newest, %s)", e.Kube, newest)
}

// Fix is what to set instead.
func (e *KEDAIncompatibleError) Fix() string {
	var names []string
	for _, k := range e.Supported {
		names = append(names, k.Chart)
	}
	if len(names) > 0 {
		return fmt.Sprintf("leave keda-version empty to get %s, or set one that supports Kubernetes 1.%d (%s), or use keda: addon on AKS", names[0], e.Kube, strings.Join(names, ", "))
	}
	return "use keda: addon (AKS installs the KEDA that fits its Kubernetes version), or install KEDA yourself and set install-keda: false"
}

// ChooseKEDA returns the KEDA chart version to install on a cluster of Kubernetes minor
// kube: want when set (refused, as a *KEDAIncompatibleError, when KEDA's table does not
// list it for kube), else the newest release that supports kube and whose chart digest is
// pinned (KEDAChartDigests); a *KEDAUnpinnedError when only unpinned ones support kube.
func ChooseKEDA(want string, kube int) (string, error) {
	var supported []KEDARelease
	for _, k := range KEDACompatibility() {
		if k.supports(kube) {
			supported = append(supported, k)
		}
	}
	if want == "" {
		if len(supported) == 0 {
			return "", &KEDAIncompatibleError{Kube: kube}
		}
		for _, k := range supported {
			if _, pinned := KEDAChartDigests()[k.Chart]; pinned {
				return k.Chart, nil
			}
		}
		return "", &KEDAUnpinnedError{Version: supported[0].Chart, Kube: kube}
	}
	if k, ok := lookupKEDA(want); ok && k.supports(kube) {
		return want, nil
	}
	return "", &KEDAIncompatibleError{Kube: kube, Version: want, Supported: supported}
}
