# Release assets and the tests of the workflows and actions.
#
# scripts/release builds daedalus-<step>_<os>_<arch>.tar.gz for every cmd/<step> and a
# checksums.txt; scripts/publish-release creates the GitHub release of the tag with them
# through gh (.github/workflows/release.yml runs both on every release tag push);
# actions/_bin/run (how every action gets its binary) downloads them for a released ref
# and verifies them. The workflow tests (internal/test/workflows) run actionlint (the
# pinned build from mk/cleanup.mk) over every workflow and action, the fetcher against a
# loopback release server, a snapshot release, publishing with the real gh against a
# loopback GitHub API, and the workflows themselves under act; act and gh are built from
# the Go module proxy and cached outside the clone.

ACT_VERSION := 0.2.89
ACT_DIR     := $(DAEDALUS_CACHE)/act-$(ACT_VERSION)
ACT         := $(ACT_DIR)/act

# GitHub's CLI, which the release workflow publishes with (`gh release`); the tests run it
# against a loopback stand-in for the GitHub REST API.
GH_VERSION := 2.83.0
GH_DIR     := $(DAEDALUS_CACHE)/gh-$(GH_VERSION)
GH         := $(GH_DIR)/gh

TEST_ENGINES += act
TEST_ENV     += DAEDALUS_ACT=$(ACT)
# Publishing a release with the real gh is a heavy build (several CPU-minutes) for a
# rarely changing script, so it has its own target, as the azurerm schema check does;
# `make test` leaves those tests to it.
TEST_SKIP    += ^TestPublishRelease

.PHONY: act
act: $(ACT) ## Build the pinned act for the workflow tests (cached outside the clone).

$(ACT):
	$(call go-install,$@,github.com/nektos/act@v$(ACT_VERSION),act)

.PHONY: gh
gh: $(GH) ## Build the pinned GitHub CLI for the release publishing tests (cached outside the clone).

# Not go-install: `go install …@v2.83.0` also reads the module's version list (to warn of a
# deprecation), which the module proxy does not serve for github.com/cli/cli/v2, and then
# fails. A throwaway module that requires it builds the same dependency versions.
$(GH):
	rm -rf $@.tmp && mkdir -p $@.tmp/mod
	cd $@.tmp/mod && $(GO) mod init gh.build >/dev/null 2>&1 && $(GO) get github.com/cli/cli/v2/cmd/gh@v$(GH_VERSION) && \
		GOFLAGS=-trimpath nice -n 10 $(GO) build -o $@.tmp/gh \
			-ldflags '-s -w -X github.com/cli/cli/v2/internal/build.Version=$(GH_VERSION)' github.com/cli/cli/v2/cmd/gh
	mv $@.tmp/gh $@ && rm -rf $@.tmp

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
workflows-test: $(ACTIONLINT) $(ACT) $(TERRAFORM) kube ## Workflow and action tests: actionlint, binary fetcher, snapshot release, act runs.
	DAEDALUS_REQUIRE_ENGINES=1 DAEDALUS_ACTIONLINT=$(ACTIONLINT) DAEDALUS_ACT=$(ACT) DAEDALUS_TERRAFORM=$(TERRAFORM) \
		TF_CLI_CONFIG_FILE=$(TERRAFORM_RC) KUBEBUILDER_ASSETS=$(KUBE_DIR) DAEDALUS_KUBE_ASSETS=$(KUBE_DIR) \
		nice -n 10 $(GO) test -race -count=1 -timeout 30m -skip '^TestPublishRelease' ./internal/test/workflows/

.PHONY: release-test
release-test: $(GH) ## Publishing a release: scripts/publish-release with the real gh against a loopback GitHub API (builds gh once, ~3 CPU-minutes).
	DAEDALUS_REQUIRE_ENGINES=1 DAEDALUS_GH=$(GH) nice -n 10 $(GO) test -race -count=1 -run '^TestPublishRelease' ./internal/test/workflows/
