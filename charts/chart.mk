# Helm chart targets (included by the root Makefile).
.PHONY: helm promtool alerts-test chart-crds chart-crds-check chart-lint chart-check docs-crd docs-crd-check operator-image

CHART := charts/pasv-operator
# Built on first use from the pinned Go module (test/tools/helm), cached in ~/.cache/pasv-operator.
HELM = $(shell test/tools/helm/build.sh)

helm: ## build the pinned Helm CLI from its Go module (cached outside the checkout)
	@test/tools/helm/build.sh

promtool: ## build the pinned promtool from Prometheus' Go module (cached outside the checkout)
	@test/tools/promtool/build.sh

alerts-test: ## promtool check rules + test rules on the chart's alerts (test/alerts/alerts.test.yaml)
	$$(test/tools/promtool/build.sh) check rules charts/pasv-operator/files/prometheus-rules.yaml
	$$(test/tools/promtool/build.sh) test rules test/alerts/alerts.test.yaml

chart-crds: deps ## copy crds/ into the chart's CRD templates (wrapped behind crds.enabled / crds.keep)
	$(NODE) hack/chart/chart-crds.ts

chart-crds-check: deps ## fail when the chart's CRD templates drift from crds/
	$(NODE) hack/chart/chart-crds.ts --check

chart-lint: ## helm lint --strict the chart with its defaults and with every optional part switched on/off
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) --set crds.enabled=false --set leaderElection.enabled=false --set replicaCount=1 \
	  --set metrics.service.enabled=false --set podDisruptionBudget.enabled=false
	$(HELM) lint --strict $(CHART) --set metrics.serviceMonitor.enabled=true --set crds.keep=false --set image.digest=sha256:$$(printf '0%.0s' {1..64}) \
	  --set metrics.prometheusRule.enabled=true --set metrics.grafanaDashboard.enabled=true --set metrics.ftpServerPodMonitor.enabled=true \
	  --set networkPolicy.enabled=true --set 'networkPolicy.apiServerCIDRs={10.0.0.1/32}'

docs-crd: deps ## generate docs/crd-reference.md from the CRD schema in crds/
	$(NODE) hack/chart/docs-crd.ts

docs-crd-check: deps ## fail when docs/crd-reference.md is not current
	$(NODE) hack/chart/docs-crd.ts --check

chart-check: chart-crds-check docs-crd-check chart-lint ## static chart checks (CI)

operator-image: deps ## build the operator image offline as $(OPERATOR_IMAGE) (pasv.local/node:24 base)
	OPERATOR_IMAGE=$(OPERATOR_IMAGE) hack/chart/operator-image.sh

# OPERATOR_IMAGE: test/images/images.mk (the published name, tag = the chart's appVersion).

# `make test` runs the static chart checks and, through `integration`, the chart's tests on the
# local control plane (which need Helm built; node --test runs a file matched twice only once).
INTEGRATION_TESTS += 'test/integration/chart-*.test.ts'
# test/integration/observability.test.ts runs promtool on the alerts (and `make alerts-test` alone).
test: chart-check
integration: helm promtool
