# CI (.ci/run) calls `make test`; the other targets are for people.
# Every variable below can be overridden: make bench BENCH=Classify BENCHTIME=2s
#
# Conventions: integration tests sit in files with `//go:build integration`
# and are named TestIntegrationXxx; benchmarks that need Kafka also carry the
# integration tag. They get their broker from processors/platform/stream/kafkatest.

GO                  ?= go
# gofmt from the same Go as $(GO), so nothing beyond Go needs to be on PATH.
GOFMT               ?= $(shell $(GO) env GOROOT)/bin/gofmt
PKG                 ?= ./...
GOTESTFLAGS         ?= -race -count=1
INTEGRATION_RUN     ?= Integration
INTEGRATION_TIMEOUT ?= 20m
# The dev-mode test runs the whole pipeline on the in-process broker, which
# is slow under -race (10 to 13 minutes on 2 busy cores): past go test's
# default 10 minutes for a package.
UNIT_TIMEOUT        ?= 30m
# Integration packages run one at a time: they share one small broker on a
# 2-core machine, and in parallel they time each other's requests out.
INTEGRATION_P       ?= 1
# Files tests save for people to look at (the console test's screenshot),
# under <dir>/_artifacts/ (go test -artifacts).
TEST_OUTPUT         ?= $(CURDIR)/.cache/test-output
BENCH               ?= .
BENCHTIME           ?= 1s
BENCHFLAGS          ?= -benchmem
FUZZTIME            ?= 10s
# Space-separated PKG:FuzzName; empty means every FuzzXxx in the tree.
FUZZ_TARGETS        ?=

export GO FUZZTIME FUZZ_TARGETS

.DEFAULT_GOAL := help
.PHONY: help build vet lint monitoring test-unit test-integration test bench isolation fuzz run kafka-up kafka-down kafka-status

help: ## list the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-z-]+:.*## / { gsub(/\$$\$$/, "$$", $$2); printf "  %-17s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: ## compile everything
	$(GO) build $(PKG)

vet: ## go vet, with and without the integration tag
	$(GO) vet $(PKG)
	$(GO) vet -tags integration $(PKG)

# staticcheck is pinned in go.mod (tool directive): `go tool` runs that version
# with nothing to install. A staticcheck.conf at the root, if any, sets its checks.
lint: ## gofmt -l must list nothing; staticcheck, with and without the integration tag
	@files=$$($(GOFMT) -l .) || exit 1; \
	if [ -n "$$files" ]; then echo "gofmt: not formatted (run gofmt -w on them):"; echo "$$files"; exit 1; fi
	$(GO) tool staticcheck $(PKG)
	$(GO) tool staticcheck -tags integration $(PKG)

monitoring: ## the alerting rules: promtool check rules and their unit tests (promtool from Debian's prometheus package, installed by scripts/promtool.sh)
	scripts/promtool.sh check rules docs/monitoring/alerts.yml
	scripts/promtool.sh test rules docs/monitoring/alerts_test.yml

test-unit: ## unit tests with -race, no broker needed
	$(GO) test $(GOTESTFLAGS) -timeout $(UNIT_TIMEOUT) $(PKG)

test-integration: ## integration tests on a real Kafka, a real schema registry (started and stopped here unless KAFKA_BROKERS / SCHEMA_REGISTRY_URL are set) and a headless Chromium (scripts/chromium.sh installs Debian's); files they save go to TEST_OUTPUT
	scripts/chromium.sh >/dev/null
	mkdir -p $(TEST_OUTPUT)
	scripts/with-kafka.sh scripts/with-registry.sh $(GO) test $(GOTESTFLAGS) -tags integration -artifacts -outputdir $(TEST_OUTPUT) -p $(INTEGRATION_P) -run '$(INTEGRATION_RUN)' -timeout $(INTEGRATION_TIMEOUT) $(PKG)

test: vet lint monitoring test-unit test-integration ## what CI runs: vet, lint, the alerting rules, unit, integration

bench: ## benchmarks (integration tag, with a broker); BENCH=regexp BENCHTIME=1s
	scripts/with-kafka.sh $(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) $(BENCHFLAGS) -tags integration $(PKG)

isolation: ## assert the sink's partner isolation (a healthy partner within 10% of its throughput alone): a measurement, so not in make test
	POSTBACKD_ASSERT_ISOLATION=1 scripts/with-kafka.sh $(GO) test -count=1 -tags integration -run 'TestIntegrationFaultyPartners$$' -v ./sinks/sinkstage/

fuzz: ## each fuzz target for FUZZTIME; FUZZ_TARGETS="./pkg:FuzzX ..."
	scripts/fuzz.sh

run: ## the whole pipeline in-process: postbackd dev
	$(GO) run ./cmd/postbackd dev

kafka-up: ## start a broker for this work tree; use: export $$(make -s kafka-up)
	@scripts/kafka.sh up

kafka-down: ## stop it and remove its data
	@scripts/kafka.sh down

kafka-status: ## is it running, and where
	@scripts/kafka.sh status
