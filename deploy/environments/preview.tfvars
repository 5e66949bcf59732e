# Settings of every pull-request preview (pr<N>), read identically by the workflows (their
# var-files input) and by `make deploy-aks-test AKS_ENV=pr<N>`. Committed: nothing here is
# secret. env_name, github_repository, subscription_id, expires_at and ttl_hours come from
# the infra step's inputs.

# The preview tier's GitHub identity from the bootstrap stack:
#   terraform -chdir=deploy/terraform/bootstrap output environment_tfvars
# Plans fail with a pointer here until it is set.
deploy_principal_id = "00000000-0000-0000-0000-000000000000"

# Entra group of people who administer the environment (Key Vault Secrets Officer, AKS
# cluster admin): az ad group show -g <name> --query id -o tsv
# admin_group_object_id = "…"

# Previews run in the preview subscription (docs/runbook.md, "The preview boundary").
location   = "eastus2"
node_count = 1
keda       = "managed"

# CIDRs allowed to reach the API server (empty: any address, Entra ID sign-in only).
api_server_authorized_ip_ranges = []
