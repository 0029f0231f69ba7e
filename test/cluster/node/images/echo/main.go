// echo is a smoke-test server: on every TCP connection to -port it writes one line
// "pod=<POD_NAME> ip=<POD_IP> peer=<remote addr>" and then echoes what it reads.
// An HTTP GET /healthz on the same port gets "200 ok" (for readiness probes).
//
// echo -get URL is a client instead: it GETs URL with the pod's service-account token and CA
// (when mounted), prints "<status>\n<body>" and exits 0 on a 2xx. For in-cluster API checks.
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	port := flag.Int("port", 8080, "TCP port")
	get := flag.String("get", "", "GET this URL and exit")
	flag.Parse()
	if *get != "" {
		os.Exit(fetch(*get))
	}
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

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func fetch(url string) int {
	tlsConf := &tls.Config{}
	if ca, err := os.ReadFile(saDir + "/ca.crt"); err == nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		tlsConf.RootCAs = pool
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if token, err := os.ReadFile(saDir + "/token"); err == nil {
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("%d\n%s\n", resp.StatusCode, body)
	if resp.StatusCode/100 != 2 {
		return 1
	}
	return 0
}
