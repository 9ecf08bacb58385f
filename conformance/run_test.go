package conformance

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// silentBroker accepts connections, reads everything and never answers: a
// hung broker. stop closes it and waits for its goroutines.
func silentBroker(t *testing.T) (addr string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	stop = func() { ln.Close(); <-done; readers.Wait() }
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			readers.Add(1)
			go func() { defer readers.Done(); io.Copy(io.Discard, c) }()
		}
	}()
	return "tcp://" + ln.Addr().String(), stop
}

// TestHungBrokerFailsTestsInsteadOfHanging runs part of the suite against a
// broker that never answers: every test must fail, within its deadline.
func TestHungBrokerFailsTestsInsteadOfHanging(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	addr, stop := silentBroker(t)
	defer stop()
	start := time.Now()
	rs := Run(context.Background(), Options{Broker: addr, Timeout: 300 * time.Millisecond,
		Only: "^(QoS1Flow|SessionResumed|PingreqAnswered|SecondConnectIsProtocolError)$"}, nil)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("run took %v against a silent broker", took)
	}
	if len(rs) == 0 {
		t.Fatal("no results")
	}
	for _, r := range rs {
		if r.Status != Fail {
			t.Errorf("%s %s: %v (%s), want a failure", r.Test, r.Statement, r.Status, r.Detail)
		}
		if !strings.Contains(r.Detail, "timed out") {
			t.Errorf("%s: detail %q does not say it timed out", r.Test, r.Detail)
		}
	}
}

// TestUnreachableBrokerFails checks that a refused connection fails tests
// with the dial error.
func TestUnreachableBrokerFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "tcp://" + ln.Addr().String()
	ln.Close()
	rs := Run(context.Background(), Options{Broker: addr, Timeout: time.Second, Only: "^PingreqAnswered$"}, nil)
	for _, r := range rs {
		if r.Status != Fail || !strings.Contains(r.Detail, "dial") {
			t.Errorf("%s: %v %q, want a dial failure", r.Test, r.Status, r.Detail)
		}
	}
}

// TestSummaryLine checks the closing line's format, which CI reads.
func TestSummaryLine(t *testing.T) {
	var b strings.Builder
	WriteSummary(&b, []Result{
		{Statement: "MQTT-1", Version: 5, Status: Pass},
		{Statement: "MQTT-1", Version: 5, Status: Fail},
		{Statement: "MQTT-2", Version: 5, Status: Pass},
		{Statement: "MQTT-2", Version: 4, Status: Skip},
	})
	if got := b.String(); got != "1 passed, 1 failed, 1 skipped\n" {
		t.Errorf("got %q", got)
	}
}
