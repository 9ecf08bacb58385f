package crash

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// ioWait bounds one exchange with a broker that is up; generous, since the
// machine is shared. A kill ends the exchange at once (the connection is
// reset), so it never waits this long for a dead broker.
const ioWait = 30 * time.Second

// farExpiry is the Session Expiry Interval of the persistent sessions: longer
// than any run.
const farExpiry = 3600

// peer is one MQTT client identity whose connections come and go with the
// broker's lives. It speaks through the conformance suite's raw codec, which
// shows what the libraries hide: DUP flags and packet ids.
type peer struct {
	h       *harness
	name    string // short, for reports
	id      string // client id: unique per run
	version byte   // 4 (3.1.1) or 5
	expiry  uint32 // 5.0 Session Expiry Interval; in 3.1.1 > 0 means Clean Session 0
	conn    *wire.Conn
	life    int // the broker life of conn
}

func newPeer(h *harness, name string, version byte, expiry uint32) *peer {
	return &peer{h: h, name: name, id: h.tag + "-" + name, version: version, expiry: expiry}
}

// dial connects once to the current broker. It returns Session Present.
func (p *peer) dial(clean bool) (bool, error) {
	life, err := p.h.awaitUp()
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), ioWait)
	defer cancel()
	c, err := wire.Dial(ctx, p.h.addr, p.version)
	if err != nil {
		return false, fmt.Errorf("%s: dial: %w", p.name, err)
	}
	cp := wire.Connect{Version: p.version, ClientID: p.id, CleanStart: clean, KeepAlive: 120}
	if p.version == 5 {
		cp.Props = wire.Properties{wire.Int(wire.PropSessionExpiry, p.expiry)}
	} else if p.expiry == 0 {
		cp.CleanStart = true
	}
	if err := c.Write(cp.Encode(), ioWait); err != nil {
		c.Close()
		return false, fmt.Errorf("%s: CONNECT: %w", p.name, err)
	}
	ack, err := c.Read(ioWait)
	if err != nil {
		c.Close()
		return false, fmt.Errorf("%s: CONNACK: %w", p.name, err)
	}
	if ack.Type != wire.CONNACK || ack.ReasonCode != 0 {
		c.Close()
		return false, fmt.Errorf("%s: %w: %v", p.name, errRefused, ack)
	}
	p.conn, p.life = c, life
	return ack.SessionPresent, nil
}

// errRefused is an answer no kill explains: the broker refused the client.
var errRefused = errors.New("refused")

// connect dials until a connection holds, across kills. A failure while the
// broker stays up in the same life is the broker's: after a few, it gives up.
func (p *peer) connect(clean bool) (bool, error) {
	failures := 0
	for {
		life, err := p.h.awaitUp()
		if err != nil {
			return false, err
		}
		present, err := p.dial(clean)
		if err == nil {
			return present, nil
		}
		if errors.Is(err, errRefused) || errors.Is(err, errAborted) {
			return false, err
		}
		if now, up := p.h.state(); now == life && up {
			if failures++; failures == 5 {
				return false, fmt.Errorf("broker up in life %d, and connecting failed 5 times: %w", life, err)
			}
		}
	}
}

// resume reconnects to the peer's session, which must be there: every
// session here outlives the broker's lives.
func (p *peer) resume() error {
	present, err := p.connect(false)
	if err == nil && !present {
		p.h.sessionLost(p, p.life)
	}
	return err
}

// drop forgets the connection (the broker died or will).
func (p *peer) drop() {
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn = nil
	}
}

func (p *peer) send(b []byte) error {
	if err := p.conn.Write(b, ioWait); err != nil {
		return fmt.Errorf("%s: write: %w", p.name, err)
	}
	return nil
}

func (p *peer) ack(typ byte, id uint16) []byte { return wire.Ack(p.version, typ, id, 0, nil) }

func (p *peer) kind() string {
	if p.version == 5 {
		return "5.0"
	}
	return "3.1.1"
}

// subscribe sends one SUBSCRIBE and waits for its SUBACK, every filter
// granted at qos.
func (p *peer) subscribe(qos byte, filters ...string) error {
	s := wire.Subscribe{PacketID: 1}
	for _, f := range filters {
		s.Subs = append(s.Subs, wire.Subscription{Filter: f, Options: qos})
	}
	if err := p.send(s.Encode(p.version)); err != nil {
		return err
	}
	ack, err := p.conn.Read(ioWait)
	if err != nil || ack.Type != wire.SUBACK {
		return fmt.Errorf("%s: SUBACK: %v %w", p.name, ack, err)
	}
	for _, rc := range ack.ReasonCodes {
		if rc != qos {
			return fmt.Errorf("%s: SUBACK % x, want QoS %d for each", p.name, ack.ReasonCodes, qos)
		}
	}
	return nil
}

// disconnect ends the connection with DISCONNECT: the session stays.
func (p *peer) disconnect() error {
	err := p.send(wire.Disconnect(p.version, 0, nil))
	p.drop()
	return err
}

// msg identifies one published message: its publisher and sequence number.
type msg struct {
	pub string
	seq int
}

func (m msg) String() string { return fmt.Sprintf("%s#%d", m.pub, m.seq) }

func payload(m msg) []byte { return fmt.Appendf(nil, "%s %d", m.pub, m.seq) }

func parsePayload(b []byte) (msg, error) {
	pub, seq, ok := strings.Cut(string(b), " ")
	n, err := strconv.Atoi(seq)
	if !ok || err != nil {
		return msg{}, fmt.Errorf("payload %q is not the test's", b)
	}
	return msg{pub, n}, nil
}

// matches reports whether an MQTT topic filter matches a topic (no $ topics
// here, no shared subscriptions).
func matches(filter, topic string) bool {
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, level := range f {
		if level == "#" {
			return true
		}
		if i >= len(t) || (level != "+" && level != t[i]) {
			return false
		}
	}
	return len(f) == len(t)
}
