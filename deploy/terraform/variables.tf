# Inputs of the stack. Validation here may only look at the variable itself (Terraform
# 1.5); checks across variables are preconditions in inputs.tf.

variable "subscription_id" {
  type        = string
  description = "Azure subscription to deploy into. The infra step passes its subscription-id input."

  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.subscription_id))
    error_message = "subscription_id must be a subscription UUID such as 00000000-0000-0000-0000-000000000000 (az account show --query id -o tsv)."
  }
}

variable "env_name" {
  type        = string
  description = "Short environment name used in every resource name, e.g. test or pr123."
  default     = "test"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.env_name))
    error_message = "env_name must be 2-12 lower-case letters and digits, starting with a letter (it goes into the ACR and Key Vault names)."
  }
}

variable "location" {
  type        = string
  description = "Azure region, e.g. eastus2 (az account list-locations -o table)."
  default     = "eastus2"

  validation {
    condition     = can(regex("^[a-z]+[a-z0-9]*$", var.location))
    error_message = "location must be a region name such as eastus2 or westeurope: lower case, no spaces."
  }
}

variable "node_count" {
  type        = number
  description = "Nodes in the AKS system pool."
  default     = 2

  validation {
    condition     = var.node_count >= 1 && var.node_count <= 5 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number from 1 to 5."
  }
}

variable "node_vm_size" {
  type        = string
  description = "VM size of the AKS nodes."
  default     = "Standard_D2s_v5"

  validation {
    condition     = can(regex("^Standard_[A-Za-z0-9_]+$", var.node_vm_size))
    error_message = "node_vm_size must be an Azure VM size such as Standard_D2s_v5."
  }
}

variable "os_disk_size_gb" {
  type        = number
  description = "Managed OS disk size of each node, in GB."
  default     = 75

  validation {
    condition     = var.os_disk_size_gb >= 30 && var.os_disk_size_gb <= 1024 && floor(var.os_disk_size_gb) == var.os_disk_size_gb
    error_message = "os_disk_size_gb must be a whole number of GB from 30 to 1024."
  }
}

variable "kubernetes_version" {
  type        = string
  description = "AKS Kubernetes version (major.minor or major.minor.patch); null for the region's default."
  default     = null

  validation {
    condition     = var.kubernetes_version == null || can(regex("^[0-9]+\\.[0-9]+(\\.[0-9]+)?$", var.kubernetes_version))
    error_message = "kubernetes_version must look like 1.33 or 1.33.2, or be null."
  }
}

variable "ttl_hours" {
  type        = number
  description = "Lifetime of the environment; the infra step computes expires_at from it."
  default     = 24

  validation {
    condition     = var.ttl_hours >= 1 && var.ttl_hours <= 168 && floor(var.ttl_hours) == var.ttl_hours
    error_message = "ttl_hours must be a whole number of hours from 1 to 168."
  }
}

variable "expires_at" {
  type        = string
  description = "RFC 3339 time after which the nightly cleanup deletes the environment. Set by the infra step (now + ttl_hours) so a plan without a TTL change shows no diff; by hand: -var expires_at=$(date -u -d +24hours +%Y-%m-%dT%H:%M:%SZ)."

  validation {
    condition     = can(formatdate("YYYY", var.expires_at))
    error_message = "expires_at must be an RFC 3339 time such as 2026-11-27T09:00:00Z."
  }
}

variable "github_repository" {
  type        = string
  description = "owner/repo that deploys this environment (the infra step sets it; a tag on every resource). The GitHub identities and their OIDC subjects belong to deploy/terraform/bootstrap."

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be owner/repo, e.g. daedalus-dev/daedalus."
  }
}

variable "deploy_principal_id" {
  type        = string
  description = "Principal (object) id of this tier's GitHub identity from the bootstrap stack (terraform -chdir=deploy/terraform/bootstrap output environment_tfvars): AcrPush, Key Vault Secrets Officer and AKS RBAC Cluster Admin on this environment. Set in deploy/environments/<env>.tfvars."

  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.deploy_principal_id)) && var.deploy_principal_id != "00000000-0000-0000-0000-000000000000"
    error_message = "deploy_principal_id must be the principal id of the tier's GitHub identity: copy it from `terraform -chdir=deploy/terraform/bootstrap output environment_tfvars` into deploy/environments/<env>.tfvars."
  }
}

variable "admin_group_object_id" {
  type        = string
  description = "Object id of an Entra group of people who administer the environment (Key Vault Secrets Officer, AKS cluster admin); null for none."
  default     = null

  validation {
    condition     = var.admin_group_object_id == null || can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.admin_group_object_id))
    error_message = "admin_group_object_id must be a group object id (az ad group show -g <name> --query id -o tsv) or null."
  }
}

variable "keda" {
  type        = string
  description = "Where KEDA comes from: managed (the AKS add-on, workload_autoscaler_profile) or helm (the deploy step installs the KEDA chart). The keda output tells the deploy step which."
  default     = "managed"

  validation {
    condition     = contains(["managed", "helm"], var.keda)
    error_message = "keda must be managed (the AKS KEDA add-on) or helm (the deploy step installs KEDA)."
  }
}

variable "api_server_authorized_ip_ranges" {
  type        = list(string)
  description = "CIDR ranges allowed to reach the AKS API server; empty leaves it public (still Entra ID sign-in only). GitHub-hosted runners have no fixed addresses: set this only with self-hosted runners or a fixed egress."
  default     = []

  validation {
    condition     = alltrue([for r in var.api_server_authorized_ip_ranges : can(cidrhost(r, 0))])
    error_message = "api_server_authorized_ip_ranges must be CIDR ranges such as 203.0.113.0/24."
  }
}

variable "additional_push_principal_ids" {
  type        = list(string)
  description = "Object ids of further principals that get AcrPush on the registry."
  default     = []

  validation {
    condition     = alltrue([for id in var.additional_push_principal_ids : can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", id))])
    error_message = "additional_push_principal_ids must be object ids (UUIDs)."
  }
}

variable "workload_namespace" {
  type        = string
  description = "Kubernetes namespace of the workload service account."
  default     = "daedalus"
}

variable "workload_service_account" {
  type        = string
  description = "Kubernetes service account federated to the workload identity."
  default     = "daedalus-proxy"
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource. auto-destroy and expires-at are the stack's own."
  default     = {}

  validation {
    condition     = !contains(keys(var.tags), "auto-destroy") && !contains(keys(var.tags), "expires-at")
    error_message = "tags must not set auto-destroy or expires-at: the stack sets them from expires_at."
  }
}
