//go:build tools

// Package tools pins promtool for `go build` (and keeps its dependencies in `go mod tidy`).
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
