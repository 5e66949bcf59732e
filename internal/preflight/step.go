package preflight

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/daedalus-dev/daedalus/internal/actions"
	"github.com/daedalus-dev/daedalus/internal/azure"
	"github.com/daedalus-dev/daedalus/internal/deploy"
)

// The step's own inputs (tenant-id, client-id, subscription-id and cloud are azure's;
// chart, values, set and worker-images are deploy's, with the same meaning).
const (
	InputCommand = "command"
)

// Commands: what the run after the preflight will do.
const (
	Deploy  = "deploy"
	Destroy = "destroy"
)

// Env is what the step takes from outside its inputs. Only a main builds the real one.
type Env struct {
	// Credential, when set, replaces the Azure credential built from the inputs (tests).
	Credential azcore.TokenCredential
	// Transport, when set, carries the ARM requests (tests point it at stand-ins).
	Transport policy.Transporter
}

// FailedError is a preflight that found problems; each was reported as an ::error::.
type FailedError struct{ Problems []Problem }

func (e *FailedError) Error() string {
	return fmt.Sprintf("preflight: %d problem(s) would make this run fail; each ::error:: above says how to fix it", len(e.Problems))
}

// Main reads and validates the inputs, runs every check and reports each problem as an
// ::error:: and in the step summary. Bad input returns *actions.InputError values before
// Azure is called; a missing worker image is one of them.
func Main(ctx context.Context, a *actions.Action, env Env) ([]Problem, error) {
	in := a.Inputs()
	az := azure.ReadConfig(a, in)
	command := in.String(InputCommand, Deploy)
	dc := deploy.Config{
		Namespace: in.String(deploy.InputNamespace, deploy.DefaultNamespace),
		Release:   deploy.DefaultRelease,
		Chart:     in.String(deploy.InputChart, deploy.DefaultChart),
		Values:    in.List(deploy.InputValues),
		Sets:      in.Lines(deploy.InputSet),
	}
	if len(dc.Values) == 0 {
		dc.Values = []string{deploy.DefaultValues}
	}
	var errs []error
	var err error
	if dc.WorkerImages, err = deploy.ParseWorkerImages(in.Lines(deploy.InputWorkerImages)); err != nil {
		errs = append(errs, err)
	}
	if dc.WorkerPresets, err = deploy.ParseWorkerPresets(in.Lines(deploy.InputWorkerPresets)); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, in.Err(), az.Validate(a.InActions()))
	if az.SubscriptionID == "" {
		errs = append(errs, actions.Invalid(azure.InputSubscriptionID, "is required", "set it to the Azure subscription id (a GUID) to deploy into"))
	}
	needs := DeployNeeds
	switch command {
	case Deploy:
	case Destroy:
		needs = DestroyNeeds
	default:
		errs = append(errs, actions.Invalid(InputCommand, fmt.Sprintf("%q is not a command", command), "set it to deploy or destroy"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	start := time.Now()
	// The images first: they need no network.
	if command == Deploy {
		if err := a.Group("Images", func() error { return Images(dc) }); err != nil {
			return nil, err
		}
	}
	cred := env.Credential
	if cred == nil {
		if cred, err = azure.NewCredential(a, az, nil); err != nil {
			return nil, err
		}
	}
	client, err := NewARM(az.SubscriptionID, cred, &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Cloud: az.CloudConfig(), Transport: env.Transport,
	}})
	if err != nil {
		return nil, err
	}
	assignee := az.ClientID
	if assignee == "" {
		assignee = "<your user or client id>"
	}
	c := Checker{ARM: client, Subscription: az.SubscriptionID, Assignee: assignee}
	var problems []Problem
	err = a.Group("Permissions and resource providers", func() error {
		perm, perr := c.Permissions(ctx, needs)
		prov, verr := c.Providers(ctx, Providers)
		problems = append(perm, prov...)
		return errors.Join(perr, verr)
	})
	if err != nil {
		return nil, err
	}
	for _, p := range problems {
		a.Errorf("%s", p.Error())
	}
	a.Infof("preflight: %d check(s) failed in %s", len(problems), time.Since(start).Round(time.Millisecond))
	if err := a.Summary(summary(problems, len(needs)+len(Providers))); err != nil {
		return problems, err
	}
	if len(problems) > 0 {
		return problems, &FailedError{Problems: problems}
	}
	return nil, nil
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
