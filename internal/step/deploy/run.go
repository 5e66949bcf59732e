package deploy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/root"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/strvals"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
)

// Reporter is what Run tells the runner; *actions.Action satisfies it.
type Reporter interface {
	Logger
	Group(title string, fn func() error) error
	SetOutput(name, value string) error
	Summary(markdown string) error
}

// Deps are the step's connections to the outside: how it reaches the cluster and Azure,
// and where it reports. Main wires the real ones for every nil field.
type Deps struct {
	// Report receives groups, logs, outputs and the summary; Main sets the step's Action.
	Report Reporter
	// REST returns the cluster's client configuration. Run calls it after the chart has
	// rendered, so bad input fails before any request.
	REST func(ctx context.Context) (*rest.Config, error)
	// AcrPull answers the AcrPull sanity check; nil skips it (not on AKS).
	AcrPull func(ctx context.Context, acrName string) (bool, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// WorkDir holds Helm's caches for remote charts; "" means a temporary directory.
	WorkDir string
	// Registry returns how to read the proxy image's registry (credentials, transport)
	// for the signature check; nil means anonymous.
	Registry func(ctx context.Context, reg name.Registry) ([]remote.Option, error)
	// TrustedRoot replaces the trust root of the signature check (tests); nil means
	// cfg.Signature.TrustedRoot or the public-good root.
	TrustedRoot func() (root.TrustedMaterial, error)
}

// Result is what a successful Run deployed.
type Result struct {
	Release      string
	Namespace    string
	Revision     int
	Status       string
	ChartVersion string
	ProxyImage   string
	ProxySigner  string // verified signer identity of the proxy image, "" when not checked
	Workers      []WorkerImage
	KEDA         bool        // ScaledJob path
	KEDAMode     string      // KEDAAddon or KEDAHelm, "" without KEDA
	KEDAVersion  string      // installed KEDA chart version, "" when not installed here
	ScalerTLS    []TLSChange // what happened to the push scaler's TLS Secrets, nil in poll mode
}

// WorkerImage is one worker and its agent image.
type WorkerImage struct{ Name, Image string }

// Plan is the rendered, validated deployment: what Run will apply.
type Plan struct {
	Chart   *chart.Chart
	Values  map[string]any // user values: files, --set, image overrides, annotations
	Workers []WorkerImage
	Proxy   string
	KEDA    bool
	// ServiceAccount is the release's ServiceAccount and whether the chart creates it.
	ServiceAccount       string
	CreateServiceAccount bool
	// ScalerTLS is what the scaler's mutual TLS needs (push mode), nil without a scaler.
	ScalerTLS *ScalerTLS
}

// Prepare loads the chart, merges the values with the image overrides and renders it
// client-side. Every problem it finds is an input problem (*actions.InputError); nothing
// has touched a cluster yet.
func Prepare(cfg Config) (*Plan, error) {
	ch, err := LoadChart(cfg.Chart)
	if err != nil {
		return nil, actions.Invalid(InputChart, err.Error(), "point it at the chart directory, e.g. deploy/helm/daedalus")
	}
	for _, f := range cfg.Values {
		if _, err := os.Stat(ResolveValuesFile(cfg.Chart, f)); err != nil {
			return nil, actions.Invalid(InputValues, fmt.Sprintf("values file %s not found (also looked in %s)", f, cfg.Chart), "list existing files, e.g. values-aks-test.yaml")
		}
	}
	vals, err := Values(cfg.Chart, cfg.Values, nil)
	if err != nil {
		return nil, actions.Invalid(InputValues, err.Error(), "fix the values file")
	}
	eff, err := chartutil.CoalesceValues(ch, vals)
	if err != nil {
		return nil, actions.Invalid(InputValues, err.Error(), "fix the values files")
	}
	if err := applySets(vals, eff, cfg.Sets); err != nil {
		return nil, actions.Invalid(InputSet, err.Error(), "use key=value lines, e.g. keda.enabled=true")
	}
	if eff, err = chartutil.CoalesceValues(ch, vals); err != nil {
		return nil, actions.Invalid(InputValues, err.Error(), "fix the values files")
	}
	names, err := WorkerNames(eff)
	if err != nil {
		return nil, actions.Invalid(InputValues, err.Error(), "define at least one entry under workers:")
	}

	var sets []string
	var errs []error
	if cfg.ProxyImage != "" {
		repo, tag, _ := SplitImage(cfg.ProxyImage)
		sets = append(sets, "proxy.image.repository="+repo, "proxy.image.tag="+tag)
	}
	for name, ref := range cfg.WorkerImages {
		i := indexOf(names, name)
		if name == FirstWorker {
			i = 0
		}
		if i < 0 {
			errs = append(errs, actions.Invalid(InputWorkerImages, fmt.Sprintf("names worker %q, which the values do not define (workers: %s)", name, strings.Join(names, ", ")), "use one of the workers' names"))
			continue
		}
		repo, tag, _ := SplitImage(ref)
		sets = append(sets, fmt.Sprintf("workers[%d].image.repository=%s", i, repo), fmt.Sprintf("workers[%d].image.tag=%s", i, tag))
	}
	presets, _ := lookup(eff, "agentPresets").(map[string]any)
	for name, preset := range cfg.WorkerPresets {
		i := indexOf(names, name)
		if name == FirstWorker {
			i = 0
		}
		switch {
		case i < 0:
			errs = append(errs, actions.Invalid(InputWorkerPresets, fmt.Sprintf("names worker %q, which the values do not define (workers: %s)", name, strings.Join(names, ", ")), "use one of the workers' names"))
		case presets[preset] == nil:
			errs = append(errs, actions.Invalid(InputWorkerPresets, fmt.Sprintf("worker %q: preset %q is not one of the chart's agentPresets (%s)", name, preset, strings.Join(slices.Sorted(maps.Keys(presets)), ", ")), "use name=preset lines, e.g. codex=codex"))
		default:
			sets = append(sets, fmt.Sprintf("workers[%d].preset=%s", i, preset))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.KEDA == KEDAAddon {
		// AKS runs the add-on's operator in kube-system: the NetworkPolicy that admits only
		// KEDA's operator to NATS monitoring must look for it there.
		sets = append(sets, "keda.operatorNamespace="+AddonKEDANamespace)
	}
	// The step's image and preset inputs win over set lines; order is fixed for a stable result.
	sort.Strings(sets)
	if err := applySets(vals, eff, sets); err != nil {
		return nil, err
	}
	plan := &Plan{Chart: ch, Values: vals}
	eff, err = chartutil.CoalesceValues(ch, vals)
	if err != nil {
		return nil, actions.Invalid(InputValues, err.Error(), "fix the values files")
	}
	plan.KEDA, _ = lookup(eff, "keda", "enabled").(bool)
	plan.CreateServiceAccount, _ = lookup(eff, "serviceAccount", "create").(bool)
	plan.ServiceAccount, _ = lookup(eff, "serviceAccount", "name").(string)
	if cfg.WorkloadClientID != "" {
		// The chart annotates the ServiceAccount it creates and labels the worker pods; a
		// ServiceAccount it does not create is annotated by Run.
		plan.Values = mergeMaps(plan.Values, map[string]any{"workloadIdentity": map[string]any{"clientId": cfg.WorkloadClientID}})
	}

	rel, err := Render(ch, plan.Values, cfg.Release, cfg.Namespace)
	if err != nil {
		return nil, inputErrorFor(err)
	}
	plan.Proxy, plan.Workers = imagesOf(rel)
	if plan.ScalerTLS, err = scalerTLSOf(rel.Manifest, cfg.Namespace); err != nil {
		return nil, err
	}
	return plan, nil
}

// applySets applies --set assignments to vals. A list the user values do not hold yet
// (the chart's default workers) is first copied from the effective values eff, so that
// workers[0].image.tag=x changes one field of the default worker instead of replacing
// the whole list with a worker that has only an image tag.
func applySets(vals, eff map[string]any, sets []string) error {
	for _, s := range sets {
		if key, _, _ := strings.Cut(s, "["); !strings.ContainsAny(key, ".=") {
			if _, ok := vals[key]; !ok {
				if l, ok := eff[key].([]any); ok {
					vals[key] = deepCopyList(l)
				}
			}
		}
		if err := strvals.ParseInto(s, vals); err != nil {
			return fmt.Errorf("parsing %q: %w", s, err)
		}
	}
	return nil
}

func deepCopyList(l []any) []any {
	out := make([]any, len(l))
	for i, item := range l {
		if m, ok := item.(map[string]any); ok {
			out[i] = mergeMaps(map[string]any{}, m)
			continue
		}
		out[i] = item
	}
	return out
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// inputErrorFor maps a render failure to the input that can fix it.
func inputErrorFor(err error) error {
	msg := err.Error()
	var ve *ValuesError
	if errors.As(err, &ve) {
		msg = cleanHelmError(ve.Err)
	}
	switch {
	case strings.Contains(msg, "proxy.image") && strings.Contains(msg, "placeholder"):
		return actions.Invalid(InputProxyImage, "is required: "+msg, "set proxy-image to the published proxy image, e.g. myacr.azurecr.io/daedalus-proxy:1.2.3")
	case strings.Contains(msg, "workers[") && strings.Contains(msg, "placeholder"):
		return actions.Invalid(InputWorkerImages, "is required: "+msg, "set worker-images to name=image lines, e.g. copilot=myacr.azurecr.io/copilot-bridge:1.2.3")
	case strings.Contains(msg, "schema"):
		return actions.Invalid(InputValues, msg, "fix or remove the key in your values files or set lines (deploy/helm/daedalus/values.schema.json lists every key)")
	}
	return actions.Invalid(InputValues, msg, "fix the values files or set lines")
}

// workload is a rendered object that runs pods: a ScaledJob holds its pod template in
// jobTargetRef, a Deployment, StatefulSet or DaemonSet in template.
type workload struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Template     corev1.PodTemplateSpec `json:"template"`
		JobTargetRef struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"jobTargetRef"`
	} `json:"spec"`
}

// pod is the workload's pod template.
func (w workload) pod() corev1.PodTemplateSpec {
	if w.Kind == "ScaledJob" {
		return w.Spec.JobTargetRef.Template
	}
	return w.Spec.Template
}

// imagesOf reads the rendered proxy image and each worker's agent image from the
// release's ScaledJobs or Deployments.
func imagesOf(rel *release.Release) (proxy string, workers []WorkerImage) {
	for _, doc := range strings.Split(rel.Manifest, "\n---") {
		var obj workload
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil || (obj.Kind != "ScaledJob" && obj.Kind != "Deployment") {
			continue
		}
		pod := obj.pod().Spec
		name := obj.Metadata.Labels["daedalus.dev/worker"]
		if name == "" {
			continue
		}
		w := WorkerImage{Name: name}
		for _, c := range append(pod.InitContainers, pod.Containers...) {
			switch c.Name {
			case "agent":
				w.Image = c.Image
			case "proxy":
				proxy = c.Image
			}
		}
		workers = append(workers, w)
	}
	return proxy, workers
}

// Run deploys Daedalus: see the package doc for the order of things. It reports
// progress through r and returns what it deployed.
func Run(ctx context.Context, cfg Config, deps Deps) (*Result, error) {
	r := deps.Report
	var verified *VerifiedImage
	if cfg.Signature.Required {
		if err := r.Group("Verify the proxy image's signature", func() error {
			var err error
			if verified, err = verifySignature(ctx, cfg, deps); err != nil {
				return err
			}
			r.Infof("%s is signed by %s (issuer %s); deploying it by digest", verified.Image, verified.Identity.Subject, verified.Identity.Issuer)
			return nil
		}); err != nil {
			return nil, err
		}
		// What was verified is what rolls out, even if the tag moves meanwhile.
		cfg.ProxyImage = verified.Image
	}
	var plan *Plan
	if err := r.Group("Render the chart", func() error {
		var err error
		plan, err = Prepare(cfg)
		if err != nil {
			return err
		}
		r.Infof("chart %s %s renders: %d worker(s), %s mode", plan.Chart.Name(), plan.Chart.Metadata.Version, len(plan.Workers), mode(plan.KEDA))
		return nil
	}); err != nil {
		return nil, err
	}

	var (
		cluster *Cluster
		server  *version.Info
	)
	if err := r.Group("Connect to the cluster", func() error {
		rc, err := deps.REST(ctx)
		if err != nil {
			return err
		}
		if cluster, err = NewCluster(rc); err != nil {
			return err
		}
		v, err := cluster.Client.Discovery().ServerVersion()
		if err != nil {
			return fmt.Errorf("reaching the Kubernetes API at %s: %w", rc.Host, err)
		}
		server = v
		r.Infof("Kubernetes %s at %s", v.GitVersion, rc.Host)
		return nil
	}); err != nil {
		return nil, err
	}

	if deps.AcrPull != nil && cfg.ACRName != "" {
		_ = r.Group("AcrPull sanity check", func() error {
			ok, err := deps.AcrPull(ctx, cfg.ACRName)
			switch {
			case err != nil:
				r.Warningf("could not check the kubelet identity's AcrPull on %s: %v", cfg.ACRName, err)
			case !ok:
				r.Warningf("the AKS kubelet identity has no AcrPull on registry %s: pods will fail with ImagePullBackOff. Re-run Terraform (the acr module reconciles it) or `az aks update --attach-acr %s`", cfg.ACRName, cfg.ACRName)
			default:
				r.Infof("the kubelet identity holds AcrPull on %s: no image pull secret needed", cfg.ACRName)
			}
			return nil
		})
	}

	rs := &Releaser{Cluster: cluster, Log: r, Now: deps.Now}
	res := &Result{Release: cfg.Release, Namespace: cfg.Namespace, ProxyImage: plan.Proxy, Workers: plan.Workers, KEDA: plan.KEDA}
	if verified != nil {
		res.ProxySigner = verified.Identity.Subject
	}

	if plan.KEDA {
		if err := r.Group("KEDA", func() error {
			return ensureKEDA(ctx, cfg, r, deps, cluster, rs, server, res)
		}); err != nil {
			return nil, err
		}
	}

	if err := r.Group("Namespace and secrets", func() error {
		created, err := cluster.UpsertNamespace(ctx, cfg.Namespace, map[string]string{WorkloadIdentityLabel: "true"})
		if err != nil {
			return err
		}
		r.Infof("namespace %s %s, labelled %s=true", cfg.Namespace, map[bool]string{true: "created", false: "exists"}[created], WorkloadIdentityLabel)
		if cfg.GitHubToken != "" {
			if err := cluster.UpsertSecret(ctx, cfg.Namespace, cfg.TokenSecret, map[string][]byte{TokenSecretKey: []byte(cfg.GitHubToken)}); err != nil {
				return err
			}
			r.Infof("secret %s (key %s) upserted", cfg.TokenSecret, TokenSecretKey)
		}
		if cfg.WorkloadClientID != "" && !plan.CreateServiceAccount {
			if err := cluster.AnnotateServiceAccount(ctx, cfg.Namespace, plan.ServiceAccount, map[string]string{WorkloadIdentityClientID: cfg.WorkloadClientID}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}

	if plan.ScalerTLS != nil {
		if err := r.Group("Scaler certificates", func() error {
			now := time.Now
			if deps.Now != nil {
				now = deps.Now
			}
			changes, err := cluster.EnsureScalerTLS(ctx, *plan.ScalerTLS, now())
			res.ScalerTLS = changes
			for _, c := range changes {
				r.Infof("%s", c)
			}
			return err
		}); err != nil {
			return nil, err
		}
	}

	if err := r.Group("Release "+cfg.Release, func() error {
		rel, err := rs.Apply(ctx, ReleaseSpec{Name: cfg.Release, Namespace: cfg.Namespace, Chart: plan.Chart, Values: plan.Values, Timeout: cfg.Timeout})
		if err != nil {
			return err
		}
		res.Revision, res.Status, res.ChartVersion = rel.Version, rel.Info.Status.String(), rel.Chart.Metadata.Version
		r.Infof("release %s revision %d: %s", rel.Name, rel.Version, rel.Info.Status)
		if plan.KEDA {
			n, err := cluster.CountScaledJobs(ctx, cfg.Namespace, cfg.Release)
			if err != nil {
				return err
			}
			if n != len(plan.Workers) {
				return fmt.Errorf("release %s has %d ScaledJob(s), want %d (one per worker)", cfg.Release, n, len(plan.Workers))
			}
			r.Infof("%d ScaledJob(s) registered", n)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return res, nil
}

// ensureKEDA makes sure KEDA's API is served before the chart's ScaledJobs need it. With
// the AKS add-on it only checks; with Helm it installs the KEDA chart whose version KEDA's
// compatibility table gives for the cluster's Kubernetes minor, and refuses a pinned
// version the table does not list for it, a version with no digest to check its chart
// against, and a downloaded chart whose archive has another sha256 than that digest, all
// before anything changes on the cluster.
func ensureKEDA(ctx context.Context, cfg Config, r Reporter, deps Deps, cluster *Cluster, rs *Releaser, server *version.Info, res *Result) error {
	res.KEDAMode = cfg.KEDA
	if cfg.KEDA == KEDAAddon || !cfg.InstallKEDA {
		wait := cfg.Timeout
		if cfg.KEDA == KEDAAddon {
			// The add-on's CRDs are there or not; waiting the release timeout helps nobody.
			wait = min(wait, 30*time.Second)
			r.Infof("keda: %s: KEDA is AKS's managed add-on, which AKS keeps matched to the cluster's Kubernetes version; this step does not install it", KEDAAddon)
		}
		if err := cluster.WaitCRDsEstablished(ctx, KEDACRDs, wait); err != nil {
			if cfg.KEDA == KEDAAddon {
				return fmt.Errorf("KEDA's CRDs: %w: enable the add-on (Terraform: workload_autoscaler_profile { keda_enabled = true }; or az aks update --enable-keda), or set keda: helm to install KEDA's chart", err)
			}
			return fmt.Errorf("KEDA's CRDs: %w (install KEDA first, or set install-keda: true)", err)
		}
		if err := cluster.ServesScaledJobs(); err != nil {
			return err
		}
		r.Infof("KEDA's CRDs are Established and the API serves %s: %s", ScaledJobGVR.GroupResource(), strings.Join(KEDACRDs, ", "))
		return nil
	}

	kube, err := KubeMinor(server)
	if err != nil {
		return fmt.Errorf("choosing the KEDA version: %w", err)
	}
	work := deps.WorkDir
	if work == "" {
		dir, err := os.MkdirTemp("", "deploy-helm-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	var ch *chart.Chart
	if isLocalChart(cfg.KEDAChart) {
		// A local chart is a version already: check the one it is.
		if ch, err = FetchChart(ctx, cfg.KEDAChart, KEDAChartName, cfg.KEDAVersion, "", work); err != nil {
			return actions.Invalid(InputKEDAChart, err.Error(), "use a chart repository URL, an oci:// reference or a local chart path, and a version it holds")
		}
		if _, err := ChooseKEDA(ch.Metadata.Version, kube); err != nil {
			return kedaInputError(err, InputKEDAChart)
		}
	} else {
		v, err := ChooseKEDA(cfg.KEDAVersion, kube)
		if err != nil {
			return kedaInputError(err, InputKEDAVersion)
		}
		// Which bytes may run is settled before anything is downloaded.
		digest, ok := KEDAChartDigest(v, cfg.KEDAChartDigest)
		if !ok {
			return kedaInputError(&KEDAUnpinnedError{Version: v}, InputKEDAChartDigest)
		}
		if ch, err = FetchChart(ctx, cfg.KEDAChart, KEDAChartName, v, digest, work); err != nil {
			var de *ChartDigestError
			if errors.As(err, &de) {
				input, fix := InputKEDAChart, "the repository serves other bytes under that version than the ones pinned: check "+cfg.KEDAChart+" is KEDA's chart repository, or pin another keda-version"
				if _, pinned := KEDAChartDigests()[v]; !pinned {
					input, fix = InputKEDAChartDigest, "read the digest of keda-"+v+".tgz from KEDA's chart repository again (helm pull, then sha256sum) and set keda-chart-digest to it"
				}
				return actions.Invalid(input, err.Error(), fix)
			}
			return actions.Invalid(InputKEDAChart, err.Error(), "use a chart repository URL, an oci:// reference or a local chart path, and a version it holds")
		}
		from := "pinned for that version"
		if _, pinned := KEDAChartDigests()[v]; !pinned {
			from = "given in " + InputKEDAChartDigest
		}
		r.Infof("KEDA chart %s: sha256:%s, as %s", v, digest, from)
	}
	k, _ := lookupKEDA(ch.Metadata.Version)
	r.Infof("Kubernetes 1.%d: %s (KEDA's compatibility table)", kube, k)
	rel, err := rs.Apply(ctx, ReleaseSpec{Name: "keda", Namespace: cfg.KEDANamespace, Chart: ch, Values: map[string]any{},
		Timeout: cfg.Timeout, CreateNamespace: true})
	if err != nil {
		return fmt.Errorf("installing KEDA: %w", err)
	}
	res.KEDAVersion = rel.Chart.Metadata.Version
	r.Infof("KEDA %s: release keda revision %d in namespace %s", res.KEDAVersion, rel.Version, cfg.KEDANamespace)
	if err := cluster.WaitCRDsEstablished(ctx, KEDACRDs, cfg.Timeout); err != nil {
		return fmt.Errorf("KEDA's CRDs: %w", err)
	}
	r.Infof("KEDA's CRDs are Established: %s", strings.Join(KEDACRDs, ", "))
	return nil
}

// kedaInputError turns a refusal of the KEDA version into the input error that names
// the supported range and the fix: on input, the one that chose the version, or on keda
// when no version fits the cluster.
func kedaInputError(err error, input string) error {
	var ue *KEDAUnpinnedError
	if errors.As(err, &ue) {
		return actions.Invalid(InputKEDAChartDigest, ue.Error(), ue.Fix())
	}
	var ke *KEDAIncompatibleError
	if !errors.As(err, &ke) {
		return err
	}
	if ke.Version == "" {
		input = InputKEDA
	}
	return actions.Invalid(input, err.Error(), ke.Fix())
}

func mode(keda bool) string {
	if keda {
		return "KEDA ScaledJob"
	}
	return "Deployment"
}

// Summary is the step summary: one Markdown table of what was deployed.
func (res *Result) Summary() string {
	var workers, images []string
	for _, w := range res.Workers {
		workers = append(workers, w.Name)
		images = append(images, w.Name+": `"+w.Image+"`")
	}
	keda := "not installed by this step"
	switch {
	case res.KEDAVersion != "":
		keda = res.KEDAVersion
	case res.KEDAMode == KEDAAddon:
		keda = "AKS add-on (checked, not installed by this step)"
	}
	if !res.KEDA {
		keda = "disabled (Deployment per worker)"
	}
	signer := "not checked (verify-signature is off)"
	if res.ProxySigner != "" {
		signer = "verified before rollout: signed by `" + res.ProxySigner + "`"
	}
	rows := [][]string{
		{"Release", res.Release},
		{"Revision", strconv.Itoa(res.Revision) + " (" + res.Status + ")"},
		{"Chart version", res.ChartVersion},
		{"Proxy image", "`" + res.ProxyImage + "`"},
		{"Proxy signature", signer},
		{"Agent images", strings.Join(images, "<br>")},
		{"Workers", strings.Join(workers, ", ")},
		{"KEDA", keda},
		{"Namespace", res.Namespace},
	}
	if len(res.ScalerTLS) > 0 {
		var tls []string
		for _, c := range res.ScalerTLS {
			tls = append(tls, c.String())
		}
		rows = append(rows, []string{"Scaler TLS", strings.Join(tls, "<br>")})
	}
	return "### Daedalus deployed\n\n" + actions.Table([]string{"", ""}, rows)
}

// Outputs are the step outputs of a successful Run.
func (res *Result) Outputs() map[string]string {
	return map[string]string{
		"release":       res.Release,
		"namespace":     res.Namespace,
		"revision":      strconv.Itoa(res.Revision),
		"chart-version": res.ChartVersion,
		"keda-version":  res.KEDAVersion,
	}
}
