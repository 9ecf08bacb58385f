package churn

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// ioWait bounds one packet exchange; a broker that does not answer within it
// fails the scenario (it is generous: 2 shared cores, other tests running).
const ioWait = 10 * time.Second

// peer is one MQTT client identity whose connections come and go.
type peer struct {
	tg      *target
	id      string
	version byte   // 4 (3.1.1) or 5
	expiry  uint32 // 5.0 Session Expiry Interval; 3.1.1 keeps a session when expiry > 0
	conn    *wire.Conn
	// ends picks how a connection ends without DISCONNECT: a TCP reset or
	// an orderly close (FIN), at random. The peer's actor owns it.
	ends *rand.Rand
	// early takes packets that arrive before a SUBACK: a server is
	// permitted to send PUBLISHes matching a subscription before its SUBACK
	// (MQTT 3.1.1 section 3.8.4, non-normative). nil: such a packet is an error.
	early func(*wire.Packet) error
}

func newPeer(tg *target, name string, version byte, expiry uint32) *peer {
	return &peer{tg: tg, id: tg.tag + "-" + name, version: version, expiry: expiry, ends: tg.rand()}
}

// connect opens a new connection; clean asks for a new session. It returns
// Session Present. A 3.1.1 session that is to persist starts with Clean
// Session 1 (which discards any old one) and continues with a second
// connection with Clean Session 0: 3.1.1 has no other way to begin afresh.
func (p *peer) connect(clean bool) (bool, error) {
	if clean && p.version == 4 && p.expiry > 0 {
		if _, err := p.dial(true); err != nil {
			return false, err
		}
		_ = p.send(wire.Disconnect(4, 0, nil))
		p.reset()
		clean = false
	}
	return p.dial(clean)
}

func (p *peer) dial(clean bool) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ioWait)
	defer cancel()
	c, err := wire.Dial(ctx, p.tg.addr, p.version)
	if err != nil {
		return false, fmt.Errorf("%s: dial: %w", p.id, err)
	}
	cp := wire.Connect{Version: p.version, ClientID: p.id, CleanStart: clean, KeepAlive: 60}
	if p.version == 5 {
		cp.Props = wire.Properties{wire.Int(wire.PropSessionExpiry, p.expiry)}
	} else if p.expiry == 0 {
		cp.CleanStart = true // a 3.1.1 session without expiry ends with its connection
	}
	if err := c.Write(cp.Encode(), ioWait); err != nil {
		c.Close()
		return false, fmt.Errorf("%s: CONNECT: %w", p.id, err)
	}
	ack, err := c.Read(ioWait)
	if err != nil || ack.Type != wire.CONNACK || ack.ReasonCode != 0 {
		c.Close()
		return false, fmt.Errorf("%s: CONNACK: %v %w", p.id, ack, err)
	}
	p.conn = c
	return ack.SessionPresent, nil
}

// resume reconnects to the peer's session and checks Session Present.
func (p *peer) resume() error {
	present, err := p.connect(false)
	if err == nil && !present {
		p.tg.violation(propPresent, "%s resumed its session without Session Present", p.id)
	}
	return err
}

// reset drops the connection without DISCONNECT, with a TCP reset or an
// orderly close chosen at random: a broker sees both from real fleets, and
// a reset can discard what the broker had not read yet.
func (p *peer) reset() {
	if p.conn == nil {
		return
	}
	if p.ends.IntN(2) == 0 {
		_ = p.conn.Abort()
		p.tg.aborts.Add(1)
	} else {
		_ = p.conn.Close()
		p.tg.closes.Add(1)
	}
	p.conn = nil
}

// resetMid writes the first byte of packet, then drops the connection: the
// broker sees an acknowledgement cut in half.
func (p *peer) resetMid(packet []byte) {
	_ = p.conn.Write(packet[:1], ioWait)
	p.reset()
}

func (p *peer) send(b []byte) error {
	if err := p.conn.Write(b, ioWait); err != nil {
		return fmt.Errorf("%s: write: %w", p.id, err)
	}
	return nil
}

func (p *peer) ack(typ byte, id uint16) []byte { return wire.Ack(p.version, typ, id, 0, nil) }

// subscribe sends one SUBSCRIBE and waits for its SUBACK; nothing else may
// arrive first (the session has no other subscription yet).
func (p *peer) subscribe(qos byte, filters ...string) error {
	s := wire.Subscribe{PacketID: 1}
	for _, f := range filters {
		s.Subs = append(s.Subs, wire.Subscription{Filter: f, Options: qos})
	}
	return p.subscribePacket(s)
}

// subscribePacket sends s and waits for its SUBACK, every filter granted.
func (p *peer) subscribePacket(s wire.Subscribe) error {
	if err := p.send(s.Encode(p.version)); err != nil {
		return err
	}
	ack, err := p.conn.Read(ioWait)
	for err == nil && ack.Type != wire.SUBACK && p.early != nil {
		if err := p.early(ack); err != nil {
			return err
		}
		ack, err = p.conn.Read(ioWait)
	}
	if err != nil || ack.Type != wire.SUBACK {
		return fmt.Errorf("%s: SUBACK: %v %w", p.id, ack, err)
	}
	for _, rc := range ack.ReasonCodes {
		if rc >= 0x80 {
			return fmt.Errorf("%s: subscription refused: % x", p.id, ack.ReasonCodes)
		}
	}
	return nil
}

// msg identifies one published message: its publisher and sequence number.
type msg struct {
	pub string
	seq int
}

// payload encodes a message and the QoS it was published at.
func payload(m msg, qos byte) []byte { return fmt.Appendf(nil, "%s %d %d", m.pub, m.seq, qos) }

func parsePayload(b []byte) (msg, byte, error) {
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return msg{}, 0, fmt.Errorf("payload %q is not the suite's", b)
	}
	seq, err1 := strconv.Atoi(f[1])
	qos, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return msg{}, 0, fmt.Errorf("payload %q is not the suite's", b)
	}
	return msg{f[0], seq}, byte(qos), nil
}
