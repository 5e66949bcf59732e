package deploy

import (
	"strings"
	"testing"
	"time"

	"github.com/daedalus-dev/daedalus/internal/actions"
	"github.com/daedalus-dev/daedalus/internal/aks"
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
	}
	var out strings.Builder
	a := actions.New(actions.WithGetenv(func(k string) string { return env[k] }), actions.WithWriter(&out))
	cfg, err := ReadConfig(a)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Namespace != "daedalus" || cfg.Release != "daedalus" || cfg.Values[0] != "values-aks-test.yaml" || cfg.KEDAVersion != "2.14.0" || !cfg.InstallKEDA {
		t.Errorf("defaults: %+v", cfg)
	}
	if len(cfg.Sets) != 2 || cfg.Sets[0] != "a.b=c,d" {
		t.Errorf("sets = %q, want one assignment per line", cfg.Sets)
	}
	if cfg.WorkerImages[FirstWorker] != "r.io/a/copilot:1" || cfg.WorkerImages["other"] != "r.io/a/other:2" {
		t.Errorf("worker images = %v", cfg.WorkerImages)
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
	good := Config{Target: aks.Target{Kubeconfig: "/kc"}, Namespace: "daedalus", Release: "daedalus", Chart: "c", KEDAVersion: "2.14.0", KEDAChart: DefaultKEDAChart,
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
		{name: "acr login server instead of name", edit: func(c *Config) { c.ACRName = "myacr.azurecr.io" }, input: InputACRName},
		{name: "unpinned KEDA", edit: func(c *Config) { c.KEDAVersion = "" }, input: InputKEDAVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := good
			tt.edit(&c)
			err := c.Validate(false)
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
