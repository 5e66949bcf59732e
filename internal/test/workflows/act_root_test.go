package workflows

import (
	"context"
	"fmt"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daedalus-dev/daedalus/internal/lib/attest/attesttest"
	"github.com/daedalus-dev/daedalus/internal/lib/azure/azuretest"
	"github.com/daedalus-dev/daedalus/internal/step/publish/publishtest"
	"github.com/daedalus-dev/daedalus/internal/test/embednats"
	"github.com/daedalus-dev/daedalus/internal/test/engine"
	"github.com/daedalus-dev/daedalus/internal/test/kubetest"
	"github.com/daedalus-dev/daedalus/internal/test/testnode"
)

// TestActRootAction runs the root composite action (uses: ./, the whole pipeline) under
// act in a workflow shaped like build-and-publish.yml's deploy job, so the composition
// runs as GitHub runs it: the environment step's tfvars and backend settings, the infra
// step's outputs feeding publish and deploy, publish's image feeding deploy, and the
// action's outputs. Every step binary is built from this checkout by actions/_bin/run.
//
// What each step runs against:
//   - infra: the real terraform on a provider-free fixture stack
//     (testdata/act/stack) that has every output the root action reads; its
//     acr_login_server is the ACR stand-in.
//   - publish: builds ./cmd/proxy for linux/amd64 and pushes it to the ACR stand-in
//     (azuretest.NewACR: the documented /oauth2/exchange and /oauth2/token in front of
//     an in-process registry), after GitHub OIDC (azuretest.NewGitHub) -> Entra
//     (azuretest.NewEntra) -> ACR refresh-token exchange. The root action passes one
//     cloud to every step and infra accepts only the named clouds the azurerm provider
//     knows, so the job runs with the default AzurePublic: its Entra authority host and
//     gcr.io (the default base image, distroless static) are served by loopback
//     stand-ins behind HTTPS_PROXY (egress), the Entra one handing over to
//     azuretest.NewEntra. It then signs the image: fulcio.sigstore.dev and
//     rekor.sigstore.dev are the loopback Sigstore instance (attesttest) behind the same
//     proxy. Any other host the job tries is refused and fails the test.
//   - deploy: the kubeconfig input names a real kube-apiserver with the workload
//     controllers (internal/test/kubetest) and a node that stands in for the images
//     (internal/test/testnode), so the worker Deployment becomes ready; KEDA and the
//     in-cluster NATS are off (set lines), the chart points at an embedded nats-server.
//   - smoke: off. It needs KEDA and a node that runs the images; internal/test/e2e covers it.
func TestActRootAction(t *testing.T) {
	engine.Heavy(t)
	t.Parallel()
	terraform := engine.Path(t, "DAEDALUS_TERRAFORM", "terraform", "terraform")
	root := engine.RepoRoot(t)

	// The public-good Sigstore hosts publish signs with are the loopback instance.
	ss := attesttest.New(t)
	az := newAzureStandIns(t, map[string]http.Handler{
		"gcr.io":              baseRegistry(t, "distroless/static-debian12:nonroot"),
		"fulcio.sigstore.dev": ss.FulcioHandler(),
		"rekor.sigstore.dev":  ss.RekorHandler(),
	})
	gh, entra, egr := az.gh, az.entra, az.egr
	acr := azuretest.NewACR(t, entra)

	ns := embednats.Run(t, embednats.Options{})
	cl := kubetest.Start(t, kubetest.Options{Controllers: kubetest.DefaultControllers})
	node := &testnode.Node{Client: cl.Client, Dir: t.TempDir(), Logf: t.Logf}
	stop, err := node.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	const (
		workloadID  = "00000000-0000-0000-0000-0000000000d1"
		workerImage = "example.azurecr.io/copilot-bridge:1.0.0"
	)
	agentToken := "ghp_" + strings.Repeat("x7", 18)
	env := actStack(t, terraform, filepath.Join(root, "internal", "test", "workflows", "testdata", "act", "stack", "main.tf"),
		fmt.Sprintf("acr_login_server = %q\nworkload_identity_client_id = %q\n", acr.Host, workloadID))
	for k, v := range map[string]string{
		"KUBECONFIG_FILE": cl.Kubeconfig,
		"NATS_URL":        ns.ClientURL(),
		"WORKER_IMAGE":    workerImage,
		// The ACR stand-in listens on loopback: the publish binary admits it only when told.
		"DAEDALUS_TEST_LOOPBACK_REGISTRY": "1",
	} {
		env[k] = v
	}
	for k, v := range az.env {
		env[k] = v
	}
	before := time.Now().UTC()
	log := runAct(t, actRun{
		Workflow: "internal/test/workflows/testdata/act/pipeline.yml",
		Event:    "push",
		Env:      env,
		Secrets:  map[string]string{"AGENT_GITHUB_TOKEN": agentToken},
		Timeout:  8 * time.Minute,
	})
	got := results(log)
	t.Logf("root action outputs seen by the workflow: %v", got)

	// infra: the fixture's outputs, for environment act, with the TTL applied.
	for k, want := range map[string]string{
		"resource-group": "rg-daedalus-act",
		"cluster":        "aks-daedalus-act",
		"registry":       acr.Host,
		"namespace":      "daedalus",
		"revision":       "1",
		"smoke-result":   "",
	} {
		if got[k] != want {
			t.Errorf("output %s = %q, want %q", k, got[k], want)
		}
	}
	expires, err := time.Parse(time.RFC3339, got["expires-at"])
	if err != nil {
		t.Fatalf("expires-at %q: %v\n%s", got["expires-at"], err, log)
	}
	if lo, hi := before.Add(6*time.Hour-time.Minute), time.Now().UTC().Add(6*time.Hour+time.Minute); expires.Before(lo) || expires.After(hi) {
		t.Errorf("expires-at %s is not 6 h (ttl-hours) after the run", expires)
	}

	// publish: the image is the pushed index, by digest, in the environment's registry.
	digest := got["digest"]
	if !strings.HasPrefix(digest, "sha256:") || got["image"] != acr.Host+"/daedalus-proxy@"+digest {
		t.Fatalf("image %q, digest %q: want %s/daedalus-proxy@sha256:…\n%s", got["image"], digest, acr.Host, log)
	}
	ref, err := name.NewDigest(got["image"])
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(ref, remote.WithAuth(&authn.Bearer{Token: acr.AccessToken()}))
	if err != nil {
		t.Fatalf("the image is not in the registry: %v", err)
	}
	if m, err := idx.IndexManifest(); err != nil || len(m.Manifests) != 1 || m.Manifests[0].Platform == nil || m.Manifests[0].Platform.Architecture != "amd64" {
		t.Errorf("index: %+v (%v), want one linux/amd64 image", m, err)
	}
	if n := egr.Served("login.microsoftonline.com"); n == 0 {
		t.Errorf("publish never asked the Entra authority for a token")
	}
	if n := egr.Served("gcr.io"); n == 0 {
		t.Errorf("publish never read the default base image")
	}
	if r := egr.Refused(); len(r) != 0 {
		t.Errorf("the job tried hosts that have no stand-in here: %v", r)
	}

	// deploy: the release exists in the API server and runs the published image.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	k := cl.Client
	if _, err := k.CoreV1().Secrets("daedalus").Get(ctx, "sh.helm.release.v1.daedalus.v1", metav1.GetOptions{}); err != nil {
		t.Errorf("Helm release secret of revision 1: %v", err)
	}
	dep, err := k.AppsV1().Deployments("daedalus").Get(ctx, "daedalus-copilot", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("worker Deployment: %v\nnode:\n%s", err, node.Describe())
	}
	if dep.Status.ReadyReplicas < 1 {
		t.Errorf("worker Deployment has %d ready replicas; deploy waits for readiness", dep.Status.ReadyReplicas)
	}
	images := map[string]string{}
	natsURL := ""
	for _, c := range append(dep.Spec.Template.Spec.InitContainers, dep.Spec.Template.Spec.Containers...) {
		images[c.Image] = c.Name
		for _, e := range c.Env {
			if e.Name == "NATS_URL" {
				natsURL = e.Value
			}
		}
	}
	for _, want := range []string{got["image"], workerImage} {
		if _, ok := images[want]; !ok {
			t.Errorf("worker Deployment runs %v, not %s", images, want)
		}
	}
	if natsURL != ns.ClientURL() {
		t.Errorf("the proxy's NATS_URL is %q, want the external server %s", natsURL, ns.ClientURL())
	}
	sa, err := k.CoreV1().ServiceAccounts("daedalus").Get(ctx, "daedalus-proxy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := sa.Annotations["azure.workload.identity/client-id"]; got != workloadID {
		t.Errorf("ServiceAccount workload identity %q, want the infra output %s", got, workloadID)
	}
	sec, err := k.CoreV1().Secrets("daedalus").Get(ctx, "copilot-secret", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(sec.Data["github-token"]) != agentToken {
		t.Errorf("copilot-secret does not hold the github-token input")
	}

	// publish signed the image with the job's identity: one certificate, three bundles.
	if want := "https://github.com/" + actWorkflowRef; got["signer-identity"] != want {
		t.Errorf("signer-identity %q, want %q", got["signer-identity"], want)
	}
	if ss.Certificates() != 1 || ss.Entries() != 3 {
		t.Errorf("%d certificates, %d log entries: want 1 and 3", ss.Certificates(), ss.Entries())
	}

	// Every binary came through actions/_bin/run, built from this checkout.
	if n := egr.Served("management.azure.com"); n == 0 {
		t.Errorf("the preflight never read the permissions and providers")
	}
	for _, step := range []string{"preflight", "infra", "publish", "deploy"} {
		if !strings.Contains(log, "daedalus-"+step+": built from source") {
			t.Errorf("%s did not get its binary through actions/_bin/run", step)
		}
	}
	if strings.Contains(log, "daedalus-smoke:") {
		t.Errorf("the smoke step ran although smoke is false")
	}

	// No credential appears in the log unmasked.
	secrets := map[string][]string{
		"OIDC request token": {gh.RequestToken},
		"GitHub OIDC token":  gh.Issued(),
		"Entra access token": entra.AccessTokens(),
		"ACR token":          acr.Issued(),
		"agent token":        {agentToken},
	}
	for kind, toks := range secrets {
		if len(toks) == 0 {
			t.Errorf("no %s was issued: the check would prove nothing", kind)
		}
		for _, tok := range toks {
			if strings.Contains(log, tok) {
				t.Errorf("a %s appears unmasked in the act log", kind)
			}
		}
	}
}

// azureStandIns are the Azure sign-in an act run of the root action reaches: GitHub's OIDC
// token endpoint, Entra at login.microsoftonline.com and ARM at management.azure.com (the
// preflight's reads) behind an egress proxy, which also serves the extra hosts given and
// refuses any other.
type azureStandIns struct {
	gh    *azuretest.GitHub
	entra *azuretest.Entra
	egr   *egress
	env   map[string]string // the OIDC variables, HTTPS_PROXY and SSL_CERT_FILE for the job
}

// actWorkflowRef is the workflow the GitHub stand-in's tokens name (job_workflow_ref).
const actWorkflowRef = "daedalus-dev/daedalus/.github/workflows/act.yml@refs/heads/main"

func newAzureStandIns(t *testing.T, hosts map[string]http.Handler) azureStandIns {
	t.Helper()
	az := azureStandIns{
		gh: azuretest.NewGitHub(t, azuretest.GitHubOptions{Subject: "repo:daedalus-dev/daedalus:ref:refs/heads/main", Claims: map[string]any{
			"job_workflow_ref": actWorkflowRef,
		}}),
		entra: azuretest.NewEntra(t, azuretest.EntraOptions{}),
	}
	all := map[string]http.Handler{
		"login.microsoftonline.com": reverseTo(az.entra.URL, az.entra.Client()),
		"management.azure.com":      armPreflight(),
	}
	for host, h := range hosts {
		all[host] = h
	}
	az.egr = newEgress(t, all)
	certs := filepath.Join(t.TempDir(), "ca.pem")
	entraPEM, err := os.ReadFile(az.entra.CertFile(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certs, append(entraPEM, az.egr.CertPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	az.env = map[string]string{"HTTPS_PROXY": az.egr.URL, "SSL_CERT_FILE": certs}
	for k, v := range az.gh.Env() {
		az.env[k] = v
	}
	return az
}

// armPreflight stands in for the two ARM reads of the preflight, as documented: the
// caller's permissions at the subscription (GET …/providers/Microsoft.Authorization/
// permissions: a {"value":[{actions, notActions, …}]} page; here Contributor's and Role
// Based Access Control Administrator's) and a resource provider (GET
// /subscriptions/{id}/providers/{namespace}: registrationState Registered). The Entra
// stand-in's token signs the caller in.
func armPreflight() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/providers/Microsoft.Authorization/permissions") {
			fmt.Fprint(w, `{"value":[{"actions":["*"],"notActions":["Microsoft.Authorization/*/Delete","Microsoft.Authorization/*/Write"],"dataActions":[],"notDataActions":[]},`+
				`{"actions":["Microsoft.Authorization/roleAssignments/write","Microsoft.Authorization/roleAssignments/delete","*/read"],"notActions":[],"dataActions":[],"notDataActions":[]}]}`)
			return
		}
		if _, ns, ok := strings.Cut(r.URL.Path, "/providers/"); ok && !strings.Contains(ns, "/") {
			fmt.Fprintf(w, `{"namespace":%q,"registrationState":"Registered"}`, ns)
			return
		}
		http.NotFound(w, r)
	})
}

// baseRegistry serves an anonymous registry holding the publish step's base image
// stand-in (publishtest.PushBase) at repoTag.
func baseRegistry(t *testing.T, repoTag string) http.Handler {
	t.Helper()
	reg := registry.New(registry.Logger(stdlog.New(io.Discard, "", 0)))
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	publishtest.PushBase(t, strings.TrimPrefix(srv.URL, "http://"), repoTag)
	return reg
}
