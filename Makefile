# Daedalus: the two set-up commands are `make demo` and `make test` (see README.md).
#
# Engines that tests need (terraform, kube-apiserver, …) are built from the Go module
# proxy and cached outside the clone, keyed by tool and version, under $(DAEDALUS_CACHE).
# Each step's engines and targets live in mk/<step>.mk; a step adds the engines its tests
# need to TEST_ENGINES and the environment that points tests at them to TEST_ENV.

SHELL := /bin/bash
.DEFAULT_GOAL := help

GO             ?= go
DAEDALUS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/daedalus
BIN            := $(CURDIR)/bin
TEST_FLAGS     ?= -race -shuffle=on -timeout 45m
BENCH_FLAGS    ?= -run '^$$' -benchmem -benchtime 3s
export CHECKPOINT_DISABLE := 1

TEST_ENGINES :=
TEST_ENV     := DAEDALUS_REQUIRE_ENGINES=1
# Tests `make test` leaves to their own target (each mk/ file says which and why).
TEST_SKIP    :=
space        := $(subst ,, )

# $(call go-install,BINARY,PACKAGE@VERSION,NAME): build the Go command PACKAGE (its
# executable is called NAME) from the module proxy into the cache as BINARY, whole or not
# at all: a build cut short leaves nothing make would take for a finished one.
define go-install
	rm -rf $(1).tmp && mkdir -p $(1).tmp $(dir $(1))
	GOBIN=$(1).tmp GOFLAGS=-trimpath nice -n 10 $(GO) install $(2)
	mv $(1).tmp/$(3) $(1) && rm -rf $(1).tmp
endef

include $(sort $(wildcard mk/*.mk))

.PHONY: help
help: ## List the targets.
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-18s %s\n",$$1,$$2}'

.PHONY: build
build: ## Build every binary into ./bin.
	$(GO) build -trimpath -o $(BIN)/ ./cmd/...

.PHONY: demo
demo: ## Run the proxy end to end on an embedded NATS JetStream and the reference ACP agent.
	$(GO) run ./cmd/demo $(DEMO_FLAGS)

.PHONY: test
test: $(TEST_ENGINES) ## Build or fetch every engine the tests need, then run all tests with -race.
	$(TEST_ENV) $(GO) test $(TEST_FLAGS) $(if $(strip $(TEST_SKIP)),-skip '$(subst $(space),|,$(strip $(TEST_SKIP)))') ./...

.PHONY: test-short
test-short: ## Unit tests only (heavy engine tests skip).
	$(GO) test -short ./...

.PHONY: bench
bench: ## Proxy benchmarks: dispatch overhead vs raw NATS, job-mode start to prompt, peak RSS across one task and under a 1 GiB flood.
	$(GO) test $(BENCH_FLAGS) -bench . ./proxy/...

.PHONY: fuzz
fuzz: ## Fuzz the task decoder for a minute.
	$(GO) test -run '^$$' -fuzz FuzzDecodeTask -fuzztime 60s ./proxy/contract/

.PHONY: lint
lint: ## gofmt, go vet, go mod tidy check.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff
