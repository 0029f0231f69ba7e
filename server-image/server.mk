# FTP server (server-image/): tests join `make unit`; `make server-test` runs only them.
# The client tests need curl, lftp and openssl (hack/apt/server.txt; hack/install-system-deps.sh).
# The image test (Docker) is not a unit test: it runs under `make test-image` (test/images/images.mk).
SERVER_TESTS := $(filter-out server-image/test/image.test.ts,$(sort $(wildcard server-image/test/*.test.ts server-image/test/*/*.test.ts)))
UNIT_TESTS += $(SERVER_TESTS)

.PHONY: server-test server-run

server-test: deps ## FTP server tests only (real clients: curl, lftp, python ftplib, basic-ftp)
	$(NODE_TEST) $(SERVER_TESTS)

server-run: deps ## run the FTP server: make server-run CONFIG=path/to/config.yaml [SLOT=n]
	node server-image/src/main.ts --config $(CONFIG) $(if $(SLOT),--slot $(SLOT))
