# RBAC-mode Key Vault: Key Vault Secrets User for the workload identity, Key Vault
# Secrets Officer for the tier's stable deploy identity and the optional admin group. Purge protection stays off so a TTL environment can
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

variable "officers" {
  type        = map(object({ id = string, type = string }))
  description = "Principals granted Key Vault Secrets Officer, keyed by a name known at plan time."
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
  rbac_authorization_enabled = true
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
  for_each             = var.officers
  scope                = azurerm_key_vault.this.id
  role_definition_name = "Key Vault Secrets Officer"
  principal_id         = each.value.id
  principal_type       = each.value.type
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
