// Package preflight is the `preflight` step: the checks the root action runs before the
// first plan, so that a run that cannot succeed fails in seconds with the fix, instead of
// after ten minutes of provisioning.
//
// It checks, and reports every failure at once as an ::error:: naming what is missing,
// the role or input that supplies it and the command that fixes it:
//
//   - the caller's effective permissions at the subscription (ARM's
//     Microsoft.Authorization/permissions list for the caller, wildcards and notActions
//     evaluated as ARM does) against what the environment stack does: create resource
//     groups, AKS, ACR, Key Vault and user-assigned identities with federated
//     credentials, and assign roles (destroy: delete them);
//   - that the resource providers the stack uses are registered in the subscription;
//   - that every worker the chart values define has an image (worker-images), using the
//     deploy step's own rendering, so a missing agent image is reported before infra.
//
// Why a step of its own rather than a mode of infra: each step is one binary with one
// Config, and these checks need the Azure SDK and the chart renderer, but no terraform;
// infra needs terraform and neither of those.
package preflight
