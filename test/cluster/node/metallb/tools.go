//go:build tools

// Package tools pins MetalLB's controller for `go build`.
package tools

import _ "go.universe.tf/metallb/controller"
