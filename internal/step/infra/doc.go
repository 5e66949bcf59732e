// Package infra is the `infra` step: it drives Terraform through terraform-exec to plan,
// apply, destroy or read the outputs of the stack under deploy/terraform.
//
// A run is init (backend configuration from the step, -input=false) → plan to a saved
// plan file with -detailed-exitcode → a step summary of that plan (resources to add,
// change and destroy, from `show -json`) → apply of exactly that saved plan → the stack's
// outputs as step outputs and in the summary. Sensitive outputs are masked before they
// are written and never appear in the summary. Destroy is a destroy plan applied the same
// way, so its summary lists what goes.
//
// TTL. The step, not Terraform, computes expires_at (now + ttl-hours) and passes it as a
// variable with ttl_hours and subscription_id; the stack tags every resource with it.
// A plan keeps the deployed expires_at unless ttl-hours changed, so an unchanged stack
// plans no changes; an apply always extends the TTL, which shows as a tag change only.
//
// State lock. When Terraform cannot take the state lock, the step reports who holds it,
// since when and the exact force-unlock command. It unlocks by itself only when asked to
// (force-unlock-older-than) and only a lock older than that age, then retries once.
//
// Azure. The identity inputs (tenant-id, client-id, subscription-id, cloud) are read and
// checked by internal/lib/azure like every step's. Terraform signs in by itself: the azurerm
// provider and backend get the GitHub OIDC request URL and token and the ids as ARM_*
// variables (ARM_USE_OIDC=true, ARM_ENVIRONMENT from cloud), so they fetch fresh GitHub
// tokens as they need them. No client secret is ever involved; ARM_CLIENT_SECRET and
// storage keys in the step's environment are dropped.
package infra
