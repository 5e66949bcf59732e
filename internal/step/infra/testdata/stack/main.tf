# A stand-in for deploy/terraform that needs no cloud provider: the same contract with
# the infra step (the variables subscription_id, ttl_hours and expires_at; TTL tags on
# every resource; outputs named as the real stack names them), built from terraform_data
# and kept in a local backend.

terraform {
  required_version = ">= 1.5.0"
}

variable "subscription_id" {
  type        = string
  description = "Azure subscription id (passed by the step)."

  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.subscription_id))
    error_message = "subscription_id must be a UUID."
  }
}

variable "ttl_hours" {
  type        = number
  description = "Lifetime the step computed expires_at from."
}

variable "expires_at" {
  type        = string
  description = "RFC 3339 time after which the cleanup may delete the environment (passed by the step)."

  validation {
    condition     = can(formatdate("YYYY", var.expires_at))
    error_message = "expires_at must be an RFC 3339 timestamp."
  }
}

variable "env_name" {
  type    = string
  default = "test"
}

variable "node_count" {
  type    = number
  default = 2
}

variable "admin_token" {
  type      = string
  sensitive = true
  default   = "fixture-admin-token-5b1f0c"
}

locals {
  resource_group = "rg-daedalus-${var.env_name}"
  tags = {
    "auto-destroy" = "true"
    "expires-at"   = var.expires_at
    "environment"  = var.env_name
  }
}

resource "terraform_data" "resource_group" {
  input = {
    name = local.resource_group
    tags = local.tags
  }
}

resource "terraform_data" "cluster" {
  input = {
    name           = "aks-daedalus-${var.env_name}"
    resource_group = local.resource_group
    node_count     = var.node_count
    tags           = local.tags
  }
}

resource "terraform_data" "registry" {
  input = {
    name           = "acrdaedalus${var.env_name}"
    resource_group = local.resource_group
    tags           = local.tags
  }
}

output "cluster_name" {
  value = terraform_data.cluster.output.name
}

output "resource_group_name" {
  value = terraform_data.resource_group.output.name
}

output "acr_login_server" {
  value = "${terraform_data.registry.output.name}.azurecr.io"
}

output "node_count" {
  value = terraform_data.cluster.output.node_count
}

output "gha_oidc_subjects" {
  value = [
    "repo:daedalus-dev/daedalus:ref:refs/heads/main",
    "repo:daedalus-dev/daedalus:pull_request",
  ]
}

output "expires_at" {
  value = var.expires_at
}

output "ttl_hours" {
  value = var.ttl_hours
}

output "admin_token" {
  value     = var.admin_token
  sensitive = true
}

# Tests set env_dump_file to see the environment terraform runs with (the azurerm
# provider and backend read their sign-in settings from it).
variable "env_dump_file" {
  type    = string
  default = ""
}

resource "terraform_data" "env_dump" {
  count = var.env_dump_file == "" ? 0 : 1

  provisioner "local-exec" {
    command = "env > '${var.env_dump_file}'"
  }
}
