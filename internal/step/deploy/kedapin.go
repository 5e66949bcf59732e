package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// KEDAChartDigests are the sha256 digests of KEDA's chart archives, keda-<version>.tgz in
// KEDA's chart repository (DefaultKEDAChart), by chart version. Deploy installs a chart it
// downloads only when the archive's sha256 is the one pinned here for its version, or,
// for a version not listed, the one the user gives in keda-chart-digest.
//
// Each digest was read from the repository's index.yaml and matched against the sha256 of
// the archive the repository publishes. To add a version, read its digest yourself:
//
//	helm pull keda --repo https://kedacore.github.io/charts --version 2.21.0
//	sha256sum keda-2.21.0.tgz
//
// and check it against the index's digest: entry for that version.
func KEDAChartDigests() map[string]string {
	return map[string]string{
		"2.20.2": "db60b1fa60f0565fefa4ce2f87e855b6a8854363ee82962fbe28a12a70d64c4c",
		"2.20.1": "584c42b33427151abc03d4dd0c8c24be6c9aec96fc988dcf1559711c4dbd0d79",
		"2.20.0": "551144e4f41f8662d6394b3c2b687781bd83c9c3a25429c7e9d70adec386ee85",
		"2.19.0": "6ee0edbb604577aaa2db07a4eecd836c69e1b1266f2db88a55010870faaad34b",
		"2.18.3": "8c0eecd5e6f719a9378e903ee1d9bc54faf95ecba6c78985a61bba0a1f5e5729",
		"2.18.2": "627d8c3577d3b06617743d540dd38d08302bc4d5fd531cbd7721da2038ca19a6",
		"2.18.1": "de3eb230053335afdd423bc04e63ec07238bcbbaba3561e290151d7dfbe6bcd9",
		"2.18.0": "93e43989020402da05e9dfa362cf5ff4cc3f063f53338f9499de227caef4f461",
		"2.17.3": "424f824451b69766ec509fafedd41b760e695b980864baf4da1d52e7e8e1451e",
		"2.17.2": "668abc60b4e7cfa28134f8be727a376d8ab90a5dc9fda72ecf5fc7e86a8dffa0",
		"2.17.1": "e207df9f3d02a601ea529b5a58b5757790c02662d40221b2aa0d1466c662ea42",
		"2.17.0": "8ec680ab2559fa427f26c16676c33827d8cb000856123d9551b7646ffb557cb1",
		"2.16.1": "37712eaf5970cf280c3e18aafff3bb0a54ca2d21840667907fb472ca969cc334",
		"2.16.0": "60d3cdecb6b9b01708085edb5b4de77767758ae3ca3108af32e2285d395aa7b8",
		"2.15.2": "dc1a66bd5edc13a1004d853e1999dc2fff1915c9abce1537426466bf8b685b98",
		"2.15.1": "316cf7db6aba49f6001e16c085a7953988d3a7afe6fb19a438aad05567389022",
		"2.15.0": "fbcbdaa0242edf90040ac932e01e61f1ebde42e5ae9c90e75fe6ae57bc64d8ba",
		"2.14.2": "e1d477d173305aa41d1ac4f6a07e6ff48a3b5bf8e35a74fdf9da1f30b8f97355",
		"2.14.1": "8ad2f13172e1e38b96a3ff8e8737137e2c43026354b3c4ac4fb2e51bccdeb213",
		"2.14.0": "bdd669a80a8bc9d1e651b7680f4227cbc374a861e89c0ed3120e328b4aacfd39",
	}
}

// digestRe is a sha256 digest as sha256sum prints it, with or without the sha256: prefix.
var digestRe = regexp.MustCompile(`^(sha256:)?[0-9a-f]{64}$`)

// ParseDigest returns the 64 hex digits of a sha256 digest written as <hex> or
// sha256:<hex>; ok is false for anything else.
func ParseDigest(s string) (hexDigest string, ok bool) {
	if !digestRe.MatchString(s) {
		return "", false
	}
	return strings.TrimPrefix(s, "sha256:"), true
}

// KEDAChartDigest is the digest a downloaded KEDA chart of version must have: the pinned
// one, else given (keda-chart-digest, already parsed); ok is false when there is neither.
func KEDAChartDigest(version, given string) (digest string, ok bool) {
	if d, pinned := KEDAChartDigests()[version]; pinned {
		return d, true
	}
	return given, given != ""
}

// ChartDigestError refuses a chart archive whose sha256 is not the expected one.
type ChartDigestError struct {
	Chart, Version string
	Want, Got      string // hex digests
}

func (e *ChartDigestError) Error() string {
	return fmt.Sprintf("chart %s %s has sha256:%s, but sha256:%s is expected for that version: refusing to install it", e.Chart, e.Version, e.Got, e.Want)
}

// checkDigest fails with a *ChartDigestError unless the file at path has sha256 want.
func checkDigest(path, chart, version, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("hashing %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return &ChartDigestError{Chart: chart, Version: version, Want: want, Got: got}
	}
	return nil
}

// KEDAUnpinnedError says that the KEDA chart to install has no pinned digest and none was
// given, so it cannot be checked.
type KEDAUnpinnedError struct {
	Version string
	Kube    int // the cluster's Kubernetes minor when deploy chose the version; 0 if pinned by the user
}

func (e *KEDAUnpinnedError) Error() string {
	if e.Kube != 0 {
		return fmt.Sprintf("the only KEDA releases that support the cluster's Kubernetes 1.%d (%s first) have no pinned chart digest, so the chart cannot be checked", e.Kube, e.Version)
	}
	return fmt.Sprintf("KEDA chart %s has no pinned digest, so the chart cannot be checked", e.Version)
}

// Fix is what to set instead.
func (e *KEDAUnpinnedError) Fix() string {
	return fmt.Sprintf("set keda-version: %s and keda-chart-digest to the sha256 of its archive, read from KEDA's chart repository yourself (helm pull keda --repo %s --version %s, then sha256sum keda-%s.tgz), or use keda: addon on AKS",
		e.Version, DefaultKEDAChart, e.Version, e.Version)
}
