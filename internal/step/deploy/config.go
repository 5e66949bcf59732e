package deploy

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/aks"
	"github.com/daedalus-dev/daedalus/internal/lib/attest"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
)

// Input names of actions/deploy/action.yml.
const (
	InputKubeconfig       = aks.InputKubeconfig
	InputKubeContext      = aks.InputKubeContext
	InputResourceGroup    = aks.InputResourceGroup
	InputClusterName      = aks.InputClusterName
	InputACRName          = "acr-name"
	InputNamespace        = "namespace"
	InputRelease          = "release"
	InputChart            = "chart"
	InputValues           = "values"
	InputSet              = "set"
	InputProxyImage       = "proxy-image"
	InputWorkerImages     = "worker-images"
	InputWorkerPresets    = "worker-presets"
	InputGitHubToken      = "github-token"
	InputTokenSecret      = "token-secret"
	InputWorkloadClientID = "workload-identity-client-id"
	InputInstallKEDA      = "install-keda"
	InputKEDA             = "keda"
	InputKEDAChart        = "keda-chart"
	InputKEDAVersion      = "keda-version"
	InputKEDAChartDigest  = "keda-chart-digest"
	InputKEDANamespace    = "keda-namespace"
	InputTimeout          = "timeout"

	InputVerifySignature      = "verify-signature"
	InputSignerIdentity       = "signer-identity"
	InputSignerIdentityRegexp = "signer-identity-regexp"
	InputSignerIssuer         = "signer-issuer"
	InputTrustedRoot          = "trusted-root"
)

// Defaults of the inputs.
const (
	DefaultNamespace     = "daedalus"
	DefaultRelease       = "daedalus"
	DefaultChart         = "deploy/helm/daedalus"
	DefaultValues        = "values-aks-test.yaml"
	DefaultTokenSecret   = "copilot-secret"
	TokenSecretKey       = "github-token"
	DefaultKEDAChart     = "https://kedacore.github.io/charts"
	DefaultKEDANamespace = "keda"
	DefaultTimeout       = 5 * time.Minute
)

// Config is the deploy step's input, built by ReadConfig (or by hand in tests).
type Config struct {
	// Target is the cluster: a kubeconfig file, or an AKS cluster read through Azure.
	Target aks.Target
	// ACRName is the registry whose AcrPull grant to the kubelet identity is checked
	// (warn-only; AKS only).
	ACRName string

	Namespace string
	Release   string
	Chart     string   // chart directory or archive
	Values    []string // value files, later wins; relative names also resolve in Chart
	Sets      []string // --set assignments, applied after the files
	// ProxyImage is the proxy's image reference (registry/name:tag or @sha256:…).
	ProxyImage string
	// WorkerImages maps a worker name to its agent image reference.
	WorkerImages map[string]string
	// WorkerPresets maps a worker name to a key of the chart's agentPresets.
	WorkerPresets map[string]string

	GitHubToken string // upserted into TokenSecret (key github-token) when set
	TokenSecret string
	// WorkloadClientID annotates the release's ServiceAccount for workload identity.
	WorkloadClientID string

	// KEDA is how KEDA gets onto the cluster: KEDAAddon (AKS's managed add-on; deploy
	// only checks it) or KEDAHelm (deploy installs KEDA's chart).
	KEDA string
	// InstallKEDA false skips the Helm install even with KEDAHelm (KEDA is already there).
	InstallKEDA bool
	KEDAChart   string // repository URL, oci:// reference or local path
	// KEDAVersion pins the KEDA chart; "" chooses it from KEDA's compatibility table for
	// the cluster's Kubernetes version. A pin the table does not list for the cluster is
	// refused.
	KEDAVersion string
	// KEDAChartDigest is the sha256 (64 hex digits) a downloaded KEDA chart of a version
	// not in KEDAChartDigests must have; "" allows only the pinned versions.
	KEDAChartDigest string
	KEDANamespace   string

	Timeout time.Duration

	// Signature, when Required, refuses a proxy image without a valid signature by the
	// configured workflow identity, and deploys the verified image by digest.
	Signature Signature

	// InActions is whether the step runs on GitHub Actions: an AKS target then needs the
	// ids GitHub OIDC signs in with.
	InActions bool
}

// ReadConfig reads the step's inputs; problems come back together as *actions.InputError
// values. Call Validate next.
func ReadConfig(a *actions.Action) (Config, error) {
	in := a.Inputs()
	c := Config{
		Target:           aks.ReadTarget(a, in),
		ACRName:          in.String(InputACRName, ""),
		Namespace:        in.String(InputNamespace, DefaultNamespace),
		Release:          in.String(InputRelease, DefaultRelease),
		Chart:            in.String(InputChart, DefaultChart),
		Values:           in.List(InputValues),
		Sets:             in.Lines(InputSet),
		ProxyImage:       in.String(InputProxyImage, ""),
		GitHubToken:      in.Secret(InputGitHubToken),
		TokenSecret:      in.String(InputTokenSecret, DefaultTokenSecret),
		WorkloadClientID: in.String(InputWorkloadClientID, ""),
		InstallKEDA:      in.Bool(InputInstallKEDA, true),
		KEDAChart:        in.String(InputKEDAChart, DefaultKEDAChart),
		KEDAVersion:      in.String(InputKEDAVersion, ""),
		KEDAChartDigest:  strings.TrimPrefix(in.String(InputKEDAChartDigest, ""), "sha256:"),
		KEDANamespace:    in.String(InputKEDANamespace, DefaultKEDANamespace),
		Timeout:          in.Duration(InputTimeout, DefaultTimeout),
		InActions:        a.InActions(),
		Signature: Signature{
			Required: in.Bool(InputVerifySignature, false),
			Policy: attest.Policy{
				Subject:       in.String(InputSignerIdentity, ""),
				SubjectRegexp: in.String(InputSignerIdentityRegexp, ""),
				Issuer:        in.String(InputSignerIssuer, attest.GitHubIssuer),
			},
			TrustedRoot: in.String(InputTrustedRoot, ""),
		},
	}
	if len(c.Values) == 0 {
		c.Values = []string{DefaultValues}
	}
	// On AKS the managed add-on is the default: AKS keeps KEDA matched to the cluster.
	c.KEDA = in.String(InputKEDA, map[bool]string{true: KEDAAddon, false: KEDAHelm}[c.Target.UsesAKS()])
	var err error
	c.WorkerImages, err = ParseWorkerImages(in.Lines(InputWorkerImages))
	presets, perr := ParseWorkerPresets(in.Lines(InputWorkerPresets))
	c.WorkerPresets = presets
	return c, errors.Join(in.Err(), err, perr)
}

// FirstWorker is the key of a bare image in worker-images: the first worker in values.
const FirstWorker = ""

// parseNamed reads name=value lines of a per-worker input; a bare value is the first
// worker's.
func parseNamed(input, what string, items []string) (map[string]string, error) {
	m := map[string]string{}
	for _, it := range items {
		name, v, ok := strings.Cut(it, "=")
		if !ok {
			name, v = FirstWorker, it
		}
		name, v = strings.TrimSpace(name), strings.TrimSpace(v)
		if _, dup := m[name]; dup {
			return nil, actions.Invalid(input, fmt.Sprintf("names worker %q twice", name), "give each worker one "+what)
		}
		m[name] = v
	}
	return m, nil
}

// imageRe is a registry/name with a :tag or @sha256 digest.
var imageRe = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$`)

// SplitImage splits an image reference into repository and tag (or sha256:… digest).
func SplitImage(ref string) (repo, tag string, ok bool) {
	if !imageRe.MatchString(ref) {
		return "", "", false
	}
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		return ref[:i], ref[i+1:], true
	}
	i := strings.LastIndex(ref, ":")
	return ref[:i], ref[i+1:], true
}

// Validate checks the configuration without touching anything.
func (c Config) Validate() error {
	var errs []error
	bad := func(input, problem, fix string) { errs = append(errs, actions.Invalid(input, problem, fix)) }
	// Deploying to whatever ~/.kube/config points at is never what a workflow meant.
	if !c.Target.Named() {
		bad(InputClusterName, "no cluster to deploy to: neither kubeconfig nor resource-group and cluster-name are set",
			"set kubeconfig to a kubeconfig file, or resource-group and cluster-name to an AKS cluster")
	}
	if err := c.Target.Validate(c.InActions); err != nil {
		errs = append(errs, err)
	}
	if c.ACRName != "" && !regexp.MustCompile(`^[a-zA-Z0-9]{5,50}$`).MatchString(c.ACRName) {
		bad(InputACRName, fmt.Sprintf("%q is not a registry name", c.ACRName), "use the registry's name (5-50 letters and digits), not its login server")
	}
	for _, p := range validation.IsDNS1123Label(c.Namespace) {
		bad(InputNamespace, fmt.Sprintf("%q is not a valid namespace name: %s", c.Namespace, p), "use lower-case letters, digits and dashes, at most 63 characters, e.g. daedalus")
	}
	if c.KEDANamespace != "" {
		for _, p := range validation.IsDNS1123Label(c.KEDANamespace) {
			bad(InputKEDANamespace, fmt.Sprintf("%q is not a valid namespace name: %s", c.KEDANamespace, p), "use e.g. keda")
		}
	}
	for _, p := range validation.IsDNS1123Label(c.Release) {
		bad(InputRelease, fmt.Sprintf("%q is not a valid release name: %s", c.Release, p), "use lower-case letters, digits and dashes, e.g. daedalus")
	}
	if len(c.Release) > 53 {
		bad(InputRelease, "is longer than 53 characters", "use a shorter name")
	}
	if c.Chart == "" {
		bad(InputChart, "is empty", "set it to the chart directory, e.g. deploy/helm/daedalus")
	}
	if c.ProxyImage != "" {
		if _, _, ok := SplitImage(c.ProxyImage); !ok {
			bad(InputProxyImage, fmt.Sprintf("%q is not an image reference with a tag or digest", c.ProxyImage), "use registry/name:tag, e.g. myacr.azurecr.io/daedalus-proxy:1.2.3")
		}
	}
	for name, ref := range c.WorkerImages {
		if _, _, ok := SplitImage(ref); !ok {
			what := "the first worker's image"
			if name != FirstWorker {
				what = "worker " + name + "'s image"
			}
			bad(InputWorkerImages, fmt.Sprintf("%s %q is not an image reference with a tag or digest", what, ref), "use name=registry/name:tag, e.g. copilot=myacr.azurecr.io/copilot-bridge:1.2.3")
		}
	}
	if c.WorkloadClientID != "" && !azure.IsGUID(c.WorkloadClientID) {
		bad(InputWorkloadClientID, "is not a GUID", "use the workload identity's client id (terraform output workload_identity_client_id)")
	}
	if c.KEDA != KEDAAddon && c.KEDA != KEDAHelm {
		bad(InputKEDA, fmt.Sprintf("%q is neither %s nor %s", c.KEDA, KEDAAddon, KEDAHelm),
			"use addon (AKS's managed KEDA add-on, the default on AKS) or helm (deploy installs KEDA's chart)")
	}
	if c.KEDAVersion != "" {
		if _, ok := lookupKEDA(c.KEDAVersion); !ok {
			t := KEDACompatibility()
			bad(InputKEDAVersion, fmt.Sprintf("%q is not a KEDA version in KEDA's compatibility table (2.%d to 2.%d)", c.KEDAVersion, t[len(t)-1].Minor, t[0].Minor),
				"leave it empty to choose the KEDA that supports the cluster's Kubernetes version, or pin one such as "+t[0].Chart)
		}
	}
	errs = append(errs, c.validateKEDADigest()...)
	errs = append(errs, c.Signature.validate(c.ProxyImage)...)
	if c.Timeout < 10*time.Second {
		bad(InputTimeout, fmt.Sprintf("%s is too short for NATS to become ready", c.Timeout), "use at least 1m, e.g. 5m")
	}
	return errors.Join(errs...)
}

// validateKEDADigest checks keda-chart-digest against keda-version and keda-chart: it
// names the archive of one version downloaded from a repository, one the table does not
// pin already; and a pinned keda-version without it, when deploy would download the
// chart, is refused here, before anything reaches the cluster.
func (c Config) validateKEDADigest() []error {
	var errs []error
	bad := func(problem, fix string) { errs = append(errs, actions.Invalid(InputKEDAChartDigest, problem, fix)) }
	downloads := c.KEDA == KEDAHelm && c.InstallKEDA && !isLocalChart(c.KEDAChart)
	if c.KEDAChartDigest == "" {
		if _, known := lookupKEDA(c.KEDAVersion); known && downloads {
			if _, ok := KEDAChartDigest(c.KEDAVersion, ""); !ok {
				e := &KEDAUnpinnedError{Version: c.KEDAVersion}
				bad(e.Error(), e.Fix())
			}
		}
		return errs
	}
	if _, ok := ParseDigest(c.KEDAChartDigest); !ok {
		bad(fmt.Sprintf("%q is not a sha256 digest", c.KEDAChartDigest), "use the 64 hex digits sha256sum prints for the chart archive (sha256: in front is allowed)")
		return errs
	}
	switch {
	case isLocalChart(c.KEDAChart):
		bad("is set for the local chart "+c.KEDAChart, "leave it empty: a local chart is your own file and is not hashed; the digest is for an archive downloaded from a chart repository")
	case c.KEDAVersion == "":
		bad("is set but keda-version is empty", "set keda-version to the version whose archive has this digest")
	default:
		if pinned, ok := KEDAChartDigests()[c.KEDAVersion]; ok && pinned != c.KEDAChartDigest {
			bad(fmt.Sprintf("gives sha256:%s for KEDA chart %s, which is pinned to sha256:%s", c.KEDAChartDigest, c.KEDAVersion, pinned),
				"leave keda-chart-digest empty: a pinned version is always checked against its pinned digest")
		}
	}
	return errs
}

// LogValue lists the configuration; the token is never printed.
func (c Config) LogValue() slog.Value {
	token := "(unset)"
	if c.GitHubToken != "" {
		token = "(set)"
	}
	return slog.GroupValue(
		slog.Attr{Key: "target", Value: c.Target.LogValue()},
		slog.String("namespace", c.Namespace),
		slog.String("release", c.Release),
		slog.String("chart", c.Chart),
		slog.Any("values", c.Values),
		slog.Int("sets", len(c.Sets)),
		slog.String("proxy_image", c.ProxyImage),
		slog.Any("worker_images", c.WorkerImages),
		slog.Any("worker_presets", c.WorkerPresets),
		slog.String("github_token", token),
		slog.String("workload_identity_client_id", c.WorkloadClientID),
		slog.String("keda", c.KEDA),
		slog.Bool("install_keda", c.InstallKEDA),
		slog.String("keda_chart", c.KEDAChart),
		slog.String("keda_version", c.KEDAVersion),
		slog.String("keda_chart_digest", c.KEDAChartDigest),
		slog.Duration("timeout", c.Timeout),
		slog.Bool("verify_signature", c.Signature.Required),
		slog.String("signer_identity", c.Signature.Policy.Subject),
		slog.String("signer_identity_regexp", c.Signature.Policy.SubjectRegexp),
		slog.String("signer_issuer", c.Signature.Policy.Issuer),
		slog.String("trusted_root", c.Signature.TrustedRoot),
	)
}

// ParseWorkerImages reads the worker-images input: one name=image a line, a bare image
// being the first worker's (FirstWorker).
func ParseWorkerImages(items []string) (map[string]string, error) {
	return parseNamed(InputWorkerImages, "image", items)
}

// ParseWorkerPresets reads the worker-presets input: one name=preset a line, a bare preset
// the first worker's.
func ParseWorkerPresets(items []string) (map[string]string, error) {
	return parseNamed(InputWorkerPresets, "preset", items)
}
