package deploy

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	helmrelease "helm.sh/helm/v3/pkg/release"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// chartDir is deploy/helm/daedalus in this repository.
func chartDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "deploy", "helm", "daedalus")
}

// renderChart renders the repository's chart for release with the value files and --set
// lines given, as the deploy step would, and returns the chart, the values and the release.
func renderChart(t *testing.T, files, sets []string, release string) (*chart.Chart, map[string]any, *helmrelease.Release) {
	t.Helper()
	ch, err := LoadChart(chartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := Values(chartDir(t), files, sets)
	if err != nil {
		t.Fatal(err)
	}
	rel, err := Render(ch, vals, release, "daedalus")
	if err != nil {
		t.Fatalf("rendering release %s: %v", release, err)
	}
	return ch, vals, rel
}

// overlaySets are the image overrides the deploy step passes with the AKS overlay.
var overlaySets = []string{
	"proxy.image.repository=example.azurecr.io/daedalus-proxy",
	"proxy.image.tag=1.2.3",
	"workers[0].image.repository=example.azurecr.io/copilot-bridge",
	"workers[0].image.tag=1.2.3",
}

// generatedPassword matches the generated NATS password in a render (no cluster to
// look the live Secret up in, so it is random each time).
var generatedPassword = regexp.MustCompile(`(?m)^(  password: )"[A-Za-z0-9+/=]{44}"$`)

func TestGoldenRenders(t *testing.T) {
	t.Parallel()
	ch, err := LoadChart(chartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		files  []string
		sets   []string
		golden string
	}{
		{name: "service mode (chart defaults)", golden: "render-service.yaml"},
		{name: "job mode (AKS overlay)", files: []string{"values-aks-test.yaml"}, sets: append(overlaySets[:len(overlaySets):len(overlaySets)], "workloadIdentity.clientId=11111111-2222-3333-4444-555555555555"), golden: "render-job.yaml"},
		{name: "3-node cluster (production example)", files: []string{"values-production.yaml"}, golden: "render-cluster.yaml"},
		{name: "agent presets (example)", files: []string{"values-agents.yaml"}, golden: "render-agents.yaml"},
		{name: "agent presets with pre-pull", files: []string{"values-agents.yaml"}, sets: []string{"prepull.enabled=true", "prepull.tolerations[0].key=sku", "prepull.tolerations[0].operator=Exists"}, golden: "render-prepull.yaml"},
		{name: "job mode with the push scaler", files: []string{"values-aks-test.yaml"}, sets: append(overlaySets[:len(overlaySets):len(overlaySets)], "workloadIdentity.clientId=11111111-2222-3333-4444-555555555555", "scaler.mode=push"), golden: "render-push.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vals, err := Values(chartDir(t), tt.files, tt.sets)
			if err != nil {
				t.Fatal(err)
			}
			rel, err := Render(ch, vals, "daedalus", "daedalus")
			if err != nil {
				t.Fatal(err)
			}
			got := Manifests(rel) + "---\n# NOTES.txt\n" + rel.Info.Notes + "\n"
			got = generatedPassword.ReplaceAllString(got, `${1}"GENERATED"`)
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run `go test ./internal/step/deploy -run TestGoldenRenders -update`)", err)
			}
			if got != string(want) {
				t.Errorf("render differs from %s (rerun with -update and review the diff):\n%s", path, firstDiff(string(want), got))
			}
		})
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n- " + wl + "\n+ " + gl
		}
	}
	return ""
}

func TestHelmLint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files []string
		sets  []string
	}{
		{name: "defaults"},
		{name: "AKS overlay", files: []string{"values-aks-test.yaml"}, sets: overlaySets},
		{name: "production example", files: []string{"values-production.yaml"}},
		{name: "TLS and an existing auth secret", sets: []string{"nats.tls.enabled=true", "nats.tls.secretName=nats-tls", "nats.auth.existingSecret=my-nats"}},
		{name: "external NATS", sets: []string{"nats.enabled=false", "nats.externalUrl=tls://nats.example:4222", "nats.auth.existingSecret=my-nats"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vals, err := Values(chartDir(t), tt.files, tt.sets)
			if err != nil {
				t.Fatal(err)
			}
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = "daedalus"
			res := lint.Run([]string{chartDir(t)}, vals)
			if res.TotalChartsLinted != 1 {
				t.Fatalf("linted %d charts, want 1: %v", res.TotalChartsLinted, res.Errors)
			}
			for _, m := range res.Messages {
				t.Logf("lint: %s", m)
			}
			if len(res.Errors) > 0 {
				t.Errorf("helm lint --strict: %v", res.Errors)
			}
		})
	}
}

// TestValuesRejected: values a user can get wrong fail at render (install) time, with
// a message that names the value.
// worker0 sets one worker (a --set on workers[0] replaces the whole list) with extra keys.
func worker0(sets ...string) []string {
	return append([]string{"workers[0].name=w", "workers[0].image.repository=r"}, sets...)
}

func TestValuesRejected(t *testing.T) {
	t.Parallel()
	ch, err := LoadChart(chartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files []string
		sets  []string
		want  string
	}{
		{name: "unknown top-level key", sets: []string{"kedaa.enabled=true"}, want: "kedaa"},
		{name: "misspelt nested key", sets: []string{"nats.replica=3"}, want: "replica"},
		{name: "misspelt worker key", sets: []string{"workers[0].resorces.limits.cpu=1"}, want: "resorces"},
		{name: "bad worker name", sets: []string{"workers[0].name=Copilot.X"}, want: "name"},
		{name: "bad quantity", sets: []string{"workers[0].resources.limits.memory=lots"}, want: "memory"},
		{name: "bad duration", sets: []string{"jetstream.ackWait=soon"}, want: "ackWait"},
		{name: "two NATS nodes", sets: []string{"nats.replicas=2"}, want: "replicas"},
		{name: "grace below the drain", sets: []string{"workerDefaults.terminationGracePeriodSeconds=5"}, want: "terminationGracePeriodSeconds"},
		{name: "placeholder images", files: []string{"values-aks-test.yaml"}, want: "image.repository is the placeholder"},
		{name: "placeholder proxy tag", files: []string{"values-aks-test.yaml"}, sets: append([]string{"proxy.image.repository=r/p"}, overlaySets[2:]...), want: "proxy.image.tag is the placeholder"},
		{name: "placeholder worker tag", files: []string{"values-aks-test.yaml"}, sets: overlaySets[:3], want: "workers[0].image.tag is the placeholder"},
		{name: "duplicate workers", sets: []string{"workers[0].name=copilot", "workers[0].image.repository=x", "workers[1].name=copilot", "workers[1].image.repository=y"}, want: "names must be unique"},
		{name: "external NATS without URL", sets: []string{"nats.enabled=false"}, want: "nats.externalUrl is required"},
		{name: "unknown agent preset", sets: worker0("workers[0].preset=gemini"), want: `preset "gemini" is not one of agentPresets (claude-code, codex, copilot-bridge)`},
		{name: "bad transport", sets: worker0("workers[0].transport=grpc"), want: "transport"},
		{name: "stdio agent without a command", sets: worker0("workers[0].transport=stdio"), want: "transport stdio needs the agent command"},
		{name: "API key secret without its variable", sets: worker0("workers[0].apiKeySecret.name=s", "workers[0].apiKeySecret.key=k"), want: "apiKeySecret needs apiKeyEnv"},
		{name: "API key secret without its key", sets: worker0("workers[0].apiKeyEnv=K", "workers[0].apiKeySecret.name=s"), want: "apiKeySecret"},
		{name: "metadata service in the allow-list", sets: []string{"workerNetworkPolicy.egress[0].cidr=169.254.169.254/32"}, want: "instance metadata service"},
		{name: "allow-list entry without a CIDR", sets: []string{"workerNetworkPolicy.egress[0].cidr=example.com"}, want: "cidr"},
		{name: "misspelt pre-pull key", sets: []string{"prepull.enable=true"}, want: "enable"},
		{name: "bad pre-pull quantity", sets: []string{"prepull.enabled=true", "prepull.resources.limits.memory=lots"}, want: "memory"},
		{name: "pre-pull of a placeholder image", files: []string{"values-aks-test.yaml"}, sets: []string{"prepull.enabled=true"}, want: "image.repository is the placeholder"},
		{name: "unknown scaler mode", sets: []string{"scaler.mode=webhook"}, want: "mode"},
		{name: "unknown scaler trigger", sets: []string{"scaler.trigger=grpc"}, want: "trigger"},
		{name: "scaler egress without a CIDR", sets: []string{"scaler.networkPolicy.egress[0].ports[0]=4222"}, want: "cidr"},
		{name: "route TLS without its Secret", files: []string{"values-production.yaml"}, sets: []string{"nats.cluster.tls.enabled=true"}, want: "nats.cluster.tls.secretName is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vals, err := Values(chartDir(t), tt.files, tt.sets)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Render(ch, vals, "daedalus", "daedalus")
			if err == nil {
				t.Fatalf("render succeeded, want an error mentioning %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestTLSRender: with nats.tls on, NATS serves TLS from the Secret and every client
// (workers and the bootstrap hook) dials tls:// with the CA mounted.
func TestTLSRender(t *testing.T) {
	t.Parallel()
	ch, err := LoadChart(chartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := Values(chartDir(t), []string{"values-aks-test.yaml"}, append([]string{"nats.tls.enabled=true", "nats.tls.secretName=nats-tls"}, overlaySets...))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := Render(ch, vals, "daedalus", "daedalus")
	if err != nil {
		t.Fatal(err)
	}
	all := Manifests(rel)
	for want, n := range map[string]int{
		`value: "tls://daedalus-nats.daedalus.svc:4222"`: 2, // worker proxy, bootstrap hook
		"- name: NATS_CA_FILE":                           2,
		"secretName: nats-tls":                           3, // NATS, worker, hook
		"tls {":                                          1,
	} {
		if got := strings.Count(all, want); got != n {
			t.Errorf("%q appears %d times, want %d", want, got, n)
		}
	}
}

// TestExternalNATSMonitoring: with nats.enabled=false the ScaledJob's KEDA trigger polls
// the external server's monitoring endpoint, never the in-cluster service the chart did
// not install.
func TestExternalNATSMonitoring(t *testing.T) {
	t.Parallel()
	ch, err := LoadChart(chartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	external := []string{"nats.enabled=false", "nats.auth.existingSecret=my-nats"}
	for _, tc := range []struct {
		name string
		sets []string
		want string
	}{
		{name: "in cluster", want: "daedalus-nats.daedalus.svc.cluster.local:8222"},
		{name: "from the URL", sets: append([]string{"nats.externalUrl=tls://nats.example.com:4222"}, external...), want: "nats.example.com:8222"},
		{name: "first of several URLs", sets: append([]string{`nats.externalUrl=nats://a.example:4222\,nats://b.example:4222`}, external...), want: "a.example:8222"},
		{name: "set", sets: append([]string{"nats.externalUrl=nats://nats.example:4222", "nats.externalMonitoringEndpoint=nats-mon.example:18222"}, external...), want: "nats-mon.example:18222"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			vals, err := Values(chartDir(t), []string{"values-aks-test.yaml"}, append(tc.sets, overlaySets...))
			if err != nil {
				t.Fatal(err)
			}
			rel, err := Render(ch, vals, "daedalus", "daedalus")
			if err != nil {
				t.Fatal(err)
			}
			want := `natsServerMonitoringEndpoint: "` + tc.want + `"`
			if got := strings.Count(Manifests(rel), "natsServerMonitoringEndpoint:"); got == 0 || got != strings.Count(Manifests(rel), want) {
				t.Errorf("%d monitoring endpoints, %d of them %s", got, strings.Count(Manifests(rel), want), want)
			}
		})
	}
	vals, err := Values(chartDir(t), []string{"values-aks-test.yaml"}, append([]string{"nats.externalUrl=nats://nats.example:4222", "nats.externalMonitoringEndpoint=http://nats.example"}, append(external, overlaySets...)...))
	if err == nil {
		_, err = Render(ch, vals, "daedalus", "daedalus")
	}
	if err == nil || !strings.Contains(err.Error(), "externalMonitoringEndpoint") {
		t.Errorf("a URL as the monitoring endpoint: err = %v, want it refused naming externalMonitoringEndpoint", err)
	}
}

// The allowlist policy reaches the proxy with its list; the proxy refuses what it does not name.
func TestPermissionAllowlistRender(t *testing.T) {
	t.Parallel()
	ch, err := LoadChart(chartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	vals, err := Values(chartDir(t), nil, []string{"proxy.permissionPolicy=allowlist", "proxy.permissionAllowlist={read,edit,title:Run go test*}"})
	if err != nil {
		t.Fatal(err)
	}
	rel, err := Render(ch, vals, "daedalus", "daedalus")
	if err != nil {
		t.Fatal(err)
	}
	m := strings.Join(strings.Fields(Manifests(rel)), " ")
	for _, want := range []string{`name: DAEDALUS_PERMISSION_POLICY value: "allowlist"`,
		`name: DAEDALUS_PERMISSION_ALLOWLIST value: "read,edit,title:Run go test*"`} {
		if !strings.Contains(m, want) {
			t.Errorf("render lacks %q", want)
		}
	}
}
