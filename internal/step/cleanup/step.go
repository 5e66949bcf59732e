package cleanup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
)

// The step's outputs.
const (
	OutputReport      = "report"
	OutputReportFile  = "report-file"
	OutputDeleted     = "deleted"
	OutputWouldDelete = "would-delete"
	OutputKept        = "kept"
	OutputFailed      = "failed"
)

// Deps is what the step takes from outside its inputs. Only a main builds the real one; a
// nil field gets the real thing where there is one.
type Deps struct {
	// Now is the clock expires-at is compared with.
	Now func() time.Time
	// WriteFile writes the JSON report.
	WriteFile func(name string, data []byte) error
	// Credential replaces the Azure credential built from the inputs (tests).
	Credential azcore.TokenCredential
	// Transport carries the ARM requests (tests point it at a fake).
	Transport policy.Transporter
	// ARM is the subscription's ARM; nil builds one from Credential and Transport.
	ARM ARM
}

// FailedError is returned by Main when some deletions failed; the rest went on.
type FailedError struct{ Failed, Total int }

func (e *FailedError) Error() string {
	return fmt.Sprintf("%d of %d planned deletions or purges failed; see the step summary and the JSON report", e.Failed, e.Total)
}

// Main is the cleanup step: it reads and validates every input before anything else, signs
// in, runs the reaper, and writes the step summary, the JSON report and the outputs. It
// returns the inputs' problems (each an *actions.InputError) without touching Azure, and a
// *FailedError after a run in which something failed.
func Main(ctx context.Context, a *actions.Action, deps Deps) (*Report, error) {
	cfg, err := ReadConfig(a)
	cfg.Now = deps.Now().UTC()
	if err := onePerInput(err, cfg.Validate()); err != nil {
		return nil, err // every input's first problem at once, before Azure is called
	}
	a.Infof("cleanup: %s", cfg.LogValue())
	if deps.ARM == nil {
		if deps.ARM, err = newARM(a, cfg, deps); err != nil {
			return nil, err
		}
	}

	title := "Delete expired resource groups"
	if cfg.DryRun {
		title = "List expired resource groups (dry run)"
	}
	var r *Report
	if err := a.Group(title, func() error {
		var err error
		r, err = Run(ctx, cfg, deps)
		return err
	}); err != nil {
		return nil, err
	}
	a.Infof("%s", r)
	annotate(a, r)

	data, err := r.JSON()
	if err != nil {
		return r, err
	}
	var outErrs []error
	if err := deps.WriteFile(cfg.ReportFile, data); err != nil {
		outErrs = append(outErrs, fmt.Errorf("writing the report: %w", err))
	}
	compact, err := json.Marshal(r)
	if err != nil {
		return r, fmt.Errorf("encoding the report: %w", err)
	}
	for name, value := range map[string]string{
		OutputReport:      string(compact),
		OutputReportFile:  cfg.ReportFile,
		OutputDeleted:     strconv.Itoa(r.Deleted),
		OutputWouldDelete: strconv.Itoa(r.WouldDelete),
		OutputKept:        strconv.Itoa(r.Kept),
		OutputFailed:      strconv.Itoa(r.Failed),
	} {
		outErrs = append(outErrs, a.SetOutput(name, value))
	}
	outErrs = append(outErrs, a.Summary(r.Markdown()))
	if err := errors.Join(outErrs...); err != nil {
		return r, err
	}
	if r.Failed > 0 {
		return r, &FailedError{Failed: r.Failed, Total: r.Failed + r.Deleted}
	}
	return r, nil
}

// newARM signs in as the inputs say and returns the subscription's ARM.
func newARM(a *actions.Action, cfg Config, deps Deps) (ARM, error) {
	cred, err := azure.NewCredential(a, cfg.Azure, &azure.Options{Credential: deps.Credential})
	if err != nil {
		return nil, err
	}
	opts := &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Cloud: cfg.Azure.CloudConfig(),
		// ARM asks throttled callers to come back after Retry-After, at times longer than
		// the SDK's default cap of 60 s (beyond which it would give up at once).
		Retry:     policy.RetryOptions{MaxRetries: 6, MaxRetryDelay: 5 * time.Minute},
		Transport: deps.Transport,
	}}
	return NewARM(cfg.Azure.SubscriptionID, cred, opts, cfg.PollInterval)
}

// onePerInput joins errs, keeping only the first problem reported for each input (the
// shared Azure inputs are checked both by azure and by Config).
func onePerInput(errs ...error) error {
	var out []error
	seen := map[string]bool{}
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ie *actions.InputError
		if errors.As(err, &ie) {
			if seen[ie.Input] {
				return
			}
			seen[ie.Input] = true
		}
		out = append(out, err)
	}
	for _, e := range errs {
		walk(e)
	}
	return errors.Join(out...)
}

// annotate raises an ::error:: for each failure and a ::warning:: for each group that
// looks as if it meant to opt in but was kept for its tags, so they show on the run page.
func annotate(a *actions.Action, r *Report) {
	for _, e := range r.Groups {
		switch {
		case e.failed:
			a.Errorf("%s: %s: %s", e.Name, e.Result, e.Error)
			for _, v := range e.Vaults {
				if v.Error != "" {
					a.Errorf("%s: Key Vault %s: %s", e.Name, v.Name, v.Error)
				}
			}
		case e.Reason == ReasonMissingExpiry || e.Reason == ReasonBadExpiry || e.Reason == ReasonNearMissOptIn:
			a.Warningf("%s kept: %s", e.Name, strings.TrimSpace(e.Detail))
		}
	}
}
