# AKS with the OIDC issuer and workload identity enabled; a system-assigned control
# plane identity and the kubelet identity AKS creates (granted AcrPull by the acr module).
#
# Hardened: no local accounts (no admin kubeconfig exists to leak), Entra ID sign-in with
# Azure RBAC for Kubernetes (each admin gets "Azure Kubernetes Service RBAC Cluster Admin"
# at this cluster only), Cilium as network policy engine so the chart's NetworkPolicy is
# enforced, and optional authorized IP ranges for the API server.

variable "name" {
  type = string
}

variable "resource_group_name" {
  type = string
}

variable "location" {
  type = string
}

variable "kubernetes_version" {
  type    = string
  default = null
}

variable "node_count" {
  type    = number
  default = 2
}

variable "node_vm_size" {
  type    = string
  default = "Standard_D2s_v5"
}

variable "os_disk_size_gb" {
  type    = number
  default = 75
}

variable "tenant_id" {
  type        = string
  description = "Entra tenant whose identities sign in to the cluster."
}

variable "admins" {
  type        = map(object({ id = string, type = string }))
  description = "Principals granted Azure Kubernetes Service RBAC Cluster Admin on this cluster, keyed by a name known at plan time."
}

variable "keda_managed" {
  type        = bool
  description = "Run KEDA as the managed AKS add-on (workload_autoscaler_profile); false leaves KEDA to the deploy step's Helm install."
  default     = true
}

variable "api_server_authorized_ip_ranges" {
  type    = list(string)
  default = []
}

variable "tags" {
  type = map(string)
}

resource "azurerm_kubernetes_cluster" "this" {
  name                = var.name
  resource_group_name = var.resource_group_name
  location            = var.location
  dns_prefix          = var.name
  kubernetes_version  = var.kubernetes_version
  node_resource_group = "${var.resource_group_name}-nodes"
  sku_tier            = "Free"

  oidc_issuer_enabled       = true
  workload_identity_enabled = true

  # Entra ID only: no static admin credential; Kubernetes authorization is Azure RBAC.
  local_account_disabled = true
  azure_active_directory_role_based_access_control {
    tenant_id          = var.tenant_id
    azure_rbac_enabled = true
  }

  network_profile {
    network_plugin      = "azure"
    network_plugin_mode = "overlay"
    network_data_plane  = "cilium"
    network_policy      = "cilium"
  }

  dynamic "api_server_access_profile" {
    for_each = length(var.api_server_authorized_ip_ranges) > 0 ? [1] : []
    content {
      authorized_ip_ranges = var.api_server_authorized_ip_ranges
    }
  }

  workload_autoscaler_profile {
    keda_enabled = var.keda_managed
  }

  # The system pool is sized by hand (node_count); no node auto-provisioning.
  node_provisioning_profile {
    mode = "Manual"
  }

  default_node_pool {
    name                        = "system"
    vm_size                     = var.node_vm_size
    node_count                  = var.node_count
    os_disk_size_gb             = var.os_disk_size_gb
    os_disk_type                = "Managed"
    temporary_name_for_rotation = "systemtmp"
    tags                        = var.tags

    upgrade_settings {
      max_surge = "1"
    }
  }

  identity {
    type = "SystemAssigned"
  }

  tags = var.tags
}

resource "azurerm_role_assignment" "cluster_admin" {
  for_each             = var.admins
  scope                = azurerm_kubernetes_cluster.this.id
  role_definition_name = "Azure Kubernetes Service RBAC Cluster Admin"
  principal_id         = each.value.id
  principal_type       = each.value.type
}

output "name" {
  value = azurerm_kubernetes_cluster.this.name
}

output "id" {
  value = azurerm_kubernetes_cluster.this.id
}

output "oidc_issuer_url" {
  value = azurerm_kubernetes_cluster.this.oidc_issuer_url
}

output "kubelet_identity_object_id" {
  value = azurerm_kubernetes_cluster.this.kubelet_identity[0].object_id
}

output "keda_managed" {
  value = var.keda_managed
}
