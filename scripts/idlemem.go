//go:build ignore

// idlemem measures what an idle connection costs the broker on each listener
// type: for tcp, tls, ws and wss in turn it starts a fresh Plume binary with
// that one listener, opens N idle MQTT 3.1.1 connections from this process,
// and reads the broker's RSS (/proc/PID/status) before and once it holds
// steady. Figures for docs/decisions/0021-websockets.md.
//
//	make build && go run scripts/idlemem.go -plume bin/plume -n 1000
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

func main() {
	plume := flag.String("plume", "bin/plume", "the broker binary")
	n := flag.Int("n", 1000, "idle connections per listener type")
	flag.Parse()
	dir, err := os.MkdirTemp("", "idlemem")
	check(err)
	defer os.RemoveAll(dir)
	roots := writeCert(dir)
	fmt.Printf("| listener | RSS before | RSS with %d idle | per connection |\n|---|---|---|---|\n", *n)
	for _, typ := range []string{"tcp", "tls", "ws", "wss"} {
		before, after := measure(*plume, dir, typ, *n, roots)
		fmt.Printf("| %s | %d KiB | %d KiB | %.1f KiB |\n", typ, before, after, float64(after-before)/float64(*n))
	}
}

// measure runs a broker with one listener of type typ and returns its RSS
// before and with n idle connections.
func measure(plume, dir, typ string, n int, roots *x509.CertPool) (before, after int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	addr := ln.Addr().String()
	ln.Close()
	l := fmt.Sprintf("{name: m, type: %s, address: %q", typ, addr)
	if typ == "tls" || typ == "wss" {
		l += ", cert_file: server.pem, key_file: server.key"
	}
	cfg := filepath.Join(dir, "plume.yaml")
	check(os.WriteFile(cfg, []byte("listeners:\n  - "+l+"}\n"), 0o600))
	cmd := exec.Command(plume, "--config", cfg, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	check(cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			panic("the broker did not listen on " + addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	before = steadyRSS(cmd.Process.Pid)
	url := addr
	switch typ {
	case "tls":
		url = "tls://" + addr
	case "ws", "wss":
		url = typ + "://" + addr + "/mqtt"
	}
	d := wire.Dialer{TLS: &tls.Config{RootCAs: roots}}
	conns := make([]*wire.Conn, 0, n)
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := d.Dial(ctx, url, 4)
		cancel()
		check(err)
		check(c.Write(wire.Connect{Version: 4, ClientID: "idle" + strconv.Itoa(i), CleanStart: true}.Encode(), 5*time.Second))
		p, err := c.Read(5 * time.Second)
		check(err)
		if p.Type != wire.CONNACK {
			panic("no CONNACK: " + p.String())
		}
		conns = append(conns, c)
	}
	after = steadyRSS(cmd.Process.Pid)
	for _, c := range conns {
		c.Close()
	}
	return before, after
}

// steadyRSS waits until the process's RSS changes by less than 0.5% over a
// second (at most 20 s) and returns it in KiB.
func steadyRSS(pid int) int64 {
	last := rss(pid)
	for range 20 {
		time.Sleep(time.Second)
		now := rss(pid)
		if d := now - last; d*200 < now && -d*200 < now {
			return now
		}
		last = now
	}
	return last
}

func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kib, err := strconv.ParseInt(f[1], 10, 64)
			check(err)
			return kib
		}
	}
	panic("no VmRSS")
}

// writeCert writes a self-signed certificate for 127.0.0.1 as server.pem
// and server.key in dir and returns a pool that trusts it.
func writeCert(dir string) *x509.CertPool {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idlemem"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	check(err)
	kder, err := x509.MarshalECPrivateKey(key)
	check(err)
	check(os.WriteFile(filepath.Join(dir, "server.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	check(os.WriteFile(filepath.Join(dir, "server.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	cert, err := x509.ParseCertificate(der)
	check(err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}
