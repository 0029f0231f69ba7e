# Offline images (test/images). Included from the root Makefile; stand-alone:
#   make -f Makefile -f test/images/images.mk image
.PHONY: docker-up docker-down image-bases image image-tar test-image

SERVER_IMAGE ?= pasv.local/ftp-server:dev
IMAGES_DIR ?= $(CURDIR)/out/images

docker-up: ## start Docker Engine from Debian's docker.io (installs it if missing; idempotent)
	test/images/dockerd.sh start

docker-down: ## stop the dockerd that docker-up started
	test/images/dockerd.sh stop

image-bases: ## build pasv.local/debian:bookworm and pasv.local/node:24 offline (cached)
	test/images/node-base-image.sh

image: deps ## build the FTP server image offline as $(SERVER_IMAGE) (starts dockerd, builds the bases)
	SERVER_IMAGE=$(SERVER_IMAGE) test/images/server-image.sh

image-tar: image ## save $(SERVER_IMAGE) as out/images/ftp-server.tar (for ctr images import)
	test/images/save-image.sh $(IMAGES_DIR)/ftp-server.tar $(SERVER_IMAGE)

test-image: image ## testcontainers: run the image read-only/non-root, move files through it
	SERVER_IMAGE=$(SERVER_IMAGE) TESTCONTAINERS_RYUK_DISABLED=true \
	  $(NODE_TEST) --test-concurrency=1 server-image/test/image.test.ts

# CI: `make test` runs the image under testcontainers too.
test: test-image
