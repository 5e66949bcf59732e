# The smoke step: ten end-to-end checks against a deployed
# release, with stage timings and diagnoses. Its tests run on the control plane of
# mk/deploy.mk and an embedded NATS; the whole pipeline with KEDA is `make e2e`.

SMOKE_TASKS     ?= 1
SMOKE_NAMESPACE ?= daedalus
SMOKE_RELEASE   ?= daedalus
SMOKE_WORKER    ?= copilot

.PHONY: smoke
smoke: ## Run the smoke step against the current kubeconfig (SMOKE_TASKS, SMOKE_NAMESPACE, SMOKE_RELEASE, SMOKE_WORKER).
	env INPUT_TASKS=$(SMOKE_TASKS) INPUT_NAMESPACE=$(SMOKE_NAMESPACE) INPUT_RELEASE=$(SMOKE_RELEASE) INPUT_WORKER=$(SMOKE_WORKER) \
		$(GO) run ./cmd/smoke

.PHONY: smoke-test
smoke-test: kube ## The smoke checks and the test node on a real kube-apiserver, etcd, job controller and NATS.
	KUBEBUILDER_ASSETS=$(KUBE_DIR) DAEDALUS_KUBE_ASSETS=$(KUBE_DIR) DAEDALUS_KEDA_CRDS=$(KEDA_CRD_DIR) DAEDALUS_REQUIRE_ENGINES=1 \
		$(GO) test -race -count=1 ./internal/step/smoke/ ./internal/test/testnode/ ./cmd/smoke/
