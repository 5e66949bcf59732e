# Remote state in the storage account that bootstrap/ creates, in a resource group the
# cleanup never reaps. The account, container and key come from -backend-config (the
# infra step's backend-config input, or `terraform init -backend-config=...`); sign-in is
# GitHub OIDC in Actions (ARM_USE_OIDC) and Entra ID for the blob data, never an
# access key.
#
# For a local state (experiments, tests), copy backend_override.tf.example to
# backend_override.tf.
terraform {
  backend "azurerm" {
    use_oidc         = true
    use_azuread_auth = true
  }
}
