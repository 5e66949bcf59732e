# Bootstrap: the long-lived pieces every TTL environment relies on, applied once per
# subscription by a person (az login) with a local state:
#
#   - a resource group that is never tagged auto-destroy, so the nightly cleanup cannot
#     reap it (and with it the identity the cleanup runs as, or the state);
#   - a storage account and container for the main stack's azurerm backend, with
#     shared keys disabled: access is Entra ID only (use_azuread_auth);
#   - Storage Blob Data Contributor on it for the deployers.
#
# terraform -chdir=deploy/terraform/bootstrap init
# terraform -chdir=deploy/terraform/bootstrap apply -var subscription_id=... -var storage_account_name=...
# terraform -chdir=deploy/terraform/bootstrap output -raw backend_config
#
# Keep this stack's terraform.tfstate safe (or move it into the container it made with
# `terraform init -migrate-state` and a backend block of your own).

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.20"
    }
  }
}

provider "azurerm" {
  features {}
  subscription_id = var.subscription_id
  # The account has shared keys disabled: manage its containers with Entra ID.
  storage_use_azuread = true
}

variable "subscription_id" {
  type = string

  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.subscription_id))
    error_message = "subscription_id must be a subscription UUID."
  }
}

variable "location" {
  type    = string
  default = "eastus2"
}

variable "resource_group_name" {
  type    = string
  default = "rg-daedalus-shared"
}

variable "storage_account_name" {
  type        = string
  description = "Globally unique: 3-24 lower-case letters and digits."

  validation {
    condition     = can(regex("^[a-z0-9]{3,24}$", var.storage_account_name))
    error_message = "storage_account_name must be 3-24 lower-case letters and digits."
  }
}

variable "state_container_name" {
  type    = string
  default = "tfstate"
}

variable "state_key" {
  type    = string
  default = "daedalus.tfstate"
}

variable "deployer_principal_ids" {
  type        = list(string)
  description = "Further object ids (e.g. the GitHub Actions identity once it exists) that read and write the state. The principal running this apply is always included."
  default     = []
}

data "azurerm_client_config" "current" {}

resource "azurerm_resource_group" "shared" {
  name     = var.resource_group_name
  location = var.location
  tags = {
    "auto-destroy" = "false"
    "managed-by"   = "terraform"
    "purpose"      = "daedalus state and GitHub Actions identity; never reaped"
  }
}

resource "azurerm_storage_account" "state" {
  name                            = var.storage_account_name
  resource_group_name             = azurerm_resource_group.shared.name
  location                        = azurerm_resource_group.shared.location
  account_tier                    = "Standard"
  account_replication_type        = "LRS"
  min_tls_version                 = "TLS1_2"
  shared_access_key_enabled       = false
  allow_nested_items_to_be_public = false
  tags                            = azurerm_resource_group.shared.tags

  blob_properties {
    versioning_enabled = true
    delete_retention_policy {
      days = 14
    }
  }
}

resource "azurerm_storage_container" "state" {
  name                  = var.state_container_name
  storage_account_id    = azurerm_storage_account.state.id
  container_access_type = "private"
}

resource "azurerm_role_assignment" "state" {
  for_each             = toset(concat([data.azurerm_client_config.current.object_id], var.deployer_principal_ids))
  scope                = azurerm_storage_account.state.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = each.value
}

output "resource_group_name" {
  value = azurerm_resource_group.shared.name
}

output "backend_config" {
  description = "key=value lines for the infra step's backend-config input (by hand: one -backend-config=<line> each)."
  value       = <<-EOT
    resource_group_name=${azurerm_resource_group.shared.name}
    storage_account_name=${azurerm_storage_account.state.name}
    container_name=${azurerm_storage_container.state.name}
    key=${var.state_key}
  EOT
}
