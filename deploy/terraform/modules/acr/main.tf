# Standard ACR without an admin user: the AKS kubelet identity pulls (AcrPull), the
# tier's GitHub identity and any additional principals push (AcrPush). No pull secret.

variable "name" {
  type = string
}

variable "resource_group_name" {
  type = string
}

variable "location" {
  type = string
}

variable "pull_principal_id" {
  type        = string
  description = "Object id of the AKS kubelet identity."
}

variable "push_principal_ids" {
  type        = list(string)
  description = "Object ids granted AcrPush."
  default     = []
}

variable "tags" {
  type = map(string)
}

resource "azurerm_container_registry" "this" {
  name                = var.name
  resource_group_name = var.resource_group_name
  location            = var.location
  sku                 = "Standard"
  admin_enabled       = false
  tags                = var.tags
}

resource "azurerm_role_assignment" "pull" {
  scope                            = azurerm_container_registry.this.id
  role_definition_name             = "AcrPull"
  principal_id                     = var.pull_principal_id
  principal_type                   = "ServicePrincipal"
  skip_service_principal_aad_check = true
}

resource "azurerm_role_assignment" "push" {
  # Keyed by index: object ids are unknown until their identities exist.
  count                = length(var.push_principal_ids)
  scope                = azurerm_container_registry.this.id
  role_definition_name = "AcrPush"
  principal_id         = var.push_principal_ids[count.index]
}

output "id" {
  value = azurerm_container_registry.this.id
}

output "name" {
  value = azurerm_container_registry.this.name
}

output "login_server" {
  value = azurerm_container_registry.this.login_server
}
