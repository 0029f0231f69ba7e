# The verbs people type. Every target runs on the pinned Node LTS (hack/node.sh
# installs it on a fresh machine) and on binaries the project builds itself.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

NODE_BIN := $(shell hack/node.sh)
export PATH := $(NODE_BIN):$(CURDIR)/node_modules/.bin:$(PATH)
export NODE_OPTIONS ?=
NODE := $(NODE_BIN)/node
# Where `make cluster-up` keeps its state and kubeconfig.
CLUSTER_DIR ?= $(CURDIR)/out/cluster

.PHONY: help deps check lint typecheck unit integration test demo cluster-up cluster-down k8s-binaries kind-up

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

check: typecheck lint ## static checks

k8s-binaries: ## build the pinned Kubernetes + etcd binaries, the node's images/tools and MetalLB (cached outside the checkout)
	test/cluster/build.sh all >/dev/null
	test/cluster/node/build.sh >/dev/null
	test/cluster/node/build-metallb.sh >/dev/null

# FULL_NODE=1 adds the full node: containerd, kubelet, kube-proxy, MetalLB (root only).
cluster-up: deps ## start a local control plane on 127.0.0.1 (FULL_NODE=1: plus a full node)
	$(NODE) test/cluster/cli.ts up --dir $(CLUSTER_DIR) $(if $(filter 1,$(FULL_NODE)),--node,)

cluster-down: ## stop it and remove its state
	$(NODE) test/cluster/cli.ts down --dir $(CLUSTER_DIR)

unit: deps ## unit tests (no cluster)
	node --test --test-reporter=spec $(UNIT_TESTS)

integration: deps ## integration tests against a real kube-apiserver (each file starts its own)
	test/cluster/build.sh control-plane >/dev/null
	node --test --test-concurrency=1 --test-reporter=spec $(INTEGRATION_TESTS)

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
