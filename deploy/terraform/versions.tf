terraform {
  required_version = ">= 1.5.0"

  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
      # 4.65 is the first 4.x with every argument name 5.x requires
      # (user_assigned_identity_id, rbac_authorization_enabled, node_provisioning_profile).
      version = ">= 4.65, < 6.0"
    }
  }
}

provider "azurerm" {
  features {
    key_vault {
      # A TTL environment is deleted whole; its vault must not linger soft-deleted
      # under a name the next deployment wants.
      purge_soft_delete_on_destroy = true
    }
    resource_group {
      # The cleanup reaps the group with everything AKS put in it.
      prevent_deletion_if_contains_resources = false
    }
  }

  # Sign-in comes from the environment: ARM_USE_OIDC, ARM_OIDC_REQUEST_URL/_TOKEN,
  # ARM_CLIENT_ID and ARM_TENANT_ID set by the infra step in GitHub Actions, or the
  # Azure CLI login on a workstation. Never a client secret.
  subscription_id = var.subscription_id

  # Register nothing: the tier identities may not register resource providers, and the
  # root action's preflight checks the few the stack needs (docs/runbook.md).
  resource_provider_registrations = "none"
}
