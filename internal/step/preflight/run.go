package preflight

import (
	"context"
	"errors"
)

// Run checks what the command needs: for Deploy, that every worker has an image (an
// *actions.InputError otherwise, before Azure is asked anything); then the caller's
// permissions at the subscription and the resource providers' registration. Each missing
// permission or provider is a Problem; an error is returned only when a check could not
// be made.
func Run(ctx context.Context, cfg Config, deps Deps) ([]Problem, error) {
	if cfg.Command == Deploy {
		if err := Images(cfg.Deploy); err != nil {
			return nil, err
		}
	}
	assignee := cfg.Azure.ClientID
	if assignee == "" {
		assignee = "<your user or client id>"
	}
	c := Checker{ARM: deps.ARM, Subscription: cfg.Azure.SubscriptionID, Assignee: assignee}
	perm, perr := c.Permissions(ctx, cfg.needs())
	prov, verr := c.Providers(ctx, Providers)
	return append(perm, prov...), errors.Join(perr, verr)
}

// needs are the permissions the command needs.
func (c Config) needs() []Need {
	if c.Command == Destroy {
		return DestroyNeeds
	}
	return DeployNeeds
}
