# Release assets and the tests of the workflows and actions.
#
# scripts/release builds daedalus-<step>_<os>_<arch>.tar.gz for every cmd/<step> and a
# checksums.txt; scripts/publish-release creates the GitHub release of the tag with them
# (.github/workflows/release.yml runs both on every release tag push); actions/_bin/run
# (how every action gets its binary) downloads them for a released ref and verifies them. The workflow tests (internal/test/workflows) run actionlint
# (the pinned build from mk/cleanup.mk) over every workflow and action, the fetcher
# against a loopback release server, a snapshot release, and the workflows themselves
# under act, built from the Go module proxy and cached outside the clone.

ACT_VERSION := 0.2.89
ACT_DIR     := $(DAEDALUS_CACHE)/act-$(ACT_VERSION)
ACT         := $(ACT_DIR)/act

TEST_ENGINES += act
TEST_ENV     += DAEDALUS_ACT=$(ACT)

.PHONY: act
act: $(ACT) ## Build the pinned act for the workflow tests (cached outside the clone).

$(ACT):
	$(call go-install,$@,github.com/nektos/act@v$(ACT_VERSION),act)

.PHONY: release
release: ## Release assets of the v* tag at HEAD (all platforms) into dist/, for scripts/publish-release <tag>.
	scripts/release

.PHONY: release-snapshot
release-snapshot: ## Release assets of any commit for this machine's platform into dist/ (a trial run).
	scripts/release --snapshot --platforms "$$($(GO) env GOOS)/$$($(GO) env GOARCH)"

.PHONY: lint-actions
lint-actions: $(ACTIONLINT) ## actionlint (with shellcheck when installed) over every workflow and every action.yml.
	DAEDALUS_ACTIONLINT=$(ACTIONLINT) $(GO) test -count=1 -run 'TestActionlint' ./internal/test/workflows/

.PHONY: workflows-test
workflows-test: $(ACTIONLINT) $(ACT) $(TERRAFORM) kube ## Workflow and action tests: actionlint, binary fetcher, snapshot release, publishing, act runs.
	DAEDALUS_REQUIRE_ENGINES=1 DAEDALUS_ACTIONLINT=$(ACTIONLINT) DAEDALUS_ACT=$(ACT) DAEDALUS_TERRAFORM=$(TERRAFORM) \
		TF_CLI_CONFIG_FILE=$(TERRAFORM_RC) KUBEBUILDER_ASSETS=$(KUBE_DIR) DAEDALUS_KUBE_ASSETS=$(KUBE_DIR) \
		nice -n 10 $(GO) test -race -count=1 -timeout 30m ./internal/test/workflows/
