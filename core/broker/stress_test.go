package broker_test

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// quickConnect opens a 5.0 connection without the test helpers, for use off the
// test goroutine; it returns an error instead of failing the test.
func quickConnect(addr string, cp *packets.Connect) (net.Conn, *bufio.Reader, error) {
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(2 * wait))
	if _, err := conn.Write(cp.Append(nil, packets.V5)); err != nil {
		conn.Close()
		return nil, nil, err
	}
	r := bufio.NewReader(conn)
	p, err := packets.ReadPacket(r, packets.V5, 0)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	if ack, ok := p.(*packets.Connack); !ok || ack.Reason != packets.Success {
		conn.Close()
		return nil, nil, fmt.Errorf("got %+v", p)
	}
	return conn, r, nil
}

func TestConcurrentTakeoversSettleOnOneConnection(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	var mu sync.Mutex
	var conns []net.Conn
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				cp := persistent("contested", 60)
				cp.CleanStart = i%2 == 0
				conn, _, err := quickConnect(tb.addr, cp)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				conns = append(conns, conn)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	select { // errs stays open: a reader goroutine may still be on its way out
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	eventually(t, "one connection left", func() bool { return tb.ClientCount() == 1 })
	if n := tb.Stats().Sessions; n != 1 {
		t.Fatalf("Sessions = %d", n)
	}
}

func TestConcurrentPublishSubscribeUnsubscribe(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxQueued: 50}})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for g := 0; g < 3; g++ {
		wg.Add(2)
		go func() { // publisher
			defer wg.Done()
			conn, r, err := quickConnect(tb.addr, v5Connect(fmt.Sprint("spub-", g)))
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			var wmu sync.Mutex
			window := make(chan struct{}, 100) // honour the broker's Receive Maximum
			go func() {                        // drain acknowledgements, completing QoS 2
				for {
					p, err := packets.ReadPacket(r, packets.V5, 0)
					if err != nil {
						return
					}
					if a, ok := p.(*packets.Ack); ok && (a.Kind == packets.TypePuback || a.Kind == packets.TypePubcomp) {
						<-window
					} else if ok && a.Kind == packets.TypePubrec {
						rel := packets.Ack{Kind: packets.TypePubrel, PacketID: a.PacketID}
						wmu.Lock()
						_, _ = conn.Write(rel.Append(nil, packets.V5))
						wmu.Unlock()
					} else if d, ok := p.(*packets.Disconnect); ok {
						errs <- fmt.Errorf("publisher disconnected: %v", d.Reason)
						return
					}
				}
			}()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p := &packets.Publish{Topic: fmt.Sprintf("s/%d/%d", g, i%4), QoS: byte(i % 3), Retain: i%7 == 0, Payload: []byte("x")}
				if p.QoS > 0 {
					p.PacketID = uint16(i%60000 + 1)
					select {
					case window <- struct{}{}:
					case <-stop:
						return
					}
				}
				wmu.Lock()
				_, err := conn.Write(p.Append(nil, packets.V5))
				wmu.Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() { // subscriber that churns its subscriptions and acknowledges
			defer wg.Done()
			conn, r, err := quickConnect(tb.addr, persistent(fmt.Sprint("ssub-", g), 60))
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			var wmu sync.Mutex
			write := func(p packets.Packet) {
				wmu.Lock()
				defer wmu.Unlock()
				_, _ = conn.Write(p.Append(nil, packets.V5))
			}
			go func() {
				for {
					p, err := packets.ReadPacket(r, packets.V5, 0)
					if err != nil {
						return
					}
					if m, ok := p.(*packets.Publish); ok && m.QoS == 1 {
						write(&packets.Ack{Kind: packets.TypePuback, PacketID: m.PacketID})
					} else if ok && m.QoS == 2 {
						write(&packets.Ack{Kind: packets.TypePubrec, PacketID: m.PacketID})
					} else if a, ok := p.(*packets.Ack); ok && a.Kind == packets.TypePubrel {
						write(&packets.Ack{Kind: packets.TypePubcomp, PacketID: a.PacketID})
					}
				}
			}()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f := []string{"s/#", "s/+/1", "$share/g/s/#"}[i%3]
				write(&packets.Subscribe{PacketID: uint16(i%60000 + 1), Subscriptions: []packets.Subscription{{Filter: f, QoS: byte(i % 3)}}})
				write(&packets.Unsubscribe{PacketID: uint16(i%60000 + 1), Filters: []string{f}})
				time.Sleep(time.Millisecond) // churn, not a flood
			}
		}()
	}
	time.Sleep(time.Second) // let them race; the race detector is the assertion
	close(stop)
	wg.Wait()
	select { // errs stays open: a reader goroutine may still be on its way out
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	// The broker still serves.
	c, _ := connectRaw(t, tb.addr, v5Connect("after-stress"))
	c.send(&packets.Pingreq{})
	if p := c.next(); p.Type() != packets.TypePingresp {
		t.Fatalf("got %T", p)
	}
}

// stuckSubscriber connects id, subscribes to topic and never reads again;
// then the broker floods it until its socket buffers are full.
func stuckSubscriber(t *testing.T, tb *testBroker, id, topic string) *rawClient {
	t.Helper()
	s, _ := connectRaw(t, tb.addr, persistent(id, 60))
	s.subscribe(1, sub(topic, 0))
	p, _ := connectRaw(t, tb.addr, v5Connect(id+"-flooder"))
	payload := make([]byte, 64<<10)
	// 32 MiB is more than loopback socket buffers hold, so the broker's
	// writer is blocked for sure; the drops show it shed the rest.
	before := tb.Stats().Dropped
	for i := 0; i < 512; i++ {
		p.publish(&packets.Publish{Topic: topic, Payload: payload})
	}
	p.send(&packets.Pingreq{}) // the publisher's PINGRESP: the flood was all read
	if r := p.next(); r.Type() != packets.TypePingresp {
		t.Fatalf("got %T", r)
	}
	if tb.Stats().Dropped == before {
		t.Fatal("the stuck subscriber never backed up")
	}
	return s
}

func TestTakeoverOfStuckConnectionIsPrompt(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxWriteBuffer: 256 << 10}})
	stuckSubscriber(t, tb, "stuck", "stuck/t")
	start := time.Now()
	cp := persistent("stuck", 60)
	cp.CleanStart = false
	if _, ack := connectRaw(t, tb.addr, cp); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("takeover took %v", d)
	}
}

func TestShutdownWithStuckConnectionIsPrompt(t *testing.T) {
	tb := startBrokerNoCleanup(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxWriteBuffer: 256 << 10}})
	stuckSubscriber(t, tb, "stuck-shutdown", "stuck/s")
	start := time.Now()
	tb.shutdown(t)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
}
