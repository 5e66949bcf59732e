# The GitHub Actions identity: a user-assigned identity federated to GitHub's OIDC
# issuer for each subject, AcrPush on the registry (granted by the acr module through
# its push principals), and optionally Contributor on the subscription for the nightly
# cleanup.
#
# It must live in a long-lived resource group, never in the TTL group: the cleanup runs
# as this identity and would otherwise delete itself along with the first environment
# it reaps.

variable "name" {
  type = string
}

variable "resource_group_name" {
  type        = string
  description = "The shared, never-reaped resource group."
}

variable "location" {
  type = string
}

variable "github_repository" {
  type = string
}

variable "subjects" {
  type        = list(string)
  description = "GitHub OIDC subjects, e.g. repo:owner/repo:ref:refs/heads/main."
}

variable "enable_cleanup_role" {
  type    = bool
  default = false
}

variable "subscription_id" {
  type = string
}

variable "tags" {
  type = map(string)

  validation {
    condition     = lookup(var.tags, "auto-destroy", "false") != "true"
    error_message = "The GitHub Actions identity runs the cleanup: it must not be tagged auto-destroy=true."
  }
}

resource "azurerm_user_assigned_identity" "this" {
  name                = var.name
  resource_group_name = var.resource_group_name
  location            = var.location
  tags                = var.tags

  lifecycle {
    precondition {
      condition     = alltrue([for s in var.subjects : startswith(s, "repo:${var.github_repository}:")])
      error_message = "Every subject must start with repo:${var.github_repository}:."
    }
  }
}

resource "azurerm_federated_identity_credential" "github" {
  # Keyed by the subject so adding one leaves the others in place.
  for_each            = { for s in var.subjects : substr(replace(replace(s, "/[^A-Za-z0-9_-]/", "-"), "/-+/", "-"), 0, 120) => s }
  name                = each.key
  resource_group_name = var.resource_group_name
  parent_id           = azurerm_user_assigned_identity.this.id
  audience            = ["api://AzureADTokenExchange"]
  issuer              = "https://token.actions.githubusercontent.com"
  subject             = each.value
}

resource "azurerm_role_assignment" "cleanup" {
  count                = var.enable_cleanup_role ? 1 : 0
  scope                = "/subscriptions/${var.subscription_id}"
  role_definition_name = "Contributor"
  principal_id         = azurerm_user_assigned_identity.this.principal_id
  principal_type       = "ServicePrincipal"
}

output "client_id" {
  value = azurerm_user_assigned_identity.this.client_id
}

output "principal_id" {
  value = azurerm_user_assigned_identity.this.principal_id
}

output "subjects" {
  value = var.subjects
}
