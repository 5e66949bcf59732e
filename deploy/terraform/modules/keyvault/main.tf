# RBAC-mode Key Vault: Key Vault Secrets User for the workload identity, Key Vault
# Secrets Officer for the deployer. Purge protection stays off so a TTL environment can
# be deleted and recreated under the same name.

variable "name" {
  type = string
}

variable "resource_group_name" {
  type = string
}

variable "location" {
  type = string
}

variable "tenant_id" {
  type = string
}

variable "reader_principal_id" {
  type        = string
  description = "Object id of the workload identity (Key Vault Secrets User)."
}

variable "officer_principal_ids" {
  type        = list(string)
  description = "Object ids of the deployers (Key Vault Secrets Officer)."
}

variable "tags" {
  type = map(string)
}

resource "azurerm_key_vault" "this" {
  name                       = var.name
  resource_group_name        = var.resource_group_name
  location                   = var.location
  tenant_id                  = var.tenant_id
  sku_name                   = "standard"
  enable_rbac_authorization  = true
  purge_protection_enabled   = false
  soft_delete_retention_days = 7
  tags                       = var.tags
}

resource "azurerm_role_assignment" "secrets_user" {
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets User"
  principal_id         = var.reader_principal_id
  principal_type       = "ServicePrincipal"
}

resource "azurerm_role_assignment" "secrets_officer" {
  count                = length(var.officer_principal_ids)
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = var.officer_principal_ids[count.index]
}

output "id" {
  value = azurerm_key_vault.this.id
}

output "name" {
  value = azurerm_key_vault.this.name
}

output "uri" {
  value = azurerm_key_vault.this.vault_uri
}
