# Bootstrap: what every environment relies on and no environment may own, applied once
# by a person (az login, Owner or User Access Administrator on both subscriptions) with a
# local state. docs/runbook.md walks through it.
#
#   - a resource group that is never tagged auto-destroy, so the nightly cleanup cannot
#     reap it (and with it the identities or the state);
#   - a storage account (shared keys disabled, Entra ID only) with one state container
#     per trust tier: `tfstate` for the protected environments (test, production) and
#     `tfstate-preview` for pull-request previews;
#   - the trust tiers (identities.tf): a deploy identity per protected environment, a
#     preview identity confined to the preview subscription, and a cleanup identity
#     with a custom role;
#   - outputs naming the repository variables and GitHub environments to create.
#
# terraform -chdir=deploy/terraform/bootstrap init
# terraform -chdir=deploy/terraform/bootstrap apply -var-file=bootstrap.tfvars
# terraform -chdir=deploy/terraform/bootstrap output github_setup
#
# Keep this stack's terraform.tfstate safe (or move it into the container it made with
# `terraform init -migrate-state` and a backend block of your own).

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
      # 4.65 is the first 4.x with every argument name 5.x requires.
      version = ">= 4.65, < 6.0"
    }
  }
}

# The protected subscription: state, identities, test and production.
provider "azurerm" {
  features {}
  subscription_id = var.subscription_id
  # The account has shared keys disabled: manage its containers with Entra ID.
  storage_use_azuread = true
  # Register nothing implicitly (docs/runbook.md lists the providers to register).
  resource_provider_registrations = "none"
}

# The preview subscription: every pull-request environment and nothing else.
provider "azurerm" {
  alias = "preview"
  features {}
  subscription_id                 = var.preview_subscription_id
  resource_provider_registrations = "none"
}

variable "subscription_id" {
  type        = string
  description = "The protected subscription: state, identities, test and production (az account show --query id -o tsv)."

  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.subscription_id))
    error_message = "subscription_id must be a subscription UUID."
  }
}

variable "preview_subscription_id" {
  type        = string
  description = "A separate subscription for pull-request previews: the preview identity is Contributor there and has no role in subscription_id. Must differ from subscription_id."

  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.preview_subscription_id))
    error_message = "preview_subscription_id must be a subscription UUID."
  }
}

variable "github_repository" {
  type        = string
  description = "owner/repo whose workflows sign in as the tier identities."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/repo, e.g. daedalus-dev/daedalus."
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

variable "state_reader_principal_ids" {
  type        = list(string)
  description = "Further people (object ids) who read and write every state container. The principal running this apply is always included."
  default     = []
}

data "azurerm_client_config" "current" {}

resource "terraform_data" "tier_checks" {
  input = var.preview_subscription_id

  lifecycle {
    precondition {
      condition     = lower(var.preview_subscription_id) != lower(var.subscription_id)
      error_message = "preview_subscription_id equals subscription_id: the preview identity would be Contributor where test and production live. Create a separate subscription for previews (docs/runbook.md, \"The preview boundary\")."
    }
  }
}

resource "azurerm_resource_group" "shared" {
  name     = var.resource_group_name
  location = var.location
  tags = {
    "auto-destroy" = "false"
    "managed-by"   = "terraform"
    "purpose"      = "daedalus state and GitHub identities; never reaped"
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

# One container per trust tier; each tier's identity gets Storage Blob Data Contributor
# on its own container only (identities.tf).
resource "azurerm_storage_container" "state" {
  for_each              = local.state_containers
  name                  = each.value
  storage_account_id    = azurerm_storage_account.state.id
  container_access_type = "private"
}

resource "azurerm_role_assignment" "state_people" {
  for_each             = toset(concat([data.azurerm_client_config.current.object_id], var.state_reader_principal_ids))
  scope                = azurerm_storage_account.state.id
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = each.value
}
