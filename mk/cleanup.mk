# The cleanup step (the nightly TTL reaper). Its tests run against the Azure SDK's own
# fake servers and need no engine but actionlint, built from the Go module proxy and
# cached outside the clone, which checks the nightly workflow and the action it uses.

ACTIONLINT_VERSION := 1.7.12
ACTIONLINT_DIR     := $(DAEDALUS_CACHE)/actionlint-$(ACTIONLINT_VERSION)
ACTIONLINT         := $(ACTIONLINT_DIR)/actionlint

TEST_ENGINES += actionlint
TEST_ENV     += DAEDALUS_ACTIONLINT=$(ACTIONLINT)

.PHONY: actionlint
actionlint: $(ACTIONLINT) ## Build the pinned actionlint for the workflow tests (cached outside the clone).

$(ACTIONLINT):
	$(call go-install,$@,github.com/rhysd/actionlint/cmd/actionlint@v$(ACTIONLINT_VERSION),actionlint)

.PHONY: bench-cleanup
bench-cleanup: ## Cleanup: 1,000 expired groups, 200 ms per ARM call, concurrent vs one at a time (takes ~8 min).
	$(GO) test -run '^$$' -bench 'BenchmarkReap1000$$' -benchtime 1x -timeout 30m -v ./internal/step/cleanup/
