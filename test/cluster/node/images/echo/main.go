// echo is a smoke-test server: on every TCP connection to -port it writes one line
// "pod=<POD_NAME> ip=<POD_IP> peer=<remote addr>" and then echoes what it reads.
// An HTTP GET /healthz on the same port gets "200 ok" (for readiness probes).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	port := flag.Int("port", 8080, "TCP port")
	flag.Parse()
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", *port))
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c)
	}
}

func serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	// A client that speaks first with "GET " gets HTTP; one that waits gets the banner after 200ms.
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	first, err := r.Peek(4)
	_ = c.SetReadDeadline(time.Time{})
	if err == nil && string(first) == "GET " {
		line, _ := r.ReadString('\n')
		body := "ok\n"
		if !strings.Contains(line, "/healthz") {
			body = banner(c)
		}
		fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		return
	}
	// Whatever arrived during the peek is echoed first; the reader's stored timeout error is
	// left behind by copying from the connection itself afterwards.
	pending, _ := r.Peek(r.Buffered())
	_, _ = io.WriteString(c, banner(c))
	_, _ = c.Write(pending)
	_, _ = io.Copy(c, c)
}

func banner(c net.Conn) string {
	return fmt.Sprintf("pod=%s ip=%s peer=%s\n", os.Getenv("POD_NAME"), os.Getenv("POD_IP"), c.RemoteAddr())
}
