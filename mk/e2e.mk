# `make e2e`: publish → deploy → smoke on one machine, no cloud. Real engines: the
# control plane from mk/deploy.mk, the KEDA operator built here from the KEDA Go module
# (run out-of-cluster against that API server), an embedded NATS JetStream and an
# in-process OCI registry. Only the container runtime is stood in for (internal/test/testnode).

KEDA_VERSION  := $(KEDA_MODULE_VERSION)
KEDA_DIR      := $(DAEDALUS_CACHE)/keda-$(KEDA_VERSION)
KEDA_OPERATOR := $(KEDA_DIR)/keda-operator

# `make test` runs the e2e too (CI runs `make test`): the KEDA operator is one more
# engine, and -tags e2e builds the package's tests.
TEST_ENGINES += keda
TEST_ENV     += DAEDALUS_KEDA_OPERATOR=$(KEDA_OPERATOR)
TEST_FLAGS   += -tags e2e

.PHONY: keda
keda: $(KEDA_OPERATOR) ## Build the KEDA operator from the KEDA Go module (cached outside the clone).

# KEDA's go.mod carries a replace directive, so `go install module@version` refuses it:
# build inside a writable copy of the module's source, with its own go.mod and go.sum.
# The binary is moved in at the end, so an interrupted build never leaves a half cache.
$(KEDA_OPERATOR):
	rm -rf $(KEDA_DIR).src $(KEDA_DIR).tmp && mkdir -p $(KEDA_DIR).tmp
	dir=$$(cd tools/kube && $(GO) mod download -json github.com/kedacore/keda/v2@v$(KEDA_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && \
		test -n "$$dir" && cp -r $$dir $(KEDA_DIR).src && chmod -R u+w $(KEDA_DIR).src
	cd $(KEDA_DIR).src && GOFLAGS=-trimpath CGO_ENABLED=0 nice -n 10 $(GO) build \
		-ldflags '-s -w -X=github.com/kedacore/keda/v2/version.Version=$(KEDA_VERSION) -X=github.com/kedacore/keda/v2/version.GitCommit=v$(KEDA_VERSION)' \
		-o $(KEDA_DIR).tmp/keda-operator ./cmd/operator
	mkdir -p $(KEDA_DIR) && mv $(KEDA_DIR).tmp/keda-operator $@
	rm -rf $(KEDA_DIR).src $(KEDA_DIR).tmp

# DAEDALUS_E2E_POLLING_INTERVAL=15 runs the e2e at the chart's default KEDA pollingInterval
# (the default here is 1 s, to keep the run short).
.PHONY: e2e
e2e: kube keda ## The whole pipeline on a real control plane, KEDA and NATS: publish → deploy → smoke (tasks: 5), SIGTERM mid-task, broken set-ups.
	KUBEBUILDER_ASSETS=$(KUBE_DIR) DAEDALUS_KUBE_ASSETS=$(KUBE_DIR) DAEDALUS_KEDA_CRDS=$(KEDA_CRD_DIR) \
		DAEDALUS_KEDA_OPERATOR=$(KEDA_OPERATOR) DAEDALUS_REQUIRE_ENGINES=1 \
		$(GO) test -tags e2e -race -count=1 -timeout 30m -v ./internal/test/e2e/

# Cold start on the real KEDA operator for poll at 15 s and 1 s and for the Daedalus
# scaler (push mode) at the same intervals: DAEDALUS_COLDSTART_TASKS (default 20) tasks
# per mode at random arrival times, each run by a Job's pod (the chart's proxy in job mode
# and the reference agent, on the e2e's node stand-in). Prints publish → Job created, Job
# created → task fetched and publish → prompt at the agent as p50/p95/min/max. A
# measurement: it asserts no speed. Takes about three minutes.
.PHONY: bench-coldstart
bench-coldstart: kube keda ## Cold start per scaling mode on the real KEDA operator (publish → Job → task fetched → prompt, p50/p95).
	KUBEBUILDER_ASSETS=$(KUBE_DIR) DAEDALUS_KUBE_ASSETS=$(KUBE_DIR) DAEDALUS_KEDA_CRDS=$(KEDA_CRD_DIR) \
		DAEDALUS_KEDA_OPERATOR=$(KEDA_OPERATOR) DAEDALUS_REQUIRE_ENGINES=1 DAEDALUS_COLDSTART=1 \
		$(GO) test -tags e2e -count=1 -timeout 30m -run '^TestColdStart$$' -v ./internal/test/e2e/
