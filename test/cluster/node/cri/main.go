// pasv-cri talks CRI to a containerd socket.
//
//	pasv-cri -endpoint unix:///path/containerd.sock teardown   stop + remove every pod sandbox
//	pasv-cri -endpoint ... images                              print image refs, one a line
//	pasv-cri -endpoint ... pods                                print "id namespace/name state"
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func main() {
	endpoint := flag.String("endpoint", "", "CRI endpoint, unix:///path")
	timeout := flag.Duration("timeout", 60*time.Second, "overall timeout")
	flag.Parse()
	if *endpoint == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: pasv-cri -endpoint unix:///sock teardown|images|pods")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	conn, err := grpc.NewClient(*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	rt := runtime.NewRuntimeServiceClient(conn)
	img := runtime.NewImageServiceClient(conn)

	switch flag.Arg(0) {
	case "images":
		r, err := img.ListImages(ctx, &runtime.ListImagesRequest{})
		if err != nil {
			fail(err)
		}
		for _, i := range r.Images {
			for _, t := range i.RepoTags {
				fmt.Println(t)
			}
		}
	case "pods":
		r, err := rt.ListPodSandbox(ctx, &runtime.ListPodSandboxRequest{})
		if err != nil {
			fail(err)
		}
		for _, p := range r.Items {
			fmt.Printf("%s %s/%s %s\n", p.Id, p.Metadata.Namespace, p.Metadata.Name, p.State)
		}
	case "teardown":
		r, err := rt.ListPodSandbox(ctx, &runtime.ListPodSandboxRequest{})
		if err != nil {
			fail(err)
		}
		failed := false
		for _, p := range r.Items {
			// StopPodSandbox kills the containers and runs CNI DEL; RemovePodSandbox drops the record.
			if _, err := rt.StopPodSandbox(ctx, &runtime.StopPodSandboxRequest{PodSandboxId: p.Id}); err != nil {
				fmt.Fprintf(os.Stderr, "stop %s/%s: %v\n", p.Metadata.Namespace, p.Metadata.Name, err)
				failed = true
				continue
			}
			if _, err := rt.RemovePodSandbox(ctx, &runtime.RemovePodSandboxRequest{PodSandboxId: p.Id}); err != nil {
				fmt.Fprintf(os.Stderr, "remove %s/%s: %v\n", p.Metadata.Namespace, p.Metadata.Name, err)
				failed = true
			}
		}
		if failed {
			os.Exit(1)
		}
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", flag.Arg(0))
		os.Exit(2)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
