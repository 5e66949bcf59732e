# The deploy step: a real kube-apiserver, kube-controller-manager (job controller) and
# etcd for the chart and `deploy` tests, built from the Go module proxy through the
# wrapper module in tools/kube and cached outside the clone, keyed by version. KEDA's
# CRDs come from the KEDA Go module's source tree (config/crd/bases).

KUBE_VERSION  := 1.37.2
KUBE_MINOR    := 37
KUBE_DIR      := $(DAEDALUS_CACHE)/kube-$(KUBE_VERSION)
KUBE_APISERVER := $(KUBE_DIR)/kube-apiserver
KUBE_BINARIES := $(KUBE_APISERVER) $(KUBE_DIR)/kube-controller-manager $(KUBE_DIR)/etcd
KUBE_LDFLAGS  := -s -w -X k8s.io/component-base/version.gitVersion=v$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(KUBE_MINOR) \
	-X k8s.io/component-base/version.gitTreeState=clean

KEDA_MODULE_VERSION := 2.21.0
KEDA_CRD_DIR        := $(DAEDALUS_CACHE)/keda-crds-$(KEDA_MODULE_VERSION)
KEDA_CRDS           := $(KEDA_CRD_DIR)/.done

TEST_ENGINES += kube
TEST_ENV     += KUBEBUILDER_ASSETS=$(KUBE_DIR) DAEDALUS_KUBE_ASSETS=$(KUBE_DIR) DAEDALUS_KEDA_CRDS=$(KEDA_CRD_DIR)

.PHONY: kube
kube: $(KUBE_BINARIES) $(KEDA_CRDS) ## Build kube-apiserver, kube-controller-manager and etcd, fetch KEDA's CRDs (cached outside the clone).

# One build for the three binaries (they share most packages); a file per binary keeps
# the target idempotent. The build writes to a temporary directory and moves the
# binaries in at the end, so an interrupted build never leaves a half cache.
$(KUBE_BINARIES) &:
	rm -rf $(KUBE_DIR).tmp && mkdir -p $(KUBE_DIR).tmp $(KUBE_DIR)
	cd tools/kube && GOFLAGS=-trimpath $(GO) build -ldflags '$(KUBE_LDFLAGS)' -o $(KUBE_DIR).tmp/ \
		k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager go.etcd.io/etcd/server/v3
	mv $(KUBE_DIR).tmp/server $(KUBE_DIR)/etcd
	mv $(KUBE_DIR).tmp/kube-controller-manager $(KUBE_DIR)/kube-controller-manager
	mv $(KUBE_DIR).tmp/kube-apiserver $(KUBE_DIR)/kube-apiserver
	rm -rf $(KUBE_DIR).tmp

$(KEDA_CRDS):
	rm -rf $(KEDA_CRD_DIR) && mkdir -p $(KEDA_CRD_DIR)
	dir=$$(cd tools/kube && $(GO) mod download -json github.com/kedacore/keda/v2@v$(KEDA_MODULE_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && \
		test -n "$$dir" && cp $$dir/config/crd/bases/*.yaml $(KEDA_CRD_DIR)/ && chmod u+w $(KEDA_CRD_DIR)/*.yaml
	touch $@

.PHONY: chart-test
chart-test: ## Lint the Daedalus chart, check its golden renders, schema and nats.conf (no cluster).
	$(GO) test -run 'TestHelmLint|TestGoldenRenders|TestValuesRejected|TestNATS' ./internal/step/deploy/

.PHONY: chart-golden
chart-golden: ## Rewrite the chart's golden renders under internal/step/deploy/testdata (review the diff).
	$(GO) test -run TestGoldenRenders ./internal/step/deploy/ -update

.PHONY: deploy-test
deploy-test: kube ## The deploy step and chart on a real kube-apiserver, etcd and kube-controller-manager, with a test node standing in for the images.
	KUBEBUILDER_ASSETS=$(KUBE_DIR) DAEDALUS_KUBE_ASSETS=$(KUBE_DIR) DAEDALUS_KEDA_CRDS=$(KEDA_CRD_DIR) DAEDALUS_REQUIRE_ENGINES=1 \
		$(GO) test -race -count=1 ./internal/test/kubetest/ ./internal/step/deploy/
