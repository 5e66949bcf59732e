package preflight

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
)

// Deps is what the step takes from outside its inputs. The zero value is the real thing.
type Deps struct {
	// Credential replaces the Azure credential built from the inputs (tests).
	Credential azcore.TokenCredential
	// Transport carries the ARM requests (tests point it at stand-ins).
	Transport policy.Transporter
	// ARM answers the checks; nil builds it from Credential and Transport.
	ARM ARM
}

// FailedError is a preflight that found problems; each was reported as an ::error::.
type FailedError struct{ Problems []Problem }

func (e *FailedError) Error() string {
	return fmt.Sprintf("preflight: %d problem(s) would make this run fail; each ::error:: above says how to fix it", len(e.Problems))
}

// Main reads and validates the inputs, runs every check and reports each problem as an
// ::error:: and in the step summary. Bad input returns *actions.InputError values before
// Azure is called; a missing worker image is one of them.
func Main(ctx context.Context, a *actions.Action, deps Deps) ([]Problem, error) {
	cfg, err := ReadConfig(a)
	if err := errors.Join(err, cfg.Validate()); err != nil {
		return nil, err
	}
	a.Debugf("preflight: %v", cfg.LogValue())
	if deps.ARM == nil {
		if deps.ARM, err = newARM(a, cfg, deps); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	var problems []Problem
	if err := a.Group("Images, permissions and resource providers", func() error {
		var err error
		problems, err = Run(ctx, cfg, deps)
		return err
	}); err != nil {
		return nil, err
	}
	for _, p := range problems {
		a.Errorf("%s", p.Error())
	}
	a.Infof("preflight: %d check(s) failed in %s", len(problems), time.Since(start).Round(time.Millisecond))
	if err := a.Summary(summary(problems, len(cfg.needs())+len(Providers))); err != nil {
		return problems, err
	}
	if len(problems) > 0 {
		return problems, &FailedError{Problems: problems}
	}
	return nil, nil
}

// newARM signs in as the inputs say and returns the subscription's ARM.
func newARM(a *actions.Action, cfg Config, deps Deps) (ARM, error) {
	cred, err := azure.NewCredential(a, cfg.Azure, &azure.Options{Credential: deps.Credential})
	if err != nil {
		return nil, err
	}
	return NewARM(cfg.Azure.SubscriptionID, cred, &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Cloud: cfg.Azure.CloudConfig(), Transport: deps.Transport,
	}})
}

func summary(problems []Problem, checks int) string {
	if len(problems) == 0 {
		return fmt.Sprintf("### Preflight\n\nAll %d permission and provider checks passed; every worker has an image.\n", checks)
	}
	rows := make([][]string, 0, len(problems))
	for _, p := range problems {
		rows = append(rows, []string{p.Check, "`" + p.What + "`", p.Grant, "`" + p.Fix + "`"})
	}
	return "### Preflight failed\n\n" + actions.Table([]string{"Check", "Missing", "Granted by", "Fix"}, rows)
}
