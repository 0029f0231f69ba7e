// Tiny static programs the local node packs into images without Docker or a registry:
// the pod sandbox ("pause") and a TCP/HTTP echo server for smoke tests. Standard library only.
module pasv.dev/test/cluster/node/images

go 1.25.0
