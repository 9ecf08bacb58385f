package audit

import (
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

var benchClient = &hooks.Client{ID: "meter-7", Username: "meter-7", Principal: "meter-7",
	RemoteAddr: "10.0.4.9:51522", Listener: "default", ProtocolVersion: 5}

// What a connecting client's goroutine pays to record its connect, with the
// writer appending to a file (rotating at the default size).
func BenchmarkConnectedToFile(b *testing.B) {
	l, err := New(Config{File: filepath.Join(b.TempDir(), "audit.log")}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		l.Connected(benchClient, broker.ConnectEvent{})
	}
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(l.Dropped())/float64(b.N)*100, "%dropped")
}

// A flood of denials from one client: past the first 10 a minute, each
// costs only the rate limiter.
func BenchmarkDeniedFlood(b *testing.B) {
	l, err := New(Config{File: filepath.Join(b.TempDir(), "audit.log")}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		l.Denied(benchClient, "publish", "fleet/admin/reboot", packets.NotAuthorized, "acl")
	}
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}

// The writer alone: encoding and appending one event.
func BenchmarkFileSinkPut(b *testing.B) {
	s, err := openFile(filepath.Join(b.TempDir(), "audit.log"), DefaultMaxSize, 2)
	if err != nil {
		b.Fatal(err)
	}
	ev := Event{Class: ClassConnect, Reason: reason(0, "")}
	who(benchClient, &ev)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.put(ev); err != nil {
			b.Fatal(err)
		}
	}
	_ = s.close()
}
