//go:build tools

// Package tools pins Helm's CLI for `go build` (and keeps its dependencies in `go mod tidy`).
package tools

import _ "helm.sh/helm/v3/cmd/helm"
