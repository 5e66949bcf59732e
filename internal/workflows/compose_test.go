package workflows

import (
	"path/filepath"
	"testing"
)

// TestRootActionHandsOnTheCluster checks that the steps which talk to the cluster get
// the one the infra step made, and the identity to reach it with: without them the
// smoke step of a real run has no cluster to test.
func TestRootActionHandsOnTheCluster(t *testing.T) {
	t.Parallel()
	a := readAction(t, filepath.Join(repoRoot(t), "action.yml"))
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
