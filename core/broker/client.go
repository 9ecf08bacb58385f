package broker

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// client is one network connection after its CONNECT was accepted. Its reader
// goroutine (run) owns the connection's lifecycle; other goroutines only
// append to its write buffer or ask it to stop (kick).
type client struct {
	b        *Broker
	conn     net.Conn
	rd       reader
	log      zerolog.Logger
	info     hooks.Client
	version  byte
	entry    *entry
	connAt   time.Time
	keep     time.Duration // read deadline per packet: 1.5 x keep-alive, 0 for none
	authMeth string        // enhanced-authentication method of the CONNECT, "" if none

	// Limits the client announced in CONNECT (5.0).
	maxOut      uint32 // Maximum Packet Size it accepts, 0 = no limit
	aliasMaxOut uint16 // Topic Alias Maximum it accepts
	problemInfo bool   // Request Problem Information [MQTT-3.1.2-29]
	window      int    // outbound in-flight window

	aliasesIn  []string          // inbound topic aliases, index = alias
	aliasesOut map[string]uint16 // outbound topic aliases we assigned

	will          *packets.Will
	sessionExpiry uint32             // as negotiated in CONNECT, 5.0 DISCONNECT may change it
	clientReason  packets.ReasonCode // the reason of the client's DISCONNECT

	// Write side: see writer.go.
	wmu      sync.Mutex
	wcond    sync.Cond
	out      []byte
	flushing bool
	wclosed  bool
	draining atomic.Bool

	stop     atomic.Pointer[stopRequest] // set by kick
	done     chan struct{}               // closed when cleanup has finished
	lastDrop atomic.Int64                // Unix ns of the last logged drop, for rate limiting
}

// stopRequest asks a client's reader to end the connection.
type stopRequest struct {
	reason packets.ReasonCode
	will   bool // publish the will: yes for takeover and shutdown, as for any close without DISCONNECT 0x00 [MQTT-3.1.2-8]
}

func newClient(b *Broker, conn net.Conn, listener string) *client {
	c := &client{b: b, conn: conn, rd: newReader(conn), done: make(chan struct{})}
	c.wcond.L = &c.wmu
	c.info.RemoteAddr = conn.RemoteAddr().String()
	c.info.Listener = listener
	c.log = b.log.With().Str("remote", c.info.RemoteAddr).Logger()
	return c
}

// kick asks the reader to stop with reason; the first request wins.
func (c *client) kick(reason packets.ReasonCode, will bool) {
	if c.stop.CompareAndSwap(nil, &stopRequest{reason: reason, will: will}) {
		_ = c.conn.SetReadDeadline(time.Unix(1, 0)) // wakes the reader now
	}
}

// errClientDisconnect ends the read loop after a DISCONNECT from the client.
var errClientDisconnect = errors.New("client disconnected")

// run is the connection's read loop, after CONNACK. It returns when the
// connection is over, having cleaned up.
func (c *client) run() {
	defer c.b.wg.Done()
	reason, will := packets.NormalDisconnection, true
	var err error
	if c.keep == 0 {
		_ = c.conn.SetReadDeadline(time.Time{}) // lift the CONNECT timeout of the handshake
	}
	var deadlineSet time.Time
	for {
		if c.keep > 0 && c.rd.empty() {
			// Refresh the keep-alive deadline only when about to wait on the
			// socket, and at most every tenth of the period: a timer change per
			// packet costs more than the packet. The close then comes between
			// 1.5 and 1.65 times the keep-alive [MQTT-3.1.2-22].
			if now := time.Now(); now.Sub(deadlineSet) > c.keep/10 {
				_ = c.conn.SetReadDeadline(now.Add(c.keep + c.keep/10))
				deadlineSet = now
			}
		}
		if c.stop.Load() != nil {
			// A kick's deadline in the past may have been replaced by the
			// line above; the request itself is never lost.
			break
		}
		var h packets.FixedHeader
		var body []byte
		h, body, err = c.rd.next(c.b.maxPacket)
		if err == nil {
			err = c.dispatch(h, body)
		}
		if err != nil {
			break
		}
	}
	switch stop := c.stop.Load(); {
	case stop != nil:
		reason, will = stop.reason, stop.will
		c.disconnect(reason, "")
	case errors.Is(err, errClientDisconnect):
		reason, will = c.clientReason, c.clientReason == packets.DisconnectWithWill
	case errors.Is(err, os.ErrDeadlineExceeded):
		// [MQTT-3.1.2-22] no packet within 1.5 x keep-alive.
		reason = packets.KeepAliveTimeout
		c.disconnect(reason, "keep alive timeout")
	default:
		var perr *packets.Error
		if errors.As(err, &perr) {
			reason = perr.Reason
			c.disconnect(reason, perr.Msg)
			c.log.Info().Str("client_id", c.info.ID).Str("reason", reason.String()).Str("error", perr.Msg).Msg("protocol violation")
		} else {
			reason = packets.UnspecifiedError // the network went away
		}
	}
	c.closeWrites(time.Second)
	_ = c.conn.Close()
	c.rd.release()
	c.b.detach(c, reason, will)
	close(c.done)
}

// disconnect queues a server DISCONNECT (5.0 only [MQTT-3.14.0-1]).
func (c *client) disconnect(reason packets.ReasonCode, why string) {
	if c.version != packets.V5 {
		return
	}
	d := packets.Disconnect{Reason: reason}
	if why != "" && c.problemInfo {
		d.Properties.ReasonString = why
		d.Properties.Set(packets.PropReasonString)
	}
	c.send(&d)
}

// dispatch handles one packet from a connected client.
func (c *client) dispatch(h packets.FixedHeader, body []byte) error {
	c.b.stats.packetsIn.Add(1)
	c.b.stats.bytesIn.Add(uint64(len(body) + 2))
	switch h.Type {
	case packets.TypePublish:
		return c.handlePublish(h, body)
	case packets.TypePuback, packets.TypePubrec, packets.TypePubrel, packets.TypePubcomp:
		var a packets.Ack
		if err := a.Decode(h, body, c.version); err != nil {
			return err
		}
		return c.handleAck(&a)
	case packets.TypeSubscribe, packets.TypeUnsubscribe, packets.TypePingreq, packets.TypeDisconnect, packets.TypeAuth:
		p, err := packets.Decode(h, body, c.version)
		if err != nil {
			return err
		}
		switch p := p.(type) {
		case *packets.Subscribe:
			c.handleSubscribe(p)
		case *packets.Unsubscribe:
			c.handleUnsubscribe(p)
		case *packets.Pingreq:
			c.send(&packets.Pingresp{})
		case *packets.Disconnect:
			return c.handleDisconnect(p)
		case *packets.Auth:
			return c.handleAuth(p)
		}
		return nil
	case packets.TypeConnect:
		return protocolError("a second CONNECT [MQTT-3.1.0-2]")
	default:
		return protocolError("a " + h.Type.String() + " packet may not be sent by a client")
	}
}

func protocolError(msg string) error {
	return &packets.Error{Reason: packets.ProtocolError, Msg: msg}
}

func (c *client) handleAck(a *packets.Ack) error {
	now := time.Now().UnixNano()
	switch a.Kind {
	case packets.TypePubrel:
		// [MQTT-4.3.3-11] answer PUBREL with PUBCOMP, also for an id we no longer know.
		reason := packets.Success
		if !c.entry.ReleaseQoS2(a.PacketID) {
			reason = packets.PacketIdentifierNotFound
		}
		c.sendAck(packets.TypePubcomp, a.PacketID, reason, "")
	default:
		if !c.entry.Acknowledge(a.Kind, a.PacketID, a.Reason, now) {
			// A stale or unknown acknowledgement: 5.0 answers a PUBREC with
			// PUBREL 0x92 [MQTT-4.3.3-?]; others are ignored.
			if a.Kind == packets.TypePubrec && c.version == packets.V5 {
				c.sendAck(packets.TypePubrel, a.PacketID, packets.PacketIdentifierNotFound, "")
			}
		}
	}
	return nil
}

func (c *client) handleDisconnect(d *packets.Disconnect) error {
	if d.Properties.Has(packets.PropSessionExpiry) {
		// [MQTT-3.14.2-2] a session that was to end with the connection cannot be revived.
		if c.sessionExpiry == 0 && d.Properties.SessionExpiry != 0 {
			return protocolError("DISCONNECT sets a Session Expiry Interval after CONNECT set 0 [MQTT-3.14.2-2]")
		}
		c.sessionExpiry = min(d.Properties.SessionExpiry, c.b.opts.Limits.MaxSessionExpiry)
		c.entry.SetExpiry(c.sessionExpiry)
	}
	c.clientReason = d.Reason
	return errClientDisconnect
}
