# What to configure in GitHub after the apply (docs/runbook.md, step 2).

locals {
  # key=value lines for the infra step's backend-config input, one per tier. No key=:
  # the infra step derives the state key from the environment name.
  backend_config = {
    for tier, container in azurerm_storage_container.state : tier => join("\n", [
      "subscription_id=${var.subscription_id}",
      "resource_group_name=${azurerm_resource_group.shared.name}",
      "storage_account_name=${azurerm_storage_account.state.name}",
      "container_name=${container.name}",
    ])
  }

  github_variables = {
    AZURE_TENANT_ID                  = data.azurerm_client_config.current.tenant_id
    AZURE_SUBSCRIPTION_ID            = var.subscription_id
    AZURE_SUBSCRIPTION_ID_PREVIEW    = var.preview_subscription_id
    AZURE_CLIENT_ID_TEST             = azurerm_user_assigned_identity.github["test"].client_id
    AZURE_CLIENT_ID_PRODUCTION       = azurerm_user_assigned_identity.github["production"].client_id
    AZURE_CLIENT_ID_PREVIEW          = azurerm_user_assigned_identity.github["preview"].client_id
    AZURE_CLIENT_ID_CLEANUP          = azurerm_user_assigned_identity.github["cleanup"].client_id
    TERRAFORM_BACKEND_CONFIG         = local.backend_config["protected"]
    TERRAFORM_BACKEND_CONFIG_PREVIEW = local.backend_config["preview"]
  }

  github_environments = ["test", "production", "cleanup"]
}

output "resource_group_name" {
  value = azurerm_resource_group.shared.name
}

output "backend_config" {
  description = "The protected tier's state (test, production): the TERRAFORM_BACKEND_CONFIG repository variable."
  value       = local.backend_config["protected"]
}

output "backend_config_preview" {
  description = "The preview tier's state: the TERRAFORM_BACKEND_CONFIG_PREVIEW repository variable."
  value       = local.backend_config["preview"]
}

output "github_environments" {
  description = "GitHub environments to create (Settings → Environments). Their protection rules gate the identity federated to each: required reviewers on production, and every one limited to the main branch."
  value       = local.github_environments
}

output "github_variables" {
  description = "Repository variables to create (Settings → Secrets and variables → Actions → Variables). None is a secret."
  value       = local.github_variables
}

output "environment_tfvars" {
  description = "The deploy_principal_id line of each deploy/environments/<env>.tfvars."
  value = {
    for name in keys(local.deploy_tiers) :
    name => "deploy_principal_id = \"${azurerm_user_assigned_identity.github[name].principal_id}\""
  }
}

output "github_setup" {
  description = "gh commands that create the environments and the variables above."
  value = join("\n", concat(
    [for e in local.github_environments : "gh api -X PUT repos/${var.github_repository}/environments/${e}"],
    [for k, v in local.github_variables : "gh variable set ${k} -R ${var.github_repository} --body '${v}'"],
  ))
}
