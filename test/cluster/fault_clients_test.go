package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// ioWait bounds one exchange with a node that is up; generous: 2 shared
// cores, and a JetStream write waits out a leader election after a kill.
// A kill ends the exchange at once (the connection is reset).
const ioWait = 30 * time.Second

// reconnectWait bounds how long a client finds no node to take it: longer
// than a node stays dead (the survivors' progress, bounded by 2 minutes,
// then its restart).
const reconnectWait = 3 * time.Minute

// farExpiry is the Session Expiry Interval of every session: longer than
// any run.
const farExpiry = 3600

var errAborted = errors.New("the test or the actor ended")

// client is one MQTT client identity of the fault test, speaking through
// the conformance suite's raw codec (DUP flags and packet ids visible). Its
// connections go to its home node; when that dies, a mover goes to the
// next node up, a sticky client waits for its home to come back.
type client struct {
	f       *faultRun
	name    string
	id      string // client id: unique per run
	version byte   // 4 (3.1.1) or 5
	home    int    // index in f.c.nodes
	sticky  bool
	rng     *rand.Rand // where a mover goes first when it reconnects; the client's own

	conn   *wire.Conn
	opened bool // the session exists: a connect must find it
	// quit, closed, ends a connect in progress (a subscriber's stop; nil for
	// a publisher, which completes its flow in flight).
	quit <-chan struct{}

	hmu  sync.Mutex // guards at and hops, which the killer and the verdict read
	at   string     // the node of the last connection
	hops []hop      // every connection, for a report
}

// hop is one connection: to which node, when, and with Session Present.
type hop struct {
	node    string
	at      time.Time
	present bool
}

func (f *faultRun) newClient(name string, home int, version byte, sticky bool) *client {
	f.clients++
	return &client{f: f, name: name, id: f.tag + "-" + name, version: version, home: home, sticky: sticky,
		rng: rand.New(rand.NewPCG(f.seed, uint64(f.clients)))}
}

func (c *client) homeName() string { return c.f.c.nodes[c.home].name }

// connect dials nodes until one takes the connection: a sticky client its
// home only; a mover its home the first time, later a random node first
// (so that the clients spread over the nodes again after each kill), then
// the others in turn; when none does, it waits for a membership
// change or a moment and tries again, for up to reconnectWait. It returns
// Session Present; a session that existed and is not present is noted.
func (c *client) connect(clean bool) (bool, error) {
	deadline := time.Now().Add(reconnectWait)
	nodes := c.f.c.nodes
	for {
		select {
		case <-c.f.abort:
			return false, errAborted
		case <-c.quit:
			return false, errAborted
		default:
		}
		_, changed := c.f.state()
		tries, first := len(nodes), c.home
		if c.sticky {
			tries = 1
		} else if c.opened {
			first = c.rng.IntN(len(nodes))
		}
		var last error
		for i := range tries {
			nd := nodes[(first+i)%len(nodes)]
			present, err := c.dial(nd, clean)
			if err == nil {
				if c.opened && !present {
					epoch, _ := c.f.state()
					c.f.note("SESSION: %s (%s) reconnected to %s at %s (epoch %d) without Session Present: its session was lost (connections: %s)",
						c.name, c.kind(), nd.name, c.f.since(time.Now()), epoch, c.history())
				}
				c.opened = true
				return present, nil
			}
			last = err
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("no node took %s's connection within %s: %w", c.name, reconnectWait, last)
		}
		timer := time.NewTimer(100 * time.Millisecond) // polling: a listener comes back in its own time
		select {
		case <-changed:
		case <-timer.C:
		case <-c.f.abort:
			timer.Stop()
			return false, errAborted
		case <-c.quit:
			timer.Stop()
			return false, errAborted
		}
		timer.Stop()
	}
}

// dial makes one connection to nd and returns Session Present.
func (c *client) dial(nd *node, clean bool) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ioWait)
	defer cancel()
	conn, err := wire.Dial(ctx, nd.mqtt, c.version)
	if err != nil {
		return false, fmt.Errorf("%s: dial %s: %w", c.name, nd.name, err)
	}
	cp := wire.Connect{Version: c.version, ClientID: c.id, CleanStart: clean && c.version == 5, KeepAlive: 120}
	if c.version == 5 {
		cp.Props = wire.Properties{wire.Int(wire.PropSessionExpiry, farExpiry)}
	}
	if err := conn.Write(cp.Encode(), ioWait); err != nil {
		conn.Close()
		return false, fmt.Errorf("%s: CONNECT to %s: %w", c.name, nd.name, err)
	}
	ack, err := conn.Read(ioWait)
	if err != nil {
		conn.Close()
		return false, fmt.Errorf("%s: CONNACK from %s: %w", c.name, nd.name, err)
	}
	if ack.Type != wire.CONNACK || ack.ReasonCode != 0 {
		conn.Close()
		c.f.vmu.Lock()
		c.f.refusals = append(c.f.refusals, fmt.Sprintf("%s: CONNECT refused by %s at %s: %v", c.name, nd.name, c.f.since(time.Now()), ack))
		c.f.vmu.Unlock()
		return false, fmt.Errorf("%s: %s refused the CONNECT: %v", c.name, nd.name, ack)
	}
	c.hmu.Lock()
	c.conn, c.at = conn, nd.name
	c.hops = append(c.hops, hop{node: nd.name, at: time.Now(), present: ack.SessionPresent})
	c.hmu.Unlock()
	return ack.SessionPresent, nil
}

// node is the node of the client's last connection.
func (c *client) node() string {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	return c.at
}

// history lists the client's connections: node, time, Session Present.
func (c *client) history() string {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	var parts []string
	for _, h := range c.hops {
		parts = append(parts, fmt.Sprintf("%s %s sp=%v", h.node, c.f.since(h.at), h.present))
	}
	return strings.Join(parts, "; ")
}

// drop forgets the connection (its node died, or will).
func (c *client) drop() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

func (c *client) send(b []byte) error {
	if err := c.conn.Write(b, ioWait); err != nil {
		return fmt.Errorf("%s: write: %w", c.name, err)
	}
	return nil
}

func (c *client) ack(typ byte, id uint16) []byte { return wire.Ack(c.version, typ, id, 0, nil) }

func (c *client) kind() string {
	if c.version == 5 {
		return "5.0"
	}
	return "3.1.1"
}

// msg identifies one published message: its publisher and sequence number.
type msg struct {
	pub string
	seq int
}

func (m msg) String() string { return fmt.Sprintf("%s#%d", m.pub, m.seq) }

func (m msg) payload() []byte { return fmt.Appendf(nil, "%s %d", m.pub, m.seq) }

func parseMsg(b []byte) (msg, error) {
	pub, seq, ok := strings.Cut(string(b), " ")
	n, err := strconv.Atoi(seq)
	if !ok || err != nil {
		return msg{}, fmt.Errorf("payload %q is not the test's", b)
	}
	return msg{pub, n}, nil
}
