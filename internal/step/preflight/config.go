package preflight

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/daedalus-dev/daedalus/internal/lib/actions"
	"github.com/daedalus-dev/daedalus/internal/lib/azure"
	"github.com/daedalus-dev/daedalus/internal/step/deploy"
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

// Config is what one preflight checks. ReadConfig builds it from the step's inputs and sets
// the defaults; Validate only checks it.
type Config struct {
	// Azure is the sign-in and the subscription the run will deploy into.
	Azure azure.Config
	// Command is Deploy or Destroy.
	Command string
	// Deploy is the part of the deploy step's configuration the checks read: the chart,
	// its values and the worker images.
	Deploy deploy.Config
	// InActions is whether the step runs on GitHub Actions (sign-in needs client-id).
	InActions bool
}

// ReadConfig reads the step's inputs and sets the defaults. It returns the inputs it could
// not parse (a worker-images line without an image is one); Validate checks the rest.
func ReadConfig(a *actions.Action) (Config, error) {
	in := a.Inputs()
	c := Config{
		Azure:   azure.ReadConfig(a, in),
		Command: in.String(InputCommand, Deploy),
		Deploy: deploy.Config{
			Namespace: in.String(deploy.InputNamespace, deploy.DefaultNamespace),
			Release:   deploy.DefaultRelease,
			Chart:     in.String(deploy.InputChart, deploy.DefaultChart),
			Values:    in.List(deploy.InputValues),
			Sets:      in.Lines(deploy.InputSet),
		},
		InActions: a.InActions(),
	}
	if len(c.Deploy.Values) == 0 {
		c.Deploy.Values = []string{deploy.DefaultValues}
	}
	var errs []error
	var err error
	if c.Deploy.WorkerImages, err = deploy.ParseWorkerImages(in.Lines(deploy.InputWorkerImages)); err != nil {
		errs = append(errs, err)
	}
	if c.Deploy.WorkerPresets, err = deploy.ParseWorkerPresets(in.Lines(deploy.InputWorkerPresets)); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(append(errs, in.Err())...)
}

// Validate checks the Config; every problem is an *actions.InputError.
func (c Config) Validate() error {
	errs := []error{c.Azure.Validate(c.InActions)}
	if c.Azure.SubscriptionID == "" {
		errs = append(errs, actions.Invalid(azure.InputSubscriptionID, "is required", "set it to the Azure subscription id (a GUID) to deploy into"))
	}
	switch c.Command {
	case Deploy, Destroy:
	default:
		errs = append(errs, actions.Invalid(InputCommand, fmt.Sprintf("%q is not a command", c.Command), "set it to deploy or destroy"))
	}
	return errors.Join(errs...)
}

// LogValue shows the Config in logs; nothing in it is secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("command", c.Command),
		slog.String("subscription", c.Azure.SubscriptionID),
		slog.String("chart", c.Deploy.Chart),
		slog.Any("values", c.Deploy.Values),
		slog.Int("workerImages", len(c.Deploy.WorkerImages)),
	)
}
