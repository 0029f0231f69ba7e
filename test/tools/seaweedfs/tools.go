//go:build tools

// Package tools pins SeaweedFS's `weed` for `go build` (and keeps its dependencies in `go mod tidy`).
package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
