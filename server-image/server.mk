# FTP server (server-image/): tests join `make unit`; `make server-test` runs only them.
# The client tests need curl, lftp and openssl (hack/apt/server.txt; hack/install-system-deps.sh).
# The image test (Docker) is not a unit test: it runs under `make test-image` (test/images/images.mk).
# The S3 tests (below) run under `make integration`, after their S3 server is built.
S3_TESTS := server-image/test/s3.test.ts
SERVER_TESTS := $(filter-out server-image/test/image.test.ts $(S3_TESTS),$(sort $(wildcard server-image/test/*.test.ts server-image/test/*/*.test.ts)))
UNIT_TESTS += $(SERVER_TESTS)

.PHONY: server-test server-run server-schemas server-schemas-check server-native

# The native I/O module (native/io.c, Node-API: RETR's sendfile, STOR's writes) is built before
# anything runs the server:
# the tests expect it; the image script builds its own copy. Needs a C compiler (hack/apt/server.txt).
server-native: ## build the FTP server's native I/O module (server-image/native/build/io.node)
	server-image/native/build.sh
unit integration: server-native

# The users file's run-time schema (config/generated/users-file.ts) is generated from its zod
# schema; `make manifests` / `manifests-check` (operator.mk) cover it with the CRDs.
manifests: server-schemas
manifests-check: server-schemas-check

server-schemas: deps ## generate server-image/src/config/generated/ from the zod schema (config/schema.ts)
	$(NODE) server-image/src/config/users-file-gen.ts

server-schemas-check: deps ## fail when server-image/src/config/generated/ differs from the zod schema
	$(NODE) server-image/src/config/users-file-gen.ts --check

server-test: deps server-native ## FTP server tests only (real clients: curl, lftp, python ftplib, basic-ftp)
	$(NODE_TEST) $(SERVER_TESTS)

server-run: deps server-native ## run the FTP server: make server-run CONFIG=path/to/config.yaml [SLOT=n]
	node server-image/src/main.ts --config $(CONFIG) $(if $(SLOT),--slot $(SLOT))

# Object storage (fs/s3.ts) against a real S3 server: SeaweedFS built from its Go module
# (test/tools/seaweedfs), a prerequisite like k8s-binaries, so no test's timeout pays a cold build.
INTEGRATION_TESTS += $(S3_TESTS)
.PHONY: seaweedfs server-s3-test
integration: seaweedfs

seaweedfs: ## build the pinned SeaweedFS (weed, the tests' S3 server) from its Go module (cached outside the checkout)
	test/tools/seaweedfs/build.sh >/dev/null

server-s3-test: deps seaweedfs ## the S3 storage tests only (two servers on one SeaweedFS bucket)
	$(NODE_TEST) $(S3_TESTS)

.PHONY: hash-password
hash-password: deps ## print a users-file password hash on the pinned Node (PASSWORD=… or a prompt; ARGS=--bcrypt for bcrypt)
	@$(NODE) server-image/src/hash-password.ts $(ARGS)
