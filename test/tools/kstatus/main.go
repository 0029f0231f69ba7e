// kstatus: the readiness verdict Flux (health checks), Argo-style tools and `kubectl wait`
// helpers built on sigs.k8s.io/cli-utils give an object, computed by that library itself.
//
//	kubectl get ftpserver NAME -o json | kstatus
//
// Reads one object (JSON, as the API server returns it) on stdin and prints one JSON line:
// {"status":"InProgress|Current|Failed|Terminating|NotFound|Unknown","message":"...","conditions":[...]}.
// Exit 0 whatever the status (the caller asserts it); exit 2 on bad input.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	// UnmarshalJSON, not encoding/json: integers must stay int64 (kstatus reads metadata.generation).
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		fail("stdin is not a Kubernetes object in JSON: %v", err)
	}
	res, err := status.Compute(u)
	if err != nil {
		fail("kstatus: %v", err)
	}
	out, _ := json.Marshal(map[string]interface{}{
		"status":     res.Status.String(),
		"message":    res.Message,
		"conditions": res.Conditions,
	})
	fmt.Println(string(out))
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kstatus: "+format+"\n", args...)
	os.Exit(2)
}
