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
    "repository"  = var.github_repository
    "ttl-hours"   = tostring(var.ttl_hours)
  }, local.ttl_tags)

  # Who administers the environment: the tier's CI identity (from the bootstrap stack,
  # never "whoever applied last") and, optionally, a group of people. Keyed by role so
  # the keys are known at plan time.
  admins = merge(
    { deploy = { id = var.deploy_principal_id, type = "ServicePrincipal" } },
    var.admin_group_object_id == null ? {} : { admins = { id = var.admin_group_object_id, type = "Group" } },
  )

  # Globally unique names (ACR, Key Vault) get a suffix that is stable for a
  # subscription and environment, so re-applies keep them.
  suffix = substr(sha256("${var.subscription_id}/${var.env_name}"), 0, 6)
}

# Checks across variables; they stop a plan before anything is created.
resource "terraform_data" "input_checks" {
  input = var.expires_at

  lifecycle {
    precondition {
      condition     = timecmp(var.expires_at, plantimestamp()) > 0
      error_message = "expires_at (${var.expires_at}) is in the past: the nightly cleanup would delete the environment. Let the infra step set it, or pass a future time."
    }
    precondition {
      condition     = var.admin_group_object_id == null || var.admin_group_object_id != var.deploy_principal_id
      error_message = "admin_group_object_id is the deploy identity's principal id: set it to the object id of a group of people (az ad group show -g <name> --query id -o tsv), or leave it null."
    }
  }
}
