# The workload's user-assigned identity, federated to the cluster's OIDC issuer for
# system:serviceaccount:<namespace>:<service account> (default daedalus/daedalus-proxy).

variable "name" {
  type = string
}

variable "resource_group_name" {
  type = string
}

variable "location" {
  type = string
}

variable "oidc_issuer_url" {
  type = string
}

variable "namespace" {
  type    = string
  default = "daedalus"
}

variable "service_account" {
  type    = string
  default = "daedalus-proxy"
}

variable "tags" {
  type = map(string)
}

resource "azurerm_user_assigned_identity" "this" {
  name                = var.name
  resource_group_name = var.resource_group_name
  location            = var.location
  tags                = var.tags
}

resource "azurerm_federated_identity_credential" "service_account" {
  name                      = "${var.namespace}-${var.service_account}"
  user_assigned_identity_id = azurerm_user_assigned_identity.this.id
  audience                  = ["api://AzureADTokenExchange"]
  issuer                    = var.oidc_issuer_url
  subject                   = "system:serviceaccount:${var.namespace}:${var.service_account}"
}

output "name" {
  value = azurerm_user_assigned_identity.this.name
}

output "client_id" {
  value = azurerm_user_assigned_identity.this.client_id
}

output "principal_id" {
  value = azurerm_user_assigned_identity.this.principal_id
}
