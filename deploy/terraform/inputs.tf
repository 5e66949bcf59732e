# Values derived from the variables, and the checks that span several of them. This
# file and variables.tf need no provider, so the test suite plans them with real
# Terraform to prove every validation.

locals {
  # Every TTL resource carries these; the nightly cleanup deletes a resource group once
  # auto-destroy=true and expires-at is in the past. expires_at comes from the infra
  # step, never from the timestamp function, so an unchanged stack plans no diff.
  ttl_tags = {
    "auto-destroy" = "true"
    "expires-at"   = var.expires_at
  }
  tags = merge(var.tags, {
    "environment" = var.env_name
    "managed-by"  = "terraform"
    "ttl-hours"   = tostring(var.ttl_hours)
  }, local.ttl_tags)

  github_oidc_subjects = length(var.github_oidc_subjects) > 0 ? var.github_oidc_subjects : [
    "repo:${var.github_repository}:ref:refs/heads/main",
    "repo:${var.github_repository}:pull_request",
    "repo:${var.github_repository}:environment:test",
  ]

  # Globally unique names (ACR, Key Vault) get a suffix that is stable for a
  # subscription and environment, so re-applies keep them.
  suffix = substr(sha256("${var.subscription_id}/${var.env_name}"), 0, 6)
}

# Checks across variables; they stop a plan before anything is created.
resource "terraform_data" "input_checks" {
  input = local.github_oidc_subjects

  lifecycle {
    precondition {
      condition     = alltrue([for s in local.github_oidc_subjects : startswith(s, "repo:${var.github_repository}:")])
      error_message = "Every github_oidc_subjects entry must start with repo:${var.github_repository}: (the github_repository variable)."
    }
    precondition {
      condition     = timecmp(var.expires_at, plantimestamp()) > 0
      error_message = "expires_at (${var.expires_at}) is in the past: the nightly cleanup would delete the environment. Let the infra step set it, or pass a future time."
    }
  }
}
