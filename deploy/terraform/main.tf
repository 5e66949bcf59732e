# The Daedalus test environment: AKS (OIDC issuer, workload identity), ACR, Key Vault,
# the workload identity and the GitHub Actions identity. Everything except the GitHub
# Actions identity lives in one resource group tagged for the nightly cleanup.

data "azurerm_client_config" "current" {}

# Created by bootstrap/; never tagged auto-destroy, so the cleanup cannot reap the
# identity it runs as or the state it needs.
data "azurerm_resource_group" "shared" {
  name = var.shared_resource_group_name
}

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
  source              = "./modules/aks"
  name                = "aks-daedalus-${var.env_name}"
  resource_group_name = module.rg.name
  location            = var.location
  kubernetes_version  = var.kubernetes_version
  node_count          = var.node_count
  node_vm_size        = var.node_vm_size
  os_disk_size_gb     = var.os_disk_size_gb
  tags                = local.tags
}

module "gha_identity" {
  source              = "./modules/gha-identity"
  name                = "id-daedalus-${var.env_name}-github"
  resource_group_name = data.azurerm_resource_group.shared.name
  location            = data.azurerm_resource_group.shared.location
  github_repository   = var.github_repository
  subjects            = local.github_oidc_subjects
  enable_cleanup_role = var.enable_cleanup_role
  subscription_id     = var.subscription_id
  # Not local.tags: this identity outlives the environment (it runs the cleanup).
  tags = merge(var.tags, { "environment" = var.env_name, "managed-by" = "terraform", "auto-destroy" = "false" })
}

module "acr" {
  source              = "./modules/acr"
  name                = "acrdaedalus${var.env_name}${local.suffix}"
  resource_group_name = module.rg.name
  location            = var.location
  pull_principal_id   = module.aks.kubelet_identity_object_id
  push_principal_ids  = concat([module.gha_identity.principal_id], var.additional_push_principal_ids)
  tags                = local.tags
}

module "keyvault" {
  source                = "./modules/keyvault"
  name                  = "kv-${var.env_name}-${local.suffix}"
  resource_group_name   = module.rg.name
  location              = var.location
  tenant_id             = data.azurerm_client_config.current.tenant_id
  reader_principal_id   = module.identity.principal_id
  officer_principal_ids = [data.azurerm_client_config.current.object_id]
  tags                  = local.tags
}
