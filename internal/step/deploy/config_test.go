package deploy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/version"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/aks"
	"github.com/daedalus-dev/daedalus/internal/lib/attest"
)

func TestSplitImage(t *testing.T) {
	t.Parallel()
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		ref, repo, tag string
		ok             bool
	}{
		{"myacr.azurecr.io/daedalus-proxy:1.2.3", "myacr.azurecr.io/daedalus-proxy", "1.2.3", true},
		{"localhost:5000/team/proxy:v1", "localhost:5000/team/proxy", "v1", true},
		{"myacr.azurecr.io/proxy@" + digest, "myacr.azurecr.io/proxy", digest, true},
		{"myacr.azurecr.io/proxy", "", "", false},
		{"proxy:1", "", "", false},
		{"MyAcr.azurecr.io/proxy:1", "", "", false},
		{"myacr.azurecr.io/proxy:", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			t.Parallel()
			repo, tag, ok := SplitImage(tt.ref)
			if repo != tt.repo || tag != tt.tag || ok != tt.ok {
				t.Errorf("SplitImage(%q) = %q, %q, %v; want %q, %q, %v", tt.ref, repo, tag, ok, tt.repo, tt.tag, tt.ok)
			}
		})
	}
}

func TestReadConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"INPUT_KUBECONFIG":    "/tmp/kc",
		"INPUT_SET":           "a.b=c,d\nworkers[0].replicas=2\n",
		"INPUT_WORKER-IMAGES": "r.io/a/copilot:1\nother=r.io/a/other:2",
		"INPUT_GITHUB-TOKEN":  "ghp_secret",
		"INPUT_TIMEOUT":       "90",

		"INPUT_VERIFY-SIGNATURE": "true",
		"INPUT_SIGNER-IDENTITY":  "https://github.com/o/r/.github/workflows/release.yml@refs/heads/main",
		"INPUT_TRUSTED-ROOT":     "/etc/trusted_root.json",
	}
	var out strings.Builder
	a := actions.New(actions.WithGetenv(func(k string) string { return env[k] }), actions.WithWriter(&out))
	cfg, err := ReadConfig(a)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Namespace != "daedalus" || cfg.Release != "daedalus" || cfg.Values[0] != "values-aks-test.yaml" || cfg.KEDAVersion != "" || !cfg.InstallKEDA || cfg.KEDA != KEDAHelm {
		t.Errorf("defaults: %+v", cfg)
	}
	// On AKS (no kubeconfig, a cluster named) the managed add-on is the default.
	delete(env, "INPUT_KUBECONFIG")
	env["INPUT_RESOURCE-GROUP"], env["INPUT_CLUSTER-NAME"] = "rg", "aks"
	if aksCfg, err := ReadConfig(a); err != nil || aksCfg.KEDA != KEDAAddon {
		t.Errorf("keda on AKS = %q (%v), want %s", aksCfg.KEDA, err, KEDAAddon)
	}
	if len(cfg.Sets) != 2 || cfg.Sets[0] != "a.b=c,d" {
		t.Errorf("sets = %q, want one assignment per line", cfg.Sets)
	}
	if cfg.WorkerImages[FirstWorker] != "r.io/a/copilot:1" || cfg.WorkerImages["other"] != "r.io/a/other:2" {
		t.Errorf("worker images = %v", cfg.WorkerImages)
	}
	want := Signature{Required: true, TrustedRoot: "/etc/trusted_root.json", Policy: attest.Policy{
		Subject: "https://github.com/o/r/.github/workflows/release.yml@refs/heads/main", Issuer: attest.GitHubIssuer,
	}}
	if cfg.Signature != want {
		t.Errorf("signature = %+v, want %+v", cfg.Signature, want)
	}
	if cfg.Timeout != 90*time.Second {
		t.Errorf("timeout = %s", cfg.Timeout)
	}
	if !strings.Contains(out.String(), "::add-mask::ghp_secret") {
		t.Errorf("token not masked: %q", out.String())
	}
	if strings.Contains(cfg.LogValue().String(), "ghp_secret") {
		t.Errorf("LogValue prints the token")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good := Config{Target: aks.Target{Kubeconfig: "/kc"}, Namespace: "daedalus", Release: "daedalus", Chart: "c", KEDA: KEDAHelm, KEDAVersion: "2.14.0", KEDAChart: DefaultKEDAChart,
		KEDANamespace: "keda", InstallKEDA: true, Timeout: 5 * time.Minute, ProxyImage: "r.io/p:1", WorkerImages: map[string]string{"": "r.io/a:1"}}
	tests := []struct {
		name  string
		edit  func(*Config)
		input string // "" means valid
	}{
		{name: "valid", edit: func(*Config) {}},
		{name: "bad namespace", edit: func(c *Config) { c.Namespace = "Daedalus" }, input: InputNamespace},
		{name: "bad release", edit: func(c *Config) { c.Release = "my_release" }, input: InputRelease},
		{name: "bad proxy image", edit: func(c *Config) { c.ProxyImage = "proxy" }, input: InputProxyImage},
		{name: "bad worker image", edit: func(c *Config) { c.WorkerImages = map[string]string{"copilot": "x"} }, input: InputWorkerImages},
		{name: "bad client id", edit: func(c *Config) { c.WorkloadClientID = "abc" }, input: InputWorkloadClientID},
		{name: "no cluster", edit: func(c *Config) { c.Target.Kubeconfig = "" }, input: InputClusterName},
		{name: "aks without subscription", edit: func(c *Config) { c.Target = aks.Target{ResourceGroup: "rg", ClusterName: "aks"} }, input: "subscription-id"},
		{name: "short timeout", edit: func(c *Config) { c.Timeout = time.Second }, input: InputTimeout},
		{name: "signature required", edit: func(c *Config) {
			c.Signature = Signature{Required: true, Policy: attest.Policy{Subject: "https://github.com/o/r/.github/workflows/release.yml@refs/heads/main", Issuer: attest.GitHubIssuer}}
		}},
		{name: "signature without identity", edit: func(c *Config) {
			c.Signature = Signature{Required: true, Policy: attest.Policy{Issuer: attest.GitHubIssuer}}
		}, input: InputSignerIdentity},
		{name: "signature with a broken regexp", edit: func(c *Config) {
			c.Signature = Signature{Required: true, Policy: attest.Policy{SubjectRegexp: "^https://(", Issuer: attest.GitHubIssuer}}
		}, input: InputSignerIdentityRegexp},
		{name: "signature with both identity inputs", edit: func(c *Config) {
			c.Signature = Signature{Required: true, Policy: attest.Policy{Subject: "a", SubjectRegexp: "b", Issuer: attest.GitHubIssuer}}
		}, input: InputSignerIdentityRegexp},
		{name: "signature without issuer", edit: func(c *Config) {
			c.Signature = Signature{Required: true, Policy: attest.Policy{Subject: "a"}}
		}, input: InputSignerIssuer},
		{name: "signature without proxy image", edit: func(c *Config) {
			c.ProxyImage = ""
			c.Signature = Signature{Required: true, Policy: attest.Policy{Subject: "a", Issuer: attest.GitHubIssuer}}
		}, input: InputProxyImage},
		{name: "signature trusted root missing", edit: func(c *Config) {
			c.Signature = Signature{Required: true, Policy: attest.Policy{Subject: "a", Issuer: attest.GitHubIssuer}, TrustedRoot: "/nonexistent/trusted_root.json"}
		}, input: InputTrustedRoot},
		{name: "signer identity without verify-signature", edit: func(c *Config) {
			c.Signature = Signature{Policy: attest.Policy{Subject: "a", Issuer: attest.GitHubIssuer}}
		}, input: InputVerifySignature},
		{name: "acr login server instead of name", edit: func(c *Config) { c.ACRName = "myacr.azurecr.io" }, input: InputACRName},
		{name: "KEDA chosen for the cluster", edit: func(c *Config) { c.KEDAVersion = "" }},
		{name: "KEDA add-on", edit: func(c *Config) { c.KEDA = KEDAAddon }},
		{name: "unknown KEDA mode", edit: func(c *Config) { c.KEDA = "operator" }, input: InputKEDA},
		{name: "KEDA older than the table", edit: func(c *Config) { c.KEDAVersion = "2.9.0" }, input: InputKEDAVersion},
		{name: "KEDA version not a version", edit: func(c *Config) { c.KEDAVersion = "latest" }, input: InputKEDAVersion},
		// keda-chart-digest: only for a version the table does not pin, downloaded.
		{name: "unpinned KEDA chart without its digest", edit: func(c *Config) { c.KEDAVersion = "2.21.0" }, input: InputKEDAChartDigest},
		{name: "unpinned KEDA chart with its digest", edit: func(c *Config) { c.KEDAVersion, c.KEDAChartDigest = "2.21.0", strings.Repeat("ab", 32) }},
		{name: "unpinned KEDA chart, KEDA not installed here", edit: func(c *Config) { c.KEDAVersion, c.InstallKEDA = "2.21.0", false }},
		{name: "unpinned KEDA chart, local chart", edit: func(c *Config) { c.KEDAVersion, c.KEDAChart = "2.21.0", "./keda" }},
		{name: "digest not a digest", edit: func(c *Config) { c.KEDAVersion, c.KEDAChartDigest = "2.21.0", "abc" }, input: InputKEDAChartDigest},
		{name: "digest without a version", edit: func(c *Config) { c.KEDAVersion, c.KEDAChartDigest = "", strings.Repeat("ab", 32) }, input: InputKEDAChartDigest},
		{name: "digest for a local chart", edit: func(c *Config) { c.KEDAChart, c.KEDAChartDigest = "./keda", strings.Repeat("ab", 32) }, input: InputKEDAChartDigest},
		{name: "digest of a pinned version, same", edit: func(c *Config) { c.KEDAChartDigest = KEDAChartDigests()["2.14.0"] }},
		{name: "digest of a pinned version, other", edit: func(c *Config) { c.KEDAChartDigest = strings.Repeat("ab", 32) }, input: InputKEDAChartDigest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := good
			tt.edit(&c)
			err := c.Validate()
			if tt.input == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), `input "`+tt.input+`"`) {
				t.Errorf("Validate = %v, want an error on input %q", err, tt.input)
			}
		})
	}
}

// TestChooseKEDA checks the choice against KEDA's published table, minor by minor: the
// newest KEDA that supports the cluster, a pin kept where the table lists it for the
// cluster, and refusals that name the supported range.
func TestChooseKEDA(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		want string
		kube int
		got  string // "" when refused
		msg  string // in the refusal
	}{
		{"", 27, "2.14.0", ""},
		{"", 29, "2.16.0", ""},
		{"", 30, "2.17.0", ""},
		{"", 33, "2.20.0", ""},
		// 2.21's chart digest is not pinned: 2.20 where it also fits, else a refusal.
		{"", 34, "2.20.0", ""},
		{"", 36, "", "Kubernetes 1.36 (2.21.0 first) have no pinned chart digest"},
		{"", 26, "", "no KEDA release"},
		{"", 37, "", "Kubernetes 1.37 (the newest, KEDA 2.21 supports Kubernetes 1.34-1.36)"},
		{"2.14.0", 29, "2.14.0", ""},
		{"2.14.2", 27, "2.14.2", ""},
		{"2.14.0", 30, "", "KEDA 2.14.0 does not support the cluster's Kubernetes 1.30: KEDA 2.14 supports Kubernetes 1.27-1.29"},
		{"2.14.0", 37, "", "KEDA 2.14 supports Kubernetes 1.27-1.29"},
		{"2.18.0", 31, "2.18.0", ""},
		{"2.18.0", 34, "", "KEDA 2.18 supports Kubernetes 1.31-1.33"},
	} {
		got, err := ChooseKEDA(tt.want, tt.kube)
		if got != tt.got || (tt.got == "") != (err != nil) {
			t.Errorf("ChooseKEDA(%q, 1.%d) = %q, %v; want %q", tt.want, tt.kube, got, err, tt.got)
			continue
		}
		if err != nil && !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("ChooseKEDA(%q, 1.%d) error %q lacks %q", tt.want, tt.kube, err, tt.msg)
		}
	}
	var ke *KEDAIncompatibleError
	_, err := ChooseKEDA("2.14.0", 31)
	if !errors.As(err, &ke) || !strings.Contains(ke.Fix(), "2.18.0, 2.17.0, 2.16.0") {
		t.Errorf("the fix for 2.14.0 on 1.31 should list the versions that support it: %v", err)
	}
	// The table is newest first, each minor once, each range N-2 or wider.
	tab := KEDACompatibility()
	for i, k := range tab {
		if k.MaxKube-k.MinKube < 2 || !strings.HasPrefix(k.Chart, fmt.Sprintf("2.%d.", k.Minor)) || (i > 0 && tab[i-1].Minor <= k.Minor) {
			t.Errorf("table entry %d: %+v", i, k)
		}
	}
}

func TestKubeMinor(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		info version.Info
		want int
	}{
		{version.Info{GitVersion: "v1.37.2", Major: "1", Minor: "37"}, 37},
		{version.Info{GitVersion: "v1.31.4-gke.1000", Major: "1", Minor: "31+"}, 31},
		{version.Info{Major: "1", Minor: "30+"}, 30},
		{version.Info{}, -1},
		{version.Info{GitVersion: "v2.0.0"}, -1},
	} {
		got, err := KubeMinor(&tt.info)
		if (tt.want < 0) != (err != nil) || (err == nil && got != tt.want) {
			t.Errorf("KubeMinor(%+v) = %d, %v; want %d", tt.info, got, err, tt.want)
		}
	}
}
