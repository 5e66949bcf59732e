package composite_test

import (
	"testing"

	"github.com/daedalus-dev/daedalus/internal/lib/actions/composite"
)

func contexts() composite.Contexts {
	return composite.Contexts{
		"inputs": map[string]any{"destroy": "true", "image-tag": "", "tasks": "3", "name": "Ada"},
		"steps":  map[string]any{"infra": map[string]any{"outputs": map[string]any{"keda": "helm"}}},
		"github": map[string]any{"action_path": "/a", "repository": "octo/daedalus"},
	}
}

func TestEval(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ expr, want string }{
		{"inputs.destroy == 'true' && 'destroy' || 'deploy'", "destroy"},
		{"inputs.destroy != 'true' && 'destroy' || 'deploy'", "deploy"},
		{"inputs.image-tag || format('{0}/deploy/terraform', github.action_path)", "/a/deploy/terraform"},
		{"steps.infra.outputs.keda == 'helm' && 'helm' || 'addon'", "helm"},
		{"steps.infra.outputs.missing == 'helm' && 'helm' || 'addon'", "addon"},
		{"steps.nostep.outputs.x", ""},
		{"INPUTS.Name == 'ADA'", "true"},
		{"!inputs.image-tag", "true"},
		{"inputs.tasks == 3", "true"},
		{"inputs.tasks > 2 && inputs.tasks < 4", "true"},
		{"inputs['name']", "Ada"},
		{"format('{{{0}}} {1}', 'a', 'it''s')", "{a} it's"},
		{"contains(github.repository, 'DAED') && startsWith('abc', 'a') && endsWith('abc', 'c')", "true"},
		{"null == ''", "true"}, // both coerce to 0
		{"null == 'x'", "false"},
		{"success() && !failure()", "true"},
	} {
		v, err := contexts().Eval(tc.expr)
		if got := composite.String(v); err != nil || got != tc.want {
			t.Errorf("Eval(%q) = %q, %v; want %q", tc.expr, got, err, tc.want)
		}
	}
}

func TestEvalErrors(t *testing.T) {
	t.Parallel()
	for _, expr := range []string{"secrets.x", "toJSON(inputs)", "format('{1}', 'a')", "format('{0')", "inputs.x ==", "success(1)"} {
		if v, err := contexts().Eval(expr); err == nil {
			t.Errorf("Eval(%q) = %v, want an error", expr, v)
		}
	}
}

func TestInterpolate(t *testing.T) {
	t.Parallel()
	got, err := contexts().Interpolate(`"${{ github.action_path }}/actions/_bin/run" ${{inputs.name}}-${{ inputs.tasks }} }}`)
	if want := `"/a/actions/_bin/run" Ada-3 }}`; err != nil || got != want {
		t.Errorf("Interpolate = %q, %v; want %q", got, err, want)
	}
	if _, err := contexts().Interpolate("${{ inputs.name "); err == nil {
		t.Error("Interpolate accepted an unterminated expression")
	}
}

func TestCondition(t *testing.T) {
	t.Parallel()
	for cond, want := range map[string]bool{
		"":                                 true,
		"inputs.destroy != 'true'":         false,
		"${{ inputs.destroy == 'true' }}":  true,
		"inputs.image-tag":                 false,
		"always()":                         true,
		"${{ inputs.image-tag == '' }}":    true,
		"inputs.tasks == '3' && failure()": false,
	} {
		got, err := contexts().Condition(cond)
		if err != nil || got != want {
			t.Errorf("Condition(%q) = %v, %v; want %v", cond, got, err, want)
		}
	}
}
