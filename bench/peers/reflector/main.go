//go:build linux

// Command reflector is the ping-pong floor of decision 0040: a minimal MQTT
// peer on one epoll loop (bench/internal/reflector) that answers CONNECT and
// SUBSCRIBE and echoes each PUBLISH to the connections subscribed to its
// topic. bench/compare.sh runs it as the broker "reflector" in the ping-pong
// scenarios.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/plumemq/plume/bench/internal/reflector"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1883", "address to listen on")
	flag.Parse()
	r, got, err := reflector.Listen(*addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer r.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	go func() { <-sig; r.Stop() }()
	fmt.Fprintf(os.Stderr, "reflector listening on %s\n", got)
	if err := r.Serve(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
