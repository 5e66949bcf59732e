package infra

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"
)

// outputsOnly answers `terraform output` with fixed outputs, standing in for a deployed
// state; any other call fails the test.
type outputsOnly struct {
	t       *testing.T
	outputs map[string]string // name → JSON value
}

func (o outputsOnly) Output(context.Context, ...tfexec.OutputOption) (map[string]tfexec.OutputMeta, error) {
	m := map[string]tfexec.OutputMeta{}
	for k, v := range o.outputs {
		m[k] = tfexec.OutputMeta{Value: json.RawMessage(v)}
	}
	return m, nil
}
func (o outputsOnly) Init(context.Context, ...tfexec.InitOption) error { o.t.Error("Init"); return nil }
func (o outputsOnly) Plan(context.Context, ...tfexec.PlanOption) (bool, error) {
	o.t.Error("Plan")
	return false, nil
}
func (o outputsOnly) ShowPlanFile(context.Context, string, ...tfexec.ShowOption) (*tfjson.Plan, error) {
	o.t.Error("ShowPlanFile")
	return nil, nil
}
func (o outputsOnly) Apply(context.Context, ...tfexec.ApplyOption) error {
	o.t.Error("Apply")
	return nil
}
func (o outputsOnly) ForceUnlock(context.Context, string, ...tfexec.ForceUnlockOption) error {
	o.t.Error("ForceUnlock")
	return nil
}

func TestExpiresAt(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	fresh := "2026-11-27T12:00:00Z" // now + 24h
	deployed := map[string]string{"expires_at": `"2026-11-27T03:00:00Z"`, "ttl_hours": `24`}
	tests := []struct {
		name    string
		command Command
		outputs map[string]string
		want    string
	}{
		{"apply always extends", Apply, deployed, fresh},
		{"destroy", Destroy, deployed, fresh},
		{"plan keeps the deployed expiry", Plan, deployed, "2026-11-27T03:00:00Z"},
		{"plan of a new stack", Plan, nil, fresh},
		{"plan after a TTL change", Plan, map[string]string{"expires_at": `"2026-11-27T03:00:00Z"`, "ttl_hours": `48`}, fresh},
		{"plan of a stack without ttl_hours", Plan, map[string]string{"expires_at": `"2026-11-27T03:00:00Z"`}, fresh},
		{"plan of an expired stack", Plan, map[string]string{"expires_at": `"2026-11-26T11:59:59Z"`, "ttl_hours": `24`}, fresh},
		{"plan with an unreadable expiry", Plan, map[string]string{"expires_at": `"soon"`, "ttl_hours": `24`}, fresh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var tf Terraform = outputsOnly{t: t, outputs: tt.outputs}
			if tt.command != Plan {
				tf = outputsOnly{t: t, outputs: map[string]string{}}
			}
			r := &runner{Config: &Config{Command: tt.command, TTL: 24 * time.Hour}, Terraform: tf, Now: func() time.Time { return now }}
			got, err := r.expiresAt(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got.Format(time.RFC3339) != tt.want {
				t.Errorf("expires_at = %s, want %s", got.Format(time.RFC3339), tt.want)
			}
		})
	}
}
