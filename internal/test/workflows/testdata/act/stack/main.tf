# A provider-free stand-in for deploy/terraform as the root action uses it, for
# TestActRootAction: the infra step's contract (subscription_id, ttl_hours and expires_at
# passed by the step), the variables the root action writes into its tfvars (env_name,
# github_repository), and every output the root action reads from the infra step. The
# registry's login server and the workload identity are variables, so the test can point
# them at its loopback stand-ins. Built from terraform_data, kept in a local backend.

terraform {
  required_version = ">= 1.5.0"
}

variable "subscription_id" {
  type = string
}

variable "ttl_hours" {
  type = number
}

variable "expires_at" {
  type = string

  validation {
    condition     = can(formatdate("YYYY", var.expires_at))
    error_message = "expires_at must be an RFC 3339 timestamp."
  }
}

variable "env_name" {
  type = string
}

variable "github_repository" {
  type = string
}

variable "acr_login_server" {
  type = string
}

variable "workload_identity_client_id" {
  type = string
}

locals {
  tags = {
    "auto-destroy" = "true"
    "expires-at"   = var.expires_at
    "environment"  = var.env_name
    "repository"   = var.github_repository
  }
}

resource "terraform_data" "resource_group" {
  input = {
    name = "rg-daedalus-${var.env_name}"
    tags = local.tags
  }
}

resource "terraform_data" "cluster" {
  input = {
    name           = "aks-daedalus-${var.env_name}"
    resource_group = terraform_data.resource_group.output.name
    tags           = local.tags
  }
}

resource "terraform_data" "registry" {
  input = {
    name           = "acrdaedalus${var.env_name}"
    login_server   = var.acr_login_server
    resource_group = terraform_data.resource_group.output.name
    tags           = local.tags
  }
}

output "resource_group_name" {
  value = terraform_data.resource_group.output.name
}

output "cluster_name" {
  value = terraform_data.cluster.output.name
}

output "acr_name" {
  value = terraform_data.registry.output.name
}

output "acr_login_server" {
  value = terraform_data.registry.output.login_server
}

output "workload_identity_client_id" {
  value = var.workload_identity_client_id
}

output "github_repository" {
  value = var.github_repository
}

output "expires_at" {
  value = var.expires_at
}
