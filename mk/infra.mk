# The infra step: a pinned Terraform built from the Go module proxy for the tests.
# HashiCorp's release downloads are not reachable from CI; v1.5.7 is the newest release
# that `go install` can build (v1.9+ uses replace directives to nested modules).

TERRAFORM_VERSION := 1.5.7
TERRAFORM_DIR     := $(DAEDALUS_CACHE)/terraform-$(TERRAFORM_VERSION)
TERRAFORM         := $(TERRAFORM_DIR)/terraform
TERRAFORM_RC      := $(CURDIR)/internal/infra/testdata/terraformrc

TEST_ENGINES += terraform
TEST_ENV     += DAEDALUS_TERRAFORM=$(TERRAFORM) TF_CLI_CONFIG_FILE=$(TERRAFORM_RC)

.PHONY: terraform
terraform: $(TERRAFORM) ## Build the pinned terraform for the tests (cached outside the clone).

$(TERRAFORM):
	mkdir -p $(TERRAFORM_DIR)
	GOBIN=$(TERRAFORM_DIR) GOFLAGS=-trimpath $(GO) install github.com/hashicorp/terraform@v$(TERRAFORM_VERSION)

.PHONY: infra-fmt
infra-fmt: $(TERRAFORM) ## terraform fmt the stack under deploy/terraform.
	TF_CLI_CONFIG_FILE=$(TERRAFORM_RC) $(TERRAFORM) fmt -recursive deploy/terraform
