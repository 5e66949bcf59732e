package workflows

import (
	"path/filepath"
	"testing"

	"github.com/daedalus-dev/daedalus/internal/test/engine"
)

// TestRootActionHandsOnTheCluster checks that the steps which talk to the cluster get
// the one the infra step made, and the identity to reach it with: without them the
// smoke step of a real run has no cluster to test.
func TestRootActionHandsOnTheCluster(t *testing.T) {
	t.Parallel()
	a := readAction(t, filepath.Join(engine.RepoRoot(t), "action.yml"))
	want := map[string]string{
		"INPUT_RESOURCE-GROUP":  "${{ steps.infra.outputs.resource_group_name }}",
		"INPUT_CLUSTER-NAME":    "${{ steps.infra.outputs.cluster_name }}",
		"INPUT_SUBSCRIPTION-ID": "${{ inputs.subscription-id }}",
		"INPUT_TENANT-ID":       "${{ inputs.tenant-id }}",
		"INPUT_CLIENT-ID":       "${{ inputs.client-id }}",
		"INPUT_CLOUD":           "${{ inputs.cloud }}",
		"INPUT_KUBECONFIG":      "${{ inputs.kubeconfig }}",
	}
	seen := map[string]bool{}
	for _, s := range a.Runs.Steps {
		if s.ID != "deploy" && s.ID != "smoke" {
			continue
		}
		seen[s.ID] = true
		for k, v := range want {
			if s.Env[k] != v {
				t.Errorf("step %s: %s = %q, want %q", s.ID, k, s.Env[k], v)
			}
		}
	}
	if !seen["deploy"] || !seen["smoke"] {
		t.Errorf("steps found: %v, want deploy and smoke", seen)
	}
}

// TestRootActionTakesKEDAFromTheStack: the stack decides whether the cluster runs AKS's
// KEDA add-on (output keda: managed) or needs deploy's Helm install (helm); deploy must hear
// it, or a cluster without the add-on never gets KEDA and one with it gets a second copy.
func TestRootActionTakesKEDAFromTheStack(t *testing.T) {
	t.Parallel()
	a := readAction(t, filepath.Join(engine.RepoRoot(t), "action.yml"))
	const want = "${{ steps.infra.outputs.keda == 'helm' && 'helm' || 'addon' }}"
	for _, s := range a.Runs.Steps {
		if s.ID == "deploy" {
			if s.Env["INPUT_KEDA"] != want {
				t.Errorf("step deploy: INPUT_KEDA = %q, want %q", s.Env["INPUT_KEDA"], want)
			}
			return
		}
	}
	t.Error("the root action has no deploy step")
}
