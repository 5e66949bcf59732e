# One Daedalus environment: AKS (Entra ID with Azure RBAC, no local accounts, a network
# policy engine, OIDC issuer, workload identity), ACR, Key Vault and the workload
# identity, all in one resource group tagged for the nightly cleanup.
#
# The stack holds no GitHub identity: the identities CI signs in as, their OIDC
# subjects and their Azure roles belong to deploy/terraform/bootstrap, so destroying an
# environment can never delete the identity that destroys it. This stack only grants the
# tier's identity (deploy_principal_id) its roles on the environment's own resources.

data "azurerm_client_config" "current" {}

module "rg" {
  source   = "./modules/rg"
  name     = "rg-daedalus-${var.env_name}"
  location = var.location
  tags     = local.tags
}

module "identity" {
  source              = "./modules/identity"
  name                = "id-daedalus-${var.env_name}-workload"
  resource_group_name = module.rg.name
  location            = var.location
  oidc_issuer_url     = module.aks.oidc_issuer_url
  namespace           = var.workload_namespace
  service_account     = var.workload_service_account
  tags                = local.tags
}

module "aks" {
  source                          = "./modules/aks"
  name                            = "aks-daedalus-${var.env_name}"
  resource_group_name             = module.rg.name
  location                        = var.location
  kubernetes_version              = var.kubernetes_version
  node_count                      = var.node_count
  node_vm_size                    = var.node_vm_size
  os_disk_size_gb                 = var.os_disk_size_gb
  tenant_id                       = data.azurerm_client_config.current.tenant_id
  admins                          = local.admins
  keda_managed                    = var.keda == "managed"
  api_server_authorized_ip_ranges = var.api_server_authorized_ip_ranges
  tags                            = local.tags
}

module "acr" {
  source              = "./modules/acr"
  name                = "acrdaedalus${var.env_name}${local.suffix}"
  resource_group_name = module.rg.name
  location            = var.location
  pull_principal_id   = module.aks.kubelet_identity_object_id
  push_principal_ids  = concat([var.deploy_principal_id], var.additional_push_principal_ids)
  tags                = local.tags
}

module "keyvault" {
  source              = "./modules/keyvault"
  name                = "kv-${var.env_name}-${local.suffix}"
  resource_group_name = module.rg.name
  location            = var.location
  tenant_id           = data.azurerm_client_config.current.tenant_id
  reader_principal_id = module.identity.principal_id
  officers            = local.admins
  tags                = local.tags
}
