# End-to-end tests (test/e2e) on the full single-node cluster. Included by the root Makefile.
#   make e2e          build + import the FTP-server and operator images (and SeaweedFS for s3.test.ts), run every test/e2e/*.test.ts one file at a time
#   make e2e E2E_TESTS=test/e2e/routing.test.ts   one file
# `make test` runs them when a full node can start here (root, packages, kernel, no other node);
# otherwise it prints exactly why and skips them.
.PHONY: e2e e2e-skip

E2E_TESTS ?= test/e2e/*.test.ts

# operator-image-tar: upgrade.test.ts runs the operator as the chart's pod (both images imported
# under their published names). seaweedfs: s3.test.ts.
e2e: deps image-tar operator-image-tar k8s-binaries seaweedfs ## end-to-end tests on a real single-node cluster with real FTP clients (root; ~5 min warm)
	$(NODE_TEST) --test-concurrency=1 $(E2E_TESTS)

e2e-skip:
	@echo "************************************************************************"
	@$(NODE) test/e2e/can-run.ts 2>&1 || true
	@echo "************************************************************************"
	@if [ "$${PASV_REQUIRE_NODE:-}" = 1 ]; then echo "PASV_REQUIRE_NODE=1: e2e must run here" >&2; exit 1; fi

# Decide only when `make test` is asked for (the check starts Node).
ifneq ($(filter test,$(MAKECMDGOALS)),)
ifeq ($(shell $(NODE) test/e2e/can-run.ts >/dev/null 2>&1 && echo yes),yes)
test: e2e
else
test: e2e-skip
endif
endif
