output "cluster_name" {
  description = "AKS cluster name (az aks get-credentials -n)."
  value       = module.aks.name
}

output "resource_group_name" {
  description = "The TTL resource group that holds the environment."
  value       = module.rg.name
}

output "acr_login_server" {
  description = "Registry host for image references, e.g. <this>/daedalus-proxy:tag."
  value       = module.acr.login_server
}

output "acr_name" {
  description = "Registry name."
  value       = module.acr.name
}

output "key_vault_uri" {
  description = "Key Vault URI."
  value       = module.keyvault.uri
}

output "workload_identity_client_id" {
  description = "Client id to annotate the workload service account with (azure.workload.identity/client-id)."
  value       = module.identity.client_id
}

output "workload_identity_name" {
  description = "Name of the workload managed identity (az identity federated-credential list --identity-name)."
  value       = module.identity.name
}

output "oidc_issuer_url" {
  description = "The cluster's OIDC issuer, which the workload identity trusts."
  value       = module.aks.oidc_issuer_url
}

output "keda" {
  description = "Where KEDA comes from: managed (the AKS add-on; the deploy step skips its KEDA install) or helm (the deploy step installs KEDA)."
  value       = module.aks.keda_managed ? "managed" : "helm"
}

output "expires_at" {
  description = "When the nightly cleanup may delete the environment (RFC 3339)."
  value       = var.expires_at
}

output "ttl_hours" {
  description = "The TTL expires_at was computed from; the infra step compares it to keep plans quiet."
  value       = var.ttl_hours
}
