# Settings of the `production` environment, read identically by the workflows (their
# var-files input) and by `make deploy-aks-test AKS_ENV=production`. Committed: nothing here is
# secret. env_name, github_repository, subscription_id, expires_at and ttl_hours come from
# the infra step's inputs.

# The production tier's GitHub identity from the bootstrap stack:
#   terraform -chdir=deploy/terraform/bootstrap output environment_tfvars
# Plans fail with a pointer here until it is set.
deploy_principal_id = "00000000-0000-0000-0000-000000000000"

# Entra group of people who administer the environment (Key Vault Secrets Officer, AKS
# cluster admin): az ad group show -g <name> --query id -o tsv
# admin_group_object_id = "…"

location   = "eastus2"
node_count = 3
keda       = "managed"

# CIDRs allowed to reach the API server (empty: any address, Entra ID sign-in only).
api_server_authorized_ip_ranges = []
