# The infra step: a pinned Terraform built from the Go module proxy for the tests.
# HashiCorp's release downloads are not reachable from CI; v1.5.7 is the newest release
# that `go install` can build (v1.9+ uses replace directives to nested modules).

TERRAFORM_VERSION := 1.5.7
TERRAFORM_DIR     := $(DAEDALUS_CACHE)/terraform-$(TERRAFORM_VERSION)
TERRAFORM         := $(TERRAFORM_DIR)/terraform
TERRAFORM_RC      := $(CURDIR)/internal/step/infra/testdata/terraformrc

TEST_ENGINES += terraform
TEST_ENV     += DAEDALUS_TERRAFORM=$(TERRAFORM) TF_CLI_CONFIG_FILE=$(TERRAFORM_RC)

.PHONY: terraform
terraform: $(TERRAFORM) ## Build the pinned terraform for the tests (cached outside the clone).

$(TERRAFORM):
	$(call go-install,$@,github.com/hashicorp/terraform@v$(TERRAFORM_VERSION),terraform)

.PHONY: infra-fmt
infra-fmt: $(TERRAFORM) ## terraform fmt the stack under deploy/terraform.
	TF_CLI_CONFIG_FILE=$(TERRAFORM_RC) $(TERRAFORM) fmt -recursive deploy/terraform

# The real hashicorp/azurerm provider, to validate both stacks against its schema.
# Provider downloads are not reachable from CI; the Go module proxy serves azurerm 5.2.0 as a
# pseudo-version. Its first build takes ~25 min on 2 cores (a 225 MB binary), which would push a
# fresh-machine `make test` past CI's limit: it is kept OUT of TEST_ENGINES and `make test`, and run
# on its own with `make validate-azurerm`.
AZURERM_VERSION := 5.2.0
AZURERM_MODULE  := github.com/hashicorp/terraform-provider-azurerm@v1.44.1-0.20260824201233-fae580791926
AZURERM_DIR     := $(DAEDALUS_CACHE)/azurerm-$(AZURERM_VERSION)
AZURERM_PLUGINS := $(AZURERM_DIR)/plugins
AZURERM_BIN     := $(AZURERM_PLUGINS)/registry.terraform.io/hashicorp/azurerm/$(AZURERM_VERSION)/linux_amd64/terraform-provider-azurerm_v$(AZURERM_VERSION)
TF_STACKS       := deploy/terraform deploy/terraform/bootstrap

.PHONY: azurerm
azurerm: $(AZURERM_BIN) ## Build the real azurerm provider (~25 min, not part of `make test`).

$(AZURERM_BIN):
	$(call go-install,$@,$(AZURERM_MODULE),terraform-provider-azurerm)

.PHONY: validate-azurerm
validate-azurerm: $(TERRAFORM) $(AZURERM_BIN) ## Validate both stacks against the real azurerm schema; any error or warning fails.
	@set -euo pipefail; for stack in $(TF_STACKS); do \
	  work=$$(mktemp -d); cp -R $$stack/. $$work/; rm -rf $$work/.terraform $$work/.terraform.lock.hcl; \
	  TF_CLI_CONFIG_FILE=$(TERRAFORM_RC) $(TERRAFORM) -chdir=$$work init -backend=false -input=false -plugin-dir=$(AZURERM_PLUGINS) >/dev/null; \
	  TF_CLI_CONFIG_FILE=$(TERRAFORM_RC) $(TERRAFORM) -chdir=$$work validate -json > $$work/validate.json || true; \
	  jq -r --arg s $$stack '.diagnostics[] | "\($$s): \(.severity): \(.summary): \(.detail) (\(.range.filename // "-"):\(.range.start.line // "-"))"' $$work/validate.json; \
	  jq -e '.valid and (.warning_count == 0) and (.error_count == 0)' $$work/validate.json >/dev/null \
	    || { echo "$$stack: invalid or warnings against azurerm $(AZURERM_VERSION)"; rm -rf $$work; exit 1; }; \
	  echo "$$stack: valid against azurerm $(AZURERM_VERSION), 0 warnings"; rm -rf $$work; \
	done
