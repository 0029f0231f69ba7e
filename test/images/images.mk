# Offline images (test/images). Included from the root Makefile; stand-alone:
#   make -f Makefile -f test/images/images.mk image
.PHONY: docker-up docker-down image-bases image image-tar operator-image-tar cluster-images test-image

# The published names (test/images/names.ts, test/images/lib.sh): $(IMAGE_REGISTRY)/<image>:<appVersion>,
# appVersion from the chart's Chart.yaml (the one source of truth). Both stay overridable.
APP_VERSION := $(shell sed -n 's/^appVersion: *"*\([^" ]*\)"*.*/\1/p' charts/pasv-operator/Chart.yaml)
IMAGE_REGISTRY ?= images.pasv.dev
SERVER_IMAGE ?= $(IMAGE_REGISTRY)/ftp-server:$(APP_VERSION)
OPERATOR_IMAGE ?= $(IMAGE_REGISTRY)/pasv-operator:$(APP_VERSION)
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

operator-image-tar: operator-image ## save $(OPERATOR_IMAGE) as out/images/pasv-operator.tar (for ctr images import)
	test/images/save-image.sh $(IMAGES_DIR)/pasv-operator.tar $(OPERATOR_IMAGE)

# The node's containerd of `make cluster-up FULL_NODE=1` (CLUSTER_DIR: the root Makefile's).
NODE_CONTAINERD ?= $(CLUSTER_DIR)/node/containerd/containerd.sock
cluster-images: image-tar operator-image-tar ## import both images into the local node (make cluster-up FULL_NODE=1) under their published names
	@test -S $(NODE_CONTAINERD) || { echo "no node containerd at $(NODE_CONTAINERD): make cluster-up FULL_NODE=1 first" >&2; exit 1; }
	for t in ftp-server pasv-operator; do ctr --address $(NODE_CONTAINERD) --namespace k8s.io images import $(IMAGES_DIR)/$$t.tar; done

test-image: image ## testcontainers: run the image read-only/non-root, move files through it
	SERVER_IMAGE=$(SERVER_IMAGE) TESTCONTAINERS_RYUK_DISABLED=true \
	  $(NODE_TEST) --test-concurrency=1 server-image/test/image.test.ts

# CI: `make test` runs the image under testcontainers too.
test: test-image
