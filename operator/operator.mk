# Operator targets (included by the root Makefile).
.PHONY: manifests manifests-check bench-operator operator-run

CRD_FILE := crds/ftp.pasv.dev_ftpservers.yaml

manifests: deps ## generate crds/ from the zod schema (operator/src/api)
	$(NODE) operator/src/api/crd-gen.ts

manifests-check: deps ## fail when crds/ differs from the zod schema
	$(NODE) operator/src/api/crd-gen.ts --check

# CI: `make test` also proves the CRD is generated from the schema.
test: manifests-check

bench-operator: deps ## operator benchmark: 1000x100, 100x1000 ports and the maximum (BENCH_OPERATOR_ARGS="--sizes ...")
	test/cluster/build.sh control-plane >/dev/null
	$(NODE) --expose-gc test/bench/operator/bench.ts $(BENCH_OPERATOR_ARGS)

operator-run: deps ## run the operator against $$KUBECONFIG (flags: OPERATOR_ARGS)
	$(NODE) --max-semi-space-size=4 --heap-growing-percent=25 operator/src/main.ts $(OPERATOR_ARGS)
