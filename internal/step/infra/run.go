package infra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"
)

// Terraform is the part of *tfexec.Terraform the step uses. Each call runs one terraform
// command in the working directory and returns when it exits (or ctx ends, when
// terraform gets SIGINT); errors carry terraform's stderr.
type Terraform interface {
	Init(ctx context.Context, opts ...tfexec.InitOption) error
	Plan(ctx context.Context, opts ...tfexec.PlanOption) (bool, error)
	ShowPlanFile(ctx context.Context, planPath string, opts ...tfexec.ShowOption) (*tfjson.Plan, error)
	Apply(ctx context.Context, opts ...tfexec.ApplyOption) error
	Output(ctx context.Context, opts ...tfexec.OutputOption) (map[string]tfexec.OutputMeta, error)
	ForceUnlock(ctx context.Context, lockID string, opts ...tfexec.ForceUnlockOption) error
}

// Reporter is the GitHub Actions side of a run (*actions.Action implements it): masks,
// groups, annotations, step outputs and the step summary.
type Reporter interface {
	Mask(s string)
	Group(title string, fn func() error) error
	Noticef(format string, args ...any)
	Warningf(format string, args ...any)
	SetOutput(name, value string) error
	Summary(markdown string) error
}

// New returns the real terraform-exec client for cfg: terraform in cfg.WorkingDir with
// the environment TerraformEnv builds from environ. The human output of init, plan,
// apply and force-unlock streams to log; the JSON of output and show never does, since
// it holds sensitive values in the clear.
func New(cfg *Config, environ []string, log io.Writer) (Terraform, error) {
	newTF := func() (*tfexec.Terraform, error) {
		tf, err := tfexec.NewTerraform(cfg.WorkingDir, cfg.Terraform)
		if err != nil {
			return nil, fmt.Errorf("setting up terraform: %w", err)
		}
		if err := tf.SetEnv(cfg.TerraformEnv(environ)); err != nil {
			return nil, fmt.Errorf("setting up terraform: %w", err)
		}
		return tf, nil
	}
	loud, err := newTF()
	if err != nil {
		return nil, err
	}
	fenced := &fence{w: log}
	loud.SetStdout(fenced)
	quiet, err := newTF()
	if err != nil {
		return nil, err
	}
	return &client{Terraform: loud, quiet: quiet, log: fenced}, nil
}

// client streams the commands a reader should see, each inside a fence, and keeps JSON
// commands quiet.
type client struct {
	*tfexec.Terraform
	quiet *tfexec.Terraform
	log   *fence
}

func (c *client) Init(ctx context.Context, opts ...tfexec.InitOption) error {
	return c.log.run(func() error { return c.Terraform.Init(ctx, opts...) })
}

func (c *client) Plan(ctx context.Context, opts ...tfexec.PlanOption) (changes bool, err error) {
	err = c.log.run(func() error {
		changes, err = c.Terraform.Plan(ctx, opts...)
		return err
	})
	return changes, err
}

func (c *client) Apply(ctx context.Context, opts ...tfexec.ApplyOption) error {
	return c.log.run(func() error { return c.Terraform.Apply(ctx, opts...) })
}

func (c *client) ForceUnlock(ctx context.Context, lockID string, opts ...tfexec.ForceUnlockOption) error {
	return c.log.run(func() error { return c.Terraform.ForceUnlock(ctx, lockID, opts...) })
}

func (c *client) Output(ctx context.Context, opts ...tfexec.OutputOption) (map[string]tfexec.OutputMeta, error) {
	return c.quiet.Output(ctx, opts...)
}

func (c *client) ShowPlanFile(ctx context.Context, planPath string, opts ...tfexec.ShowOption) (*tfjson.Plan, error) {
	return c.quiet.ShowPlanFile(ctx, planPath, opts...)
}

// ActionOutputs are the stack's outputs that actions/infra/action.yml declares (a
// composite action passes on only the outputs it declares); every other stack output is
// still a step output of the binary.
var ActionOutputs = []string{
	"cluster_name", "resource_group_name", "acr_login_server", "acr_name", "key_vault_uri",
	"workload_identity_client_id", "oidc_issuer_url", "keda", "expires_at",
}

// runner runs one command of the step.
type runner struct {
	Config    *Config
	Terraform Terraform
	Report    Reporter
	// Now is the clock the TTL and lock ages are computed with.
	Now func() time.Time
}

// Result is what a run did.
type Result struct {
	ExpiresAt time.Time    // the expires_at passed to Terraform (zero for output)
	Plan      *PlanSummary // nil for output
	Applied   bool
	Outputs   []StackOutput
}

// Run runs the configured command with deps.Terraform, reporting to deps.Report. The
// Config must have been validated.
func Run(ctx context.Context, cfg Config, deps Deps) (*Result, error) {
	r := &runner{Config: &cfg, Terraform: deps.Terraform, Report: deps.Report, Now: deps.Now}
	return r.run(ctx)
}

func (r *runner) run(ctx context.Context) (*Result, error) {
	cfg := r.Config
	r.Report.Mask(cfg.OIDCRequestToken)

	if err := cfg.writeBackendOverride(); err != nil {
		return nil, err
	}
	if err := r.Report.Group("terraform init", func() error { return r.init(ctx) }); err != nil {
		return nil, err
	}
	res := &Result{}
	if cfg.Command == Output {
		return res, r.outputs(ctx, res)
	}

	planFile := cfg.PlanFile
	if planFile == "" {
		dir, err := os.MkdirTemp(cfg.TempDir, "daedalus-infra-")
		if err != nil {
			return nil, fmt.Errorf("creating a directory for the plan: %w", err)
		}
		defer os.RemoveAll(dir)
		planFile = filepath.Join(dir, "stack.tfplan")
	}

	reuse := cfg.Command == Apply && cfg.PlanFile != "" && exists(cfg.PlanFile)
	var changes bool // from plan's -detailed-exitcode: resources or outputs change
	if !reuse {
		expiresAt, err := r.expiresAt(ctx)
		if err != nil {
			return nil, err
		}
		res.ExpiresAt = expiresAt
		title := "terraform plan"
		if cfg.Command == Destroy {
			title = "terraform plan -destroy"
		}
		err = r.Report.Group(title, func() error {
			return r.withLock(ctx, func() error {
				var err error
				changes, err = r.Terraform.Plan(ctx, r.planOptions(planFile, expiresAt)...)
				return err
			})
		})
		if err != nil {
			return nil, r.wrap("planning", err)
		}
	}

	plan, err := r.Terraform.ShowPlanFile(ctx, planFile)
	if err != nil {
		return nil, fmt.Errorf("reading the saved plan: %w", err)
	}
	if reuse {
		res.ExpiresAt = planExpiresAt(plan)
		changes = planChanges(plan)
	}
	sum := Summarize(plan)
	res.Plan = &sum
	if err := r.Report.Summary(sum.Markdown(r.planTitle(reuse))); err != nil {
		return nil, err
	}
	if err := r.planOutputs(sum, changes, res.ExpiresAt, planFile); err != nil {
		return nil, err
	}
	if cfg.Command == Plan {
		return res, nil
	}

	if changes {
		title := "terraform apply"
		if cfg.Command == Destroy {
			title = "terraform destroy"
		}
		err := r.Report.Group(title, func() error {
			return r.withLock(ctx, func() error {
				return r.Terraform.Apply(ctx, r.applyOptions(planFile)...)
			})
		})
		if err != nil {
			return nil, r.wrap("applying the saved plan", err)
		}
		res.Applied = true
	} else {
		r.Report.Noticef("No changes: nothing to apply")
	}
	if cfg.Command == Destroy {
		return res, nil
	}
	return res, r.outputs(ctx, res)
}

func (r *runner) planTitle(reused bool) string {
	switch {
	case r.Config.Command == Destroy:
		return "Terraform destroy plan"
	case reused:
		return "Terraform plan (saved plan " + filepath.Base(r.Config.PlanFile) + ")"
	}
	return "Terraform plan"
}

func (r *runner) init(ctx context.Context) error {
	// -reconfigure: the step gives the whole backend configuration every time, so a
	// checkout that last ran another environment re-initialises instead of offering to
	// migrate that environment's state into this one's.
	opts := []tfexec.InitOption{tfexec.Upgrade(false), tfexec.Reconfigure(true)}
	for _, bc := range r.Config.Backend() {
		opts = append(opts, tfexec.BackendConfig(bc))
	}
	if err := r.Terraform.Init(ctx, opts...); err != nil {
		return fmt.Errorf("terraform init: %w", err)
	}
	return nil
}

// expiresAt decides the expires_at to plan with. Apply (and destroy, where it does not
// matter) extend the TTL to now + ttl-hours. Plan keeps the deployed expires_at when the
// deployed ttl_hours equals ttl-hours and it has not passed, so an unchanged stack plans
// no changes.
func (r *runner) expiresAt(ctx context.Context) (time.Time, error) {
	fresh := r.Now().UTC().Add(r.Config.TTL).Truncate(time.Second)
	if r.Config.Command != Plan {
		return fresh, nil
	}
	meta, err := r.Terraform.Output(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the deployed expires_at: %w", err)
	}
	var deployed string
	var hours float64
	if m, ok := meta["expires_at"]; !ok || json.Unmarshal(m.Value, &deployed) != nil {
		return fresh, nil
	}
	if m, ok := meta["ttl_hours"]; !ok || json.Unmarshal(m.Value, &hours) != nil || hours != r.Config.TTL.Hours() {
		return fresh, nil
	}
	t, err := time.Parse(time.RFC3339, deployed)
	if err != nil || !t.After(r.Now()) {
		// Expired (awaiting the cleanup): show what an apply would set.
		return fresh, nil
	}
	return t.UTC(), nil
}

// planChanges reports whether a saved plan changes any resource or output, as plan's
// -detailed-exitcode would have.
func planChanges(p *tfjson.Plan) bool {
	if Summarize(p).HasChanges() {
		return true
	}
	for _, oc := range p.OutputChanges {
		if oc != nil && !oc.Actions.NoOp() {
			return true
		}
	}
	return false
}

// planExpiresAt reads the expires_at variable a saved plan was made with.
func planExpiresAt(p *tfjson.Plan) time.Time {
	if p == nil || p.Variables["expires_at"] == nil {
		return time.Time{}
	}
	s, _ := p.Variables["expires_at"].Value.(string)
	t, _ := time.Parse(time.RFC3339, s)
	return t
}

func (r *runner) planOptions(planFile string, expiresAt time.Time) []tfexec.PlanOption {
	cfg := r.Config
	opts := []tfexec.PlanOption{tfexec.Out(planFile), tfexec.Destroy(cfg.Command == Destroy)}
	if cfg.LockTimeout > 0 {
		opts = append(opts, tfexec.LockTimeout(cfg.LockTimeout.String()))
	}
	for _, f := range cfg.VarFiles {
		opts = append(opts, tfexec.VarFile(f))
	}
	opts = append(opts,
		tfexec.Var("subscription_id="+cfg.Azure.SubscriptionID),
		tfexec.Var("ttl_hours="+strconv.Itoa(int(cfg.TTL.Hours()))),
		tfexec.Var("expires_at="+expiresAt.Format(time.RFC3339)),
	)
	return opts
}

func (r *runner) applyOptions(planFile string) []tfexec.ApplyOption {
	opts := []tfexec.ApplyOption{tfexec.DirOrPlan(planFile)}
	if r.Config.LockTimeout > 0 {
		opts = append(opts, tfexec.LockTimeout(r.Config.LockTimeout.String()))
	}
	return opts
}

// planOutputs writes the plan's step outputs; has-changes is plan's detailed exit code
// (resources or outputs change).
func (r *runner) planOutputs(s PlanSummary, changes bool, expiresAt time.Time, planFile string) error {
	set := []struct{ name, value string }{
		{"has-changes", strconv.FormatBool(changes)},
		{"to-add", strconv.Itoa(s.Add)},
		{"to-change", strconv.Itoa(s.Change)},
		{"to-destroy", strconv.Itoa(s.Destroy)},
	}
	if !expiresAt.IsZero() {
		set = append(set, struct{ name, value string }{"expires-at", expiresAt.Format(time.RFC3339)})
	}
	if r.Config.PlanFile != "" {
		set = append(set, struct{ name, value string }{"plan-file", planFile})
	}
	for _, o := range set {
		if err := r.Report.SetOutput(o.name, o.value); err != nil {
			return err
		}
	}
	return nil
}

// outputs publishes the stack's outputs: each as a step output (sensitive ones masked
// first) and all of them, sensitive values omitted, in the step summary.
func (r *runner) outputs(ctx context.Context, res *Result) error {
	meta, err := r.Terraform.Output(ctx)
	if err != nil {
		return fmt.Errorf("reading the outputs: %w", err)
	}
	outs, err := ReadOutputs(meta)
	if err != nil {
		return err
	}
	if r.Config.InActions {
		// Outside Actions the ::add-mask:: line itself would print the secret.
		for _, o := range outs {
			for _, s := range o.Secrets {
				r.Report.Mask(s)
			}
		}
	}
	var withheld []string
	for _, o := range outs {
		if o.Sensitive && !r.Config.InActions {
			// Outside Actions a step output is a plain line on the terminal and
			// nothing masks it: withhold sensitive ones.
			withheld = append(withheld, o.Name)
			continue
		}
		if err := r.Report.SetOutput(o.Name, o.Value); err != nil {
			return err
		}
	}
	if len(withheld) > 0 {
		r.Report.Noticef("Sensitive outputs not printed outside GitHub Actions (read them with terraform output -raw): %s", strings.Join(withheld, ", "))
	}
	var missing []string
	for _, name := range ActionOutputs {
		if !slices.ContainsFunc(outs, func(o StackOutput) bool { return o.Name == name }) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		r.Report.Warningf("The stack lacks outputs that actions/infra declares; they will be empty: %s", strings.Join(missing, ", "))
	}
	res.Outputs = outs
	return r.Report.Summary(OutputsMarkdown(outs))
}

// withLock runs fn; when it fails on a state lock it either force-unlocks a lock older
// than ForceUnlockOlderThan and runs fn once more, or returns a *LockedError.
func (r *runner) withLock(ctx context.Context, fn func() error) error {
	err := fn()
	info, locked := parseLockError(err)
	if !locked {
		return err
	}
	le := &LockedError{Lock: info, Chdir: r.Config.WorkingDirInput, Err: err}
	if !info.Created.IsZero() {
		le.Age = r.Now().Sub(info.Created)
	}
	limit := r.Config.ForceUnlockOlderThan
	if limit <= 0 || info.ID == "" || info.Created.IsZero() || le.Age <= limit {
		return le
	}
	r.Report.Warningf("Force-unlocking the Terraform state: lock %s held by %s since %s is older than force-unlock-older-than (%s)",
		info.ID, orUnknown(info.Who), created(info), limit)
	if uerr := r.Terraform.ForceUnlock(ctx, info.ID); uerr != nil {
		return fmt.Errorf("force-unlocking lock %s: %w", info.ID, errors.Join(uerr, le))
	}
	return fn()
}

func (r *runner) wrap(what string, err error) error {
	if le, ok := err.(*LockedError); ok {
		return le // already says what it is
	}
	return fmt.Errorf("%s: %w", what, err)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
