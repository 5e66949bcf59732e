package preflight

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/daedalus-dev/daedalus/internal/step/deploy"
)

// Problem is one failed check: what is missing, and how to get it.
type Problem struct {
	Check string // permission, provider or input
	What  string // the missing permission, provider or input
	Why   string // what the run would have needed it for
	Grant string // the role and scope, or the input, that supplies it
	Fix   string // the command or setting that fixes it
}

func (p Problem) Error() string {
	return fmt.Sprintf("missing %s %s (needed to %s): %s; fix: %s", p.Check, p.What, p.Why, p.Grant, p.Fix)
}

// Checker runs the checks against one subscription as one identity.
type Checker struct {
	ARM          ARM
	Subscription string
	// Assignee names the identity in the fix commands (its client id, or a
	// placeholder outside Actions).
	Assignee string
}

// Permissions checks the caller's effective permissions at the subscription against
// needs.
func (c Checker) Permissions(ctx context.Context, needs []Need) ([]Problem, error) {
	perms, err := c.ARM.Permissions(ctx)
	if err != nil {
		return nil, err
	}
	scope := "/subscriptions/" + c.Subscription
	var out []Problem
	for _, n := range needs {
		if Allowed(perms, n.Action) {
			continue
		}
		grant := fmt.Sprintf("role %q at scope %s", n.Role, scope)
		fix := fmt.Sprintf("az role assignment create --assignee %s --role %q --scope %s", c.Assignee, n.Role, scope)
		if n.Condition != "" {
			grant += " with " + n.Condition
			fix += ` --condition-version 2.0 --condition "<the condition the bootstrap stack writes; see docs/runbook.md>"`
		}
		out = append(out, Problem{Check: "permission", What: n.Action, Why: n.Why, Grant: grant, Fix: fix})
	}
	return out, nil
}

// Providers checks that each namespace is registered in the subscription.
func (c Checker) Providers(ctx context.Context, namespaces []string) ([]Problem, error) {
	var out []Problem
	var errs []error
	for _, ns := range namespaces {
		state, err := c.ARM.RegistrationState(ctx, ns)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if strings.EqualFold(state, "Registered") {
			continue
		}
		out = append(out, Problem{
			Check: "resource provider", What: ns + " (" + orUnknown(state) + ")",
			Why:   "create its resources",
			Grant: "registered in subscription " + c.Subscription + " (Contributor may register it)",
			Fix:   fmt.Sprintf("az provider register --namespace %s --subscription %s --wait", ns, c.Subscription),
		})
	}
	return out, errors.Join(errs...)
}

func orUnknown(s string) string {
	if s == "" {
		return "state unknown"
	}
	return s
}

// placeholderProxy stands in for the proxy image, which is built after infra: the
// check is about the images the caller must give.
const placeholderProxy = "preflight.invalid/daedalus-proxy:preflight"

// Images renders the chart as deploy will, with the worker-images given, and returns
// deploy's own input error when a worker lacks an image (or names no worker of the
// values).
func Images(cfg deploy.Config) error {
	cfg.ProxyImage = placeholderProxy
	_, err := deploy.Prepare(cfg)
	return err
}
