// Command mochi runs mochi-mqtt v2 as a standalone peer broker for the
// comparison benchmark (bench/compare.sh).
//
// It is configured the way a user who takes mochi's defaults would run it:
// mqtt.New with default Options and Capabilities, the inline client off (the
// default), one TCP listener, and the allow-all auth hook, which any mochi
// deployment needs before it accepts a connection. The only change is the log
// level: warn, to match Plume's --log-level warn, so that per-connection info
// lines do not cost either broker a write to stdout during the idle scenario.
//
// With -pebble DIR it adds mochi's Pebble storage hook
// (hooks/storage/pebble) on that directory, with the hook's default Mode:
// "" (not "Sync"), which the hook turns into pebble.NoSync — writes reach
// Pebble's log without an fsync. -pebble-mode Sync asks for an fsync per write.
//
// With -tls-cert and -tls-key the listener speaks TLS (listeners.Config's
// TLSConfig, as mochi's examples/tls sets it: the certificate and nothing
// else, Go's defaults otherwise).
package main

import (
	"crypto/tls"
	"flag"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/hooks/storage/pebble"
	"github.com/mochi-mqtt/server/v2/listeners"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1883", "TCP address to listen on")
	pebbleDir := flag.String("pebble", "", "store sessions, subscriptions, in-flight and retained messages with mochi's Pebble hook in this directory")
	pebbleMode := flag.String("pebble-mode", "", `the Pebble hook's Mode: "" (its default, NoSync) or "Sync"`)
	tlsCert := flag.String("tls-cert", "", "serve TLS with this certificate (PEM; with -tls-key)")
	tlsKey := flag.String("tls-key", "", "the TLS certificate's private key (PEM)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	server := mqtt.New(&mqtt.Options{Logger: logger, InlineClient: false})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		log.Fatalf("add allow hook: %v", err)
	}
	if *pebbleDir != "" {
		if err := server.AddHook(new(pebble.Hook), &pebble.Options{Path: *pebbleDir, Mode: *pebbleMode}); err != nil {
			log.Fatalf("add pebble hook on %s: %v", *pebbleDir, err)
		}
	}
	lc := listeners.Config{ID: "tcp", Address: *addr}
	if *tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			log.Fatalf("-tls-cert/-tls-key: %v", err)
		}
		lc.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}}
	}
	if err := server.AddListener(listeners.NewTCP(lc)); err != nil {
		log.Fatalf("add listener %s: %v", *addr, err)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	if err := server.Serve(); err != nil {
		log.Fatalf("serve: %v", err)
	}
	<-sigs
	// Close stops the hooks too, which closes the Pebble database.
	if err := server.Close(); err != nil {
		log.Printf("close: %v", err)
	}
}
