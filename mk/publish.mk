# publish step: the proxy image, built and pushed with no Docker daemon (internal/step/publish).
#
# ko is only a yardstick for the benchmark: built from the Go module proxy into the cache,
# never a test engine.

KO_VERSION := v0.19.1
KO         := $(DAEDALUS_CACHE)/ko-$(KO_VERSION)/ko

$(KO):
	$(call go-install,$@,github.com/google/ko@$(KO_VERSION),ko)

.PHONY: ko
ko: $(KO) ## Build ko (for bench-publish only) into the cache.

.PHONY: bench-publish
bench-publish: $(KO) ## Publish benchmark: build+push of the proxy image vs ko on a loopback registry; ratio and size.
	DAEDALUS_KO=$(KO) $(GO) test -run '^$$' -bench BenchmarkPublishVsKo -benchtime 1x -timeout 30m ./internal/step/publish/
