# The verbs people type. Every target runs on the pinned Node LTS (hack/node.sh
# installs it on a fresh machine) and on binaries the project builds itself.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

NODE_BIN := $(shell hack/node.sh)
export PATH := $(NODE_BIN):$(CURDIR)/node_modules/.bin:$(PATH)
export NODE_OPTIONS ?=
NODE := $(NODE_BIN)/node
# Every test has a bound: a hang fails with a message instead of eating CI's budget.
# TEST_TIMEOUT_MS bounds each test (and hook); SUITE_TIMEOUT bounds a whole `node --test` run.
TEST_TIMEOUT_MS ?= 300000
SUITE_TIMEOUT ?= 30m
NODE_TEST = timeout --signal=TERM --kill-after=30s $(SUITE_TIMEOUT) node --test --test-timeout=$(TEST_TIMEOUT_MS) --test-reporter=spec
# Where `make cluster-up` keeps its state and kubeconfig.
CLUSTER_DIR ?= $(CURDIR)/out/cluster

.PHONY: help deps check generated-check bench-docs bench-docs-check lint typecheck unit integration test demo cluster-up cluster-down k8s-binaries kind-up

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: node_modules/.installed ## install npm dependencies (pinned by package-lock.json)

typecheck: deps ## tsc --noEmit (strict)
	tsc --noEmit -p .

lint: deps ## eslint
	eslint .

check: typecheck lint generated-check ## static checks, and every generated file current

# Generated files: crds/ (from the zod schema), the chart's CRD templates, docs/crd-reference.md and
# docs/benchmarks.md's tables (from docs/benchmarks/results/*.json). Each target is in its fragment.
generated-check: manifests-check chart-crds-check docs-crd-check bench-docs-check ## fail when a generated file is stale

bench-docs: deps ## regenerate docs/benchmarks.md's tables from the committed docs/benchmarks/results/*.json
	$(NODE) hack/bench-docs.ts

bench-docs-check: deps ## fail when docs/benchmarks.md differs from what docs/benchmarks/results/*.json give
	$(NODE) hack/bench-docs.ts --check

k8s-binaries: ## build the pinned Kubernetes + etcd binaries, the node's images/tools and MetalLB (cached outside the checkout)
	test/cluster/build.sh all >/dev/null
	test/cluster/node/build.sh >/dev/null
	test/cluster/node/build-metallb.sh >/dev/null
	test/tools/helm/build.sh >/dev/null
	test/tools/kstatus/build.sh >/dev/null

# FULL_NODE=1 adds the full node: containerd, kubelet, kube-proxy, MetalLB (root only).
cluster-up: deps ## start a local control plane on 127.0.0.1 (FULL_NODE=1: plus a full node)
	$(NODE) test/cluster/cli.ts up --dir $(CLUSTER_DIR) $(if $(filter 1,$(FULL_NODE)),--node,)

cluster-down: ## stop it and remove its state
	$(NODE) test/cluster/cli.ts down --dir $(CLUSTER_DIR)

unit: deps ## unit tests (no cluster)
	$(NODE_TEST) $(UNIT_TESTS)

# Every binary a test starts is built first, outside any test's timeout (a cold build takes minutes).
integration: deps k8s-binaries ## integration tests against a real kube-apiserver (each file starts its own)
	$(NODE_TEST) --test-concurrency=1 $(INTEGRATION_TESTS)

test: check unit integration ## everything CI runs

demo: deps ## bring up the local cluster and show it works
	test/cluster/demo.sh

kind-up: ## (needs internet and Docker) create a kind cluster instead of the local one
	kind create cluster --name pasv-operator --config test/cluster/kind.yaml
	@echo "KUBECONFIG: use 'kind get kubeconfig --name pasv-operator'"

UNIT_TESTS := 'test/unit/**/*.test.ts'
INTEGRATION_TESTS := 'test/integration/**/*.test.ts'

# Component fragments add their own targets and append to the test lists.
-include server-image/server.mk operator/operator.mk charts/chart.mk test/images/images.mk test/bench/server/bench.mk test/e2e/e2e.mk
