package conformance

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	f "github.com/plumemq/plume/conformance/internal/testflags"
	"github.com/plumemq/plume/conformance/wire"
)

// faultProxy sits between the suite and a real broker and rewrites what the
// broker sends, packet by packet, to make it break a rule on purpose.
type faultProxy struct {
	ln     net.Listener
	target string
	mutate func(pkt []byte) []byte // nil result: drop the packet
	// keepOpen leaves the client side open when the broker closes.
	keepOpen bool
	wg       sync.WaitGroup
}

func startFaultProxy(t *testing.T, broker string, mutate func([]byte) []byte, keepOpen bool) string {
	target, err := wire.Addr(broker)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, mutate: mutate, keepOpen: keepOpen}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return "tcp://" + ln.Addr().String()
}

func (p *faultProxy) serve() {
	defer p.wg.Done()
	var conns []net.Conn
	var mu sync.Mutex
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		b, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		mu.Lock()
		conns = append(conns, c, b)
		mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); io.Copy(b, c); b.Close() }()
		go func() {
			defer p.wg.Done()
			p.pump(b, c)
			if !p.keepOpen {
				c.Close()
			}
		}()
	}
}

// pump copies broker packets to the client through mutate.
func (p *faultProxy) pump(from, to net.Conn) {
	r := bufio.NewReader(from)
	for {
		first, err := r.ReadByte()
		if err != nil {
			return
		}
		pkt := []byte{first}
		var n, mult int = 0, 1
		for {
			c, err := r.ReadByte()
			if err != nil {
				return
			}
			pkt = append(pkt, c)
			n += int(c&0x7f) * mult
			mult *= 128
			if c&0x80 == 0 {
				break
			}
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		if out := p.mutate(append(pkt, body...)); out != nil {
			if _, err := to.Write(out); err != nil {
				return
			}
		}
	}
}

// TestSuiteDetectsInjectedFaults checks that tests can fail: a proxy in
// front of -broker breaks one rule at a time, and the tests of that rule
// must fail while they pass against the broker itself.
func TestSuiteDetectsInjectedFaults(t *testing.T) {
	if *f.Broker == "" {
		t.Skip("no -broker given")
	}
	faults := []struct {
		name     string
		mutate   func([]byte) []byte
		keepOpen bool
		only     string
		fails    []string // "5 MQTT-..." that must fail
	}{
		{"DUP set on QoS 0 deliveries", func(b []byte) []byte {
			if b[0]>>4 == wire.PUBLISH && b[0]&0x06 == 0 {
				b[0] |= 0x08
			}
			return b
		}, false, "^QoS0Delivered$", []string{"5 MQTT-3.3.1-2", "4 MQTT-3.3.1-2", "5 MQTT-4.3.1-1"}},
		{"RETAIN set on every delivery", func(b []byte) []byte {
			if b[0]>>4 == wire.PUBLISH {
				b[0] |= 0x01
			}
			return b
		}, false, "^RetainFlagClearedOnLiveDelivery$", []string{"5 MQTT-3.3.1-12", "4 MQTT-3.3.1-9"}},
		{"PINGRESP dropped", func(b []byte) []byte {
			if b[0]>>4 == wire.PINGRESP {
				return nil
			}
			return b
		}, false, "^PingreqAnswered$", []string{"5 MQTT-3.12.4-1", "4 MQTT-3.12.4-1"}},
		{"SUBACK with another packet id", func(b []byte) []byte {
			if b[0]>>4 == wire.SUBACK {
				b[3] ^= 0x01
			}
			return b
		}, false, "^SubackCarriesSubscribePacketID$", []string{"5 MQTT-3.8.4-2", "4 MQTT-3.8.4-2"}},
		{"connection kept open when the broker closes it", func(b []byte) []byte { return b }, true,
			"^(FirstPacketMustBeConnect|QoS3PublishRefused)$", []string{"5 MQTT-3.1.0-1", "4 MQTT-3.1.0-1", "5 MQTT-3.3.1-4", "4 MQTT-3.3.1-4"}},
		{"non-minimal Remaining Length", func(b []byte) []byte {
			if b[0]>>4 == wire.PUBLISH && b[1] < 0x80 {
				return append([]byte{b[0], b[1] | 0x80, 0x00}, b[2:]...)
			}
			return b
		}, false, "^QoS1Flow$", []string{"5 MQTT-1.5.5-1"}},
	}
	for _, fault := range faults {
		t.Run(fault.name, func(t *testing.T) {
			addr := startFaultProxy(t, *f.Broker, fault.mutate, fault.keepOpen)
			o := Options{Broker: addr, Only: fault.only, Timeout: 4 * time.Second}
			rs := Run(context.Background(), o, nil)
			failed := map[string]bool{}
			for _, r := range rs {
				if r.Status == Fail {
					failed[key(r.Version, r.Statement)] = true
				}
			}
			for _, k := range fault.fails {
				if !failed[k] {
					t.Errorf("%s passed although the broker's packets were altered: %s", k, fault.name)
				}
			}
			// The same tests against the broker itself pass.
			o.Broker = *f.Broker
			for _, r := range Run(context.Background(), o, nil) {
				if r.Status == Fail {
					t.Errorf("without the fault, %s %s fails too: %s", r.Test, r.Statement, r.Detail)
				}
			}
		})
	}
}
