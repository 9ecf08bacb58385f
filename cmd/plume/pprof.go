package main

import (
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// servePprof exposes runtime profiles for diagnosing a running broker. It is
// off unless --pprof is given, and meant for loopback.
func servePprof(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }() // lives as long as the process
	return nil
}
