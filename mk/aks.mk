# Laptop targets for a real AKS cluster, run with the developer's Azure login (az login)
# through the same step binaries the workflows use (scripts/aks-test; actions/_bin/run
# builds them from this checkout). Environment: AKS_ENV (default test), TTL_HOURS,
# IMAGE_TAG, TFVARS, TF_BACKEND_CONFIG, GITHUB_TOKEN, WORKER_IMAGES, TERRAFORM; see the
# script's header.

.PHONY: deploy-aks-test
deploy-aks-test: ## Apply the test environment (TTL extended), push the proxy image, deploy KEDA and the chart, smoke it.
	scripts/aks-test deploy

.PHONY: destroy-aks-test
destroy-aks-test: ## Destroy the test environment now instead of waiting for the nightly cleanup.
	scripts/aks-test destroy

.PHONY: aks-status
aks-status: ## The test environment's Terraform outputs, time left before cleanup, and what runs in the cluster.
	scripts/aks-test status
