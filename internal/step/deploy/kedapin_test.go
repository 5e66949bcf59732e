package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
)

// chartRepo is a Helm chart repository on loopback laid out as `helm repo index` writes
// one: index.yaml and the keda-<version>.tgz archives it lists. It records every path
// requested.
type chartRepo struct {
	dir string
	srv *httptest.Server

	mu   sync.Mutex
	hits []string
}

func newChartRepo(t *testing.T) *chartRepo {
	t.Helper()
	r := &chartRepo{dir: t.TempDir()}
	files := http.FileServer(http.Dir(r.dir))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.hits = append(r.hits, req.URL.Path)
		r.mu.Unlock()
		files.ServeHTTP(w, req)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// publish packages a KEDA chart of version with the Helm SDK (description makes its bytes
// differ from another of the same version), puts it in the repository in place of any
// earlier one, indexes it, and returns the archive's sha256.
func (r *chartRepo) publish(t *testing.T, version, description string) string {
	t.Helper()
	ch := &chart.Chart{
		Metadata:  &chart.Metadata{APIVersion: chart.APIVersionV2, Name: KEDAChartName, Version: version, AppVersion: version, Description: description},
		Templates: []*chart.File{{Name: "templates/configmap.yaml", Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keda-stand-in\n")}},
	}
	tmp := t.TempDir()
	path, err := chartutil.Save(ch, tmp)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(path)
	if err := os.WriteFile(filepath.Join(r.dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	digest := hex.EncodeToString(sum[:])
	idx := repo.NewIndexFile()
	if err := idx.MustAdd(ch.Metadata, name, r.srv.URL, digest); err != nil {
		t.Fatal(err)
	}
	if err := idx.WriteFile(filepath.Join(r.dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return digest
}

// archiveRequests are the chart archives downloaded so far.
func (r *chartRepo) archiveRequests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, h := range r.hits {
		if strings.HasSuffix(h, ".tgz") {
			out = append(out, h)
		}
	}
	return out
}

// TestFetchChartChecksDigest: a chart downloaded from a repository is loaded only when its
// archive has the expected sha256; other bytes under the same version are refused, naming
// both digests; with no digest to check against, nothing is downloaded.
func TestFetchChartChecksDigest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newChartRepo(t)
	pinned := r.publish(t, "2.21.0", "KEDA")

	ch, err := FetchChart(ctx, r.srv.URL, KEDAChartName, "2.21.0", pinned, t.TempDir())
	if err != nil {
		t.Fatalf("the pinned chart: %v", err)
	}
	if ch.Metadata.Version != "2.21.0" || ch.Metadata.Description != "KEDA" {
		t.Errorf("loaded %s %s (%q), want the published 2.21.0", ch.Name(), ch.Metadata.Version, ch.Metadata.Description)
	}

	// The repository now serves other bytes under the same version.
	changed := r.publish(t, "2.21.0", "KEDA, changed after it was pinned")
	if changed == pinned {
		t.Fatal("the changed chart has the pinned digest: the test proves nothing")
	}
	_, err = FetchChart(ctx, r.srv.URL, KEDAChartName, "2.21.0", pinned, t.TempDir())
	var de *ChartDigestError
	if !errors.As(err, &de) || de.Want != pinned || de.Got != changed {
		t.Fatalf("the changed chart: err = %v, want a *ChartDigestError expecting %s, got %s", err, pinned, changed)
	}
	for _, d := range []string{pinned, changed} {
		if !strings.Contains(err.Error(), "sha256:"+d) {
			t.Errorf("refusal %q does not name sha256:%s", err, d)
		}
	}

	before := len(r.archiveRequests())
	if _, err := FetchChart(ctx, r.srv.URL, KEDAChartName, "2.21.0", "", t.TempDir()); err == nil {
		t.Error("a remote chart with no digest to check was loaded")
	}
	if got := r.archiveRequests(); len(got) != before {
		t.Errorf("a chart with no digest to check was downloaded: %v", got[before:])
	}
}

// apiStandIn answers GET /version as a Kubernetes API server of minor kube does (the
// documented version.Info body) and records every request. It stands in for the real
// kube-apiserver because the one built here reports 1.37, which no KEDA in the table
// supports, so the digest checks would never be reached on it.
func apiStandIn(t *testing.T, kube int) (kubeconfig string, requests func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		seen = append(seen, req.Method+" "+req.URL.Path)
		mu.Unlock()
		if req.Method == http.MethodGet && req.URL.Path == "/version" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"major":"1","minor":"%d","gitVersion":"v1.%d.2","platform":"linux/amd64"}`, kube, kube)
			return
		}
		http.Error(w, "not served by the stand-in", http.StatusForbidden)
	}))
	t.Cleanup(srv.Close)
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	kc := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: %s\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user: {}\ncurrent-context: c\n", srv.URL)
	if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return kubeconfig, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// TestKEDAChartRefused runs the deploy step with keda: helm against a chart repository on
// loopback and shows each refusal: an ::error:: naming the input, the expected and the
// actual digest where there are two, and nothing asked of the cluster beyond its version
// (nothing installed).
func TestKEDAChartRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	other := strings.Repeat("0123456789abcdef", 4) // a digest no published chart has
	tests := []struct {
		name     string
		kube     int
		publish  string // version the repository serves
		in       map[string]string
		errsOn   string   // the ::error:: title
		says     []string // in the log; "<served>" is the served archive's digest
		download bool     // the archive is downloaded (then refused)
		cluster  []string // requests that reach the cluster
	}{
		{name: "pinned version, other bytes", kube: 34, publish: "2.20.0", in: map[string]string{InputKEDAVersion: "2.20.0"},
			errsOn: "Input keda-chart", says: []string{"sha256:" + KEDAChartDigests()["2.20.0"], "sha256:<served>", "refusing to install it"},
			download: true, cluster: []string{"GET /version"}},
		{name: "version chosen for the cluster, other bytes", kube: 34, publish: "2.20.0",
			errsOn: "Input keda-chart", says: []string{"sha256:" + KEDAChartDigests()["2.20.0"], "sha256:<served>"},
			download: true, cluster: []string{"GET /version"}},
		{name: "unpinned version without keda-chart-digest", kube: 34, publish: "2.21.0", in: map[string]string{InputKEDAVersion: "2.21.0"},
			errsOn: "Input keda-chart-digest", says: []string{"KEDA chart 2.21.0 has no pinned digest", "helm pull keda"}},
		{name: "only unpinned versions support the cluster", kube: 36, publish: "2.21.0",
			errsOn: "Input keda-chart-digest", says: []string{"Kubernetes 1.36 (2.21.0 first) have no pinned chart digest", "set keda-version: 2.21.0"},
			cluster: []string{"GET /version"}},
		{name: "unpinned version, keda-chart-digest differs", kube: 34, publish: "2.21.0", in: map[string]string{InputKEDAVersion: "2.21.0", InputKEDAChartDigest: "sha256:" + other},
			errsOn: "Input keda-chart-digest", says: []string{"sha256:" + other, "sha256:<served>"},
			download: true, cluster: []string{"GET /version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kubeconfig, requests := apiStandIn(t, tt.kube)
			r := newChartRepo(t)
			served := r.publish(t, tt.publish, "not KEDA's bytes")
			in := map[string]string{
				InputKubeconfig:   kubeconfig,
				InputChart:        chartDir(t),
				InputProxyImage:   "example.azurecr.io/daedalus-proxy:1.0.0",
				InputWorkerImages: "copilot=example.azurecr.io/copilot-bridge:1.0.0",
				InputKEDA:         KEDAHelm,
				InputKEDAChart:    r.srv.URL,
			}
			for k, v := range tt.in {
				in[k] = v
			}
			run := runStep(ctx, t, in)
			out := run.out.String()
			if run.err == nil {
				t.Fatalf("deploy succeeded, want a refusal\n%s", out)
			}
			if !strings.Contains(out, "::error title="+tt.errsOn+"::") {
				t.Errorf("want an ::error:: titled %q, got:\n%s", tt.errsOn, out)
			}
			for _, s := range tt.says {
				if s = strings.ReplaceAll(s, "<served>", served); !strings.Contains(out, s) {
					t.Errorf("the log does not say %q:\n%s", s, out)
				}
			}
			if got := r.archiveRequests(); (len(got) > 0) != tt.download {
				t.Errorf("archives downloaded: %v, want a download: %v", got, tt.download)
			}
			if got := requests(); !slices.Equal(got, tt.cluster) {
				t.Errorf("requests to the cluster: %q, want only %q", got, tt.cluster)
			}
		})
	}
}
