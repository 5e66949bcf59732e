package deploy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
)

func TestPrepare(t *testing.T) {
	t.Parallel()
	base := func() Config {
		return Config{Chart: chartDir(t), Namespace: "daedalus", Release: "daedalus", Values: []string{"values-aks-test.yaml"}, Timeout: time.Minute,
			ProxyImage: "r.azurecr.io/daedalus-proxy:7", WorkerImages: map[string]string{"copilot": "r.azurecr.io/copilot-bridge:7"}}
	}
	tests := []struct {
		name    string
		edit    func(*Config)
		input   string // the input an error names; "" for success
		proxy   string
		workers string
		preset  string // the first worker's preset in the effective values
		// kedaNamespace is keda.operatorNamespace in the effective values, when set.
		kedaNamespace string
	}{
		{name: "overlay with both images", edit: func(*Config) {}, proxy: "r.azurecr.io/daedalus-proxy:7", workers: "copilot=r.azurecr.io/copilot-bridge:7"},
		{name: "bare worker image is the first worker's", edit: func(c *Config) {
			c.WorkerImages = map[string]string{FirstWorker: "r.azurecr.io/a@sha256:" + strings.Repeat("0", 64)}
		},
			proxy: "r.azurecr.io/daedalus-proxy:7", workers: "copilot=r.azurecr.io/a@sha256:" + strings.Repeat("0", 64)},
		{name: "chart defaults keep the default worker", edit: func(c *Config) { c.Values = []string{"values.yaml"} },
			proxy: "r.azurecr.io/daedalus-proxy:7", workers: "copilot=r.azurecr.io/copilot-bridge:7"},
		{name: "a second worker from set lines", edit: func(c *Config) {
			c.Sets = []string{"workers[1].name=codex", "workers[1].image.repository=r.azurecr.io/codex"}
			c.WorkerImages["codex"] = "r.azurecr.io/codex:9"
		}, proxy: "r.azurecr.io/daedalus-proxy:7", workers: "copilot=r.azurecr.io/copilot-bridge:7 codex=r.azurecr.io/codex:9"},
		{name: "a preset for the first worker", edit: func(c *Config) { c.WorkerPresets = map[string]string{FirstWorker: "codex"} },
			proxy: "r.azurecr.io/daedalus-proxy:7", workers: "copilot=r.azurecr.io/copilot-bridge:7", preset: "codex"},
		{name: "unknown preset", edit: func(c *Config) { c.WorkerPresets = map[string]string{"copilot": "gemini"} }, input: InputWorkerPresets},
		{name: "a preset that smuggles a set line", edit: func(c *Config) {
			c.WorkerPresets = map[string]string{"copilot": "codex,proxy.image.repository=evil.io/p"}
		}, input: InputWorkerPresets},
		{name: "preset for an unknown worker", edit: func(c *Config) { c.WorkerPresets = map[string]string{"codex": "codex"} }, input: InputWorkerPresets},
		{name: "KEDA add-on: its operator is in kube-system", edit: func(c *Config) { c.KEDA = KEDAAddon },
			proxy: "r.azurecr.io/daedalus-proxy:7", workers: "copilot=r.azurecr.io/copilot-bridge:7", kedaNamespace: "kube-system"},
		{name: "missing proxy image", edit: func(c *Config) { c.ProxyImage = "" }, input: InputProxyImage},
		{name: "missing worker image", edit: func(c *Config) { c.WorkerImages = nil }, input: InputWorkerImages},
		{name: "unknown worker", edit: func(c *Config) { c.WorkerImages = map[string]string{"codex": "r.io/c:1"} }, input: InputWorkerImages},
		{name: "typo in a set line", edit: func(c *Config) { c.Sets = []string{"keda.pollinginterval=5"} }, input: InputValues},
		{name: "missing values file", edit: func(c *Config) { c.Values = []string{"values-nope.yaml"} }, input: InputValues},
		{name: "no chart", edit: func(c *Config) { c.Chart = t.TempDir() }, input: InputChart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := base()
			tt.edit(&c)
			plan, err := Prepare(c)
			if tt.input != "" {
				var ie *actions.InputError
				if !errors.As(err, &ie) || ie.Input != tt.input {
					t.Fatalf("Prepare = %v, want an error on input %q", err, tt.input)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ws []string
			for _, w := range plan.Workers {
				ws = append(ws, w.Name+"="+w.Image)
			}
			if plan.Proxy != tt.proxy || strings.Join(ws, " ") != tt.workers {
				t.Errorf("images: proxy %q workers %q; want %q, %q", plan.Proxy, ws, tt.proxy, tt.workers)
			}
			eff, err := chartutil.CoalesceValues(plan.Chart, plan.Values)
			if err != nil {
				t.Fatal(err)
			}
			workers, _ := eff["workers"].([]any)
			if got, _ := workers[0].(map[string]any)["preset"].(string); tt.preset != "" && got != tt.preset {
				t.Errorf("workers[0].preset = %q, want %q", got, tt.preset)
			}
			if got, _ := lookup(eff, "keda", "operatorNamespace").(string); tt.kedaNamespace != "" && got != tt.kedaNamespace {
				t.Errorf("keda.operatorNamespace = %q, want %q", got, tt.kedaNamespace)
			}
		})
	}
}

func TestPrepareAnnotatesServiceAccount(t *testing.T) {
	t.Parallel()
	c := Config{Chart: chartDir(t), Namespace: "daedalus", Release: "daedalus", Values: []string{"values.yaml"}, WorkloadClientID: testClientID}
	plan, err := Prepare(c)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := Render(plan.Chart, plan.Values, "daedalus", "daedalus")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rel.Manifest, "annotations:\n    azure.workload.identity/client-id: "+testClientID) {
		t.Errorf("the ServiceAccount is not annotated:\n%s", rel.Manifest[:min(len(rel.Manifest), 2000)])
	}
	if !strings.Contains(rel.Manifest, "daedalus.dev/worker: copilot\n        azure.workload.identity/use: \"true\"") {
		t.Errorf("the worker pods are not labelled azure.workload.identity/use=true:\n%s", rel.Manifest)
	}

	// Without a client id, nothing asks the webhook for a token.
	c.WorkloadClientID = ""
	if plan, err = Prepare(c); err != nil {
		t.Fatal(err)
	}
	if rel, err = Render(plan.Chart, plan.Values, "daedalus", "daedalus"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rel.Manifest, "azure.workload.identity/") {
		t.Errorf("workload identity labels or annotations without a client id:\n%s", rel.Manifest)
	}
}
