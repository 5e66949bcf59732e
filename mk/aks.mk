# Laptop targets for a real AKS cluster. They run the root action.yml itself, the pipeline
# the workflows run, through cmd/runaction (a local runner of composite actions: the same
# steps, if: conditions and expressions, each step's binary built from this checkout by
# actions/_bin/run), signed in with the developer's Azure login (az login) instead of
# GitHub OIDC. Inputs come from the environment:
#   AKS_ENV            environment (default test)
#   TTL_HOURS          hours until the nightly cleanup may delete it (default 24)
#   IMAGE_TAG          tag of the proxy image built and pushed (default the commit's short SHA)
#   TFVARS             personal .tfvars read after deploy/environments/<env>.tfvars
#                      (default deploy/terraform/terraform.tfvars, if present)
#   TF_BACKEND_CONFIG  azurerm backend settings, key=value a line; empty: local state
#   AZURE_SUBSCRIPTION_ID  subscription (default: az account show)
#   GITHUB_TOKEN       the agents' token for copilot-secret (else GITHUB_TOKEN= in smoke.env)
#   WORKER_IMAGES      agent images, name=image a line
#   SMOKE              false skips the smoke test
#   TERRAFORM          terraform binary (default: the one `make terraform` built, else terraform
#                      on PATH, else the step installs terraform-version)
#   GITHUB_REPOSITORY  owner/repo for the stack's github_repository (default: the origin remote)

AKS_ENV   ?= test
TTL_HOURS ?= 24
SMOKE     ?= true
TFVARS    ?= $(wildcard deploy/terraform/terraform.tfvars)

# Sign in when needed; the steps read the subscription from AZURE_SUBSCRIPTION_ID.
AKS_RUN = { az account show >/dev/null 2>&1 || az login --use-device-code >/dev/null; } && \
	AZURE_SUBSCRIPTION_ID=$${AZURE_SUBSCRIPTION_ID:-$$(az account show --query id -o tsv)} \
	DAEDALUS_BIN_SOURCE=source TFVARS='$(TFVARS)' \
	GITHUB_TOKEN=$${GITHUB_TOKEN:-$$(sed -n "s/^\(export \)\{0,1\}GITHUB_TOKEN=[\"']\{0,1\}\([^\"']*\).*/\2/p" smoke.env 2>/dev/null | head -n1)} \
	$(GO) run ./cmd/runaction -with environment='$(AKS_ENV)' -with terraform='$(or $(wildcard $(TERRAFORM)),terraform)' \
	-with-env backend-config=TF_BACKEND_CONFIG

.PHONY: deploy-aks-test
deploy-aks-test: ## Run the root action.yml from here: apply the environment (TTL extended), push the proxy image, deploy, smoke it.
	$(AKS_RUN) -with ttl-hours='$(TTL_HOURS)' -with smoke='$(SMOKE)' \
		-with image-tags="$${IMAGE_TAG:-$$(git rev-parse --short=12 HEAD)}" \
		-with-env var-files=TFVARS -with-env worker-images=WORKER_IMAGES -with-env github-token=GITHUB_TOKEN action.yml

.PHONY: destroy-aks-test
destroy-aks-test: ## Run the root action.yml with destroy: true: delete the environment now instead of waiting for the nightly cleanup.
	$(AKS_RUN) -with destroy=true -with-env var-files=TFVARS action.yml

.PHONY: aks-status
aks-status: ## The environment's Terraform outputs (actions/infra with command output), expires_at included.
	$(AKS_RUN) -with command=output actions/infra/action.yml
