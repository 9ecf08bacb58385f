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
	b *Broker
	// lim are the broker's limits when the connection was accepted: what
	// CONNACK announces and the connection negotiates stays true for its
	// life whatever a reload changes (live.go).
	lim   *Limits
	conn  net.Conn // nil while parked detached (park_detach.go); under wmu then
	rd    reader
	info  hooks.Client
	entry *entry
	// connAt is when the CONNECT was accepted, in Unix nanoseconds: a
	// time.Time would cost every connection 16 bytes more (0041).
	connAt int64
	// rare holds what few connections use (see clientRare); nil for a
	// plain 3.1.1 connection without a will, on a broker without a store.
	rare *clientRare

	authz *authzCache // publish authorizations the hooks let us reuse; made with the first (authorizePublish)

	// Write side: see writer.go.
	// wcond is what other goroutines wait on the connection for (the
	// flusher, a stop request, cleanup), made on the first wait (waits.go).
	wcond *waits
	out   []byte
	// batch is what this reader owes subscriber connections; reader-owned,
	// and only while the reader runs (run): a parked connection holds none.
	batch *flushBatch
	// Slow consumer (queues.go), under wmu: since when QoS 0 has been shed
	// without the buffer emptying (Unix ns, 0 = not shedding).
	shedSince int64
	stop      atomic.Pointer[stopRequest] // set by kick

	// Four-, two- and one-byte fields, packed: an idle connection pays no
	// padding (the struct is exactly its size class, 352 bytes: 0049).
	wmu sync.Mutex // the write side's (writer.go)
	// Limits the client announced in CONNECT (5.0); the Topic Alias
	// Maximum it accepts is in rare.
	maxOut        uint32             // Maximum Packet Size it accepts, 0 = no limit
	sessionExpiry uint32             // as negotiated in CONNECT, 5.0 DISCONNECT may change it
	keepAlive     uint16             // the keep-alive in force, in seconds, 0 for none (keepLimit)
	problemInfo   bool               // Request Problem Information [MQTT-3.1.2-29]
	version       byte               // the CONNECT's protocol version
	clientReason  packets.ReasonCode // the reason of the client's DISCONNECT
	refused       packets.ReasonCode // why the CONNECT was refused, if it was
	hooked        bool               // authenticate hooks saw this client (they get OnDisconnect)
	saidGoodbye   bool               // a DISCONNECT or refusing CONNACK was queued: drain before closing (reader-owned)
	draining      atomic.Bool
	parked        atomic.Bool // in the idle poller (park.go): no goroutine
	keepExpired   atomic.Bool // the keep-alive ran out while parked
	// fd is the socket, for the poller; -1 without one. While parked
	// detached (conn == nil), the duplicate that keeps the socket open
	// (park_detach.go). Under wmu, as armed, detachOnFlush and writeAttached.
	fd int32
	// tslot is 1 + its slot in the broker's connTable, 0 outside it; set
	// and cleared under b.mu by its own goroutine (track, untrack).
	tslot int32
	// Where the keep-alive deadline waits while parked (park_wheel.go), under
	// the poller's mutex: its second, and its slot (+1, 0 = none) and index.
	keepDue           uint32
	keepSlot, keepPos int32
	window            uint16 // outbound in-flight window: Receive Maximum, at most 65,535
	flushing          bool
	wclosed           bool
	// writeFailed: a write to the socket failed; nothing more can reach the client.
	writeFailed bool
	slowKicked  bool    // disconnected as a slow consumer (queues.go), under wmu
	cleanedUp   bool    // finish (or a refused handshake) is over, under wmu: see doneCh
	armed       armMode // how fd is in the poller's set: not, one-shot, or level-triggered
	// detachOnFlush: parked with its net.Conn because it was being written
	// to; the flusher detaches it when done. writeAttached: a writer
	// rebuilt its net.Conn since it last parked (park_detach.go).
	detachOnFlush, writeAttached bool
	// redetach: parked with its net.Conn, waiting in the poller's list to
	// be detached on its tick. Under the poller's mutex.
	redetach bool
}

// clientRare is the part of a connection that few connections use: a
// fleet's idle 3.1.1 devices without a will carry none of it, and the
// client struct is 64 bytes smaller for it (docs/decisions/0048).
//
// c.rare is set only on the connection's own goroutine before its session
// is attached (newClient, handshake) and never changes afterwards, so other
// goroutines (deliveries, under wmu) read it without a lock. Every 5.0
// connection has one: its topic aliases may be needed at any packet.
type clientRare struct {
	authMeth    string            // enhanced-authentication method of the CONNECT, "" if none
	will        *packets.Will     // the CONNECT's will, nil if none
	aliasesIn   []string          // inbound topic aliases, index = alias (reader-owned)
	aliasesOut  map[string]uint16 // outbound topic aliases we assigned (under wmu)
	aliasMaxOut uint16            // the client's Topic Alias Maximum: how many aliasesOut may hold
	dur         *durableOut       // answers held until durable (durable.go); nil without a store
}

// ext is c.rare, made if there is none. Only before the session is
// attached, on the connection's goroutine (see clientRare).
func (c *client) ext() *clientRare {
	if c.rare == nil {
		c.rare = new(clientRare)
	}
	return c.rare
}

// durable is what the connection holds until durable; nil without a store.
func (c *client) durable() *durableOut {
	if c.rare == nil {
		return nil
	}
	return c.rare.dur
}

// connectWill is the CONNECT's will, nil if none.
func (c *client) connectWill() *packets.Will {
	if c.rare == nil {
		return nil
	}
	return c.rare.will
}

// authMethod is the CONNECT's enhanced-authentication method, "" if none.
func (c *client) authMethod() string {
	if c.rare == nil {
		return ""
	}
	return c.rare.authMeth
}

// keepLimit is the read deadline per packet: 1.5 x the keep-alive, 0 for
// none [MQTT-3.1.2-22]. A duration computed, not kept: 8 bytes on every
// connection (0048).
func (c *client) keepLimit() time.Duration {
	return time.Duration(c.keepAlive) * 1500 * time.Millisecond
}

// stopRequest asks a client's reader to end the connection.
type stopRequest struct {
	reason packets.ReasonCode
	will   bool   // publish the will: yes for takeover and shutdown, as for any close without DISCONNECT 0x00 [MQTT-3.1.2-8]
	err    error  // what went wrong, for the log; nil for a deliberate stop
	ref    string // a Server Reference for the DISCONNECT (drain.go); "" none
}

func newClient(b *Broker, conn net.Conn, listener string) *client {
	c := &client{b: b, lim: b.limits(), conn: conn, rd: newReader(conn), fd: -1}
	if b.journal != nil && b.journal.Holds() {
		c.ext().dur = &durableOut{}
	}
	c.info.RemoteAddr = conn.RemoteAddr().String()
	c.info.Listener = listener
	b.stats.listenerStats(listener) // its counters exist from its first connection (Breakdown lists them)
	c.info.Handle = nextHandle.Add(1)
	return c
}

// nextHandle numbers connections for hooks.Client.Handle.
var nextHandle atomic.Uint64

// kick asks the reader to stop with reason; the first request wins.
func (c *client) kick(reason packets.ReasonCode, will bool) {
	c.stopWith(&stopRequest{reason: reason, will: will})
}

// stopWith asks the reader to end the connection through finish, the one path
// that logs, publishes the will and detaches the session. Whoever else finds
// the connection broken (a failed write) comes here too: closing the socket
// under a reader, parked or not, would skip all of that and hand its socket
// number to the next connection while the poller still knows it.
func (c *client) stopWith(req *stopRequest) {
	if c.stop.CompareAndSwap(nil, req) {
		c.wmu.Lock()
		if c.conn != nil { // nil: parked without it, and unpark wakes it (park_detach.go)
			_ = c.conn.SetReadDeadline(time.Unix(1, 0)) // wakes the reader now
		}
		c.wmu.Unlock()
		c.wakeWaiter() // or, if it waits for room (backpressure.go)
		c.unpark()     // or starts one, if parked
	}
}

// errClientDisconnect ends the read loop after a DISCONNECT from the client.
var errClientDisconnect = errors.New("client disconnected")

// run is the connection's read loop, after CONNACK. It returns when the
// connection is over, having cleaned up, or when the connection was parked
// (see park.go): a later readiness event starts run again.
func (c *client) run() {
	c.batch = getBatch()
	c.runOn(nil, nil)
}

// runOn is run for a reader whose batch is already set: handed over by the
// poller's inline path (inline_linux.go) with, perhaps, a packet it read
// but must not handle itself (pend) or the error that ends the connection.
func (c *client) runOn(pend *heldPacket, err error) {
	defer c.b.wg.Done()
	if err == nil && pend != nil {
		c.batch.n++
		err = c.dispatchKept(pend.h, pend.body)
	}
	if err == nil && len(c.batch.over) > 0 {
		waited := c.awaitRoom()
		c.rd.lastRead += int64(waited)
	}
	if err == nil {
		err = c.serve()
	}
	if err == errParked {
		// Nothing to flush: serve flushed before it waited on the socket, and
		// gave the batch back before parking (parkFromServe).
		return
	}
	c.batch.flush() // what the last packets delivered
	c.finish(err)
	putBatch(c.batch)
	c.batch = nil
}

// heldPacket is a packet the inline path read and leaves to a goroutine.
type heldPacket struct {
	h    packets.FixedHeader
	body []byte
}

// errParked ends serve when the connection was handed to the idle poller.
var errParked = errors.New("parked")

// serve reads and dispatches packets until the connection ends or is parked.
//
// Read deadlines only wake the loop; they never end a packet. When one
// passes, the time since the last byte decides (docs/decisions/0010-read-path.md):
// past 1.5 x keep-alive the client is gone [MQTT-3.1.2-22]; in the middle of
// a packet, past PacketReadTimeout it has stalled; between packets, past the
// park timer, the connection gives up its goroutine. Otherwise the packet in
// progress simply goes on.
func (c *client) serve() error {
	idle := c.b.parkAfter
	stall := c.b.limits().PacketReadTimeout
	wait := c.readWait()
	if wait == 0 {
		_ = c.conn.SetReadDeadline(time.Time{}) // lift the CONNECT timeout of the handshake
	}
	var deadlineSet time.Time
	var lastWait int64 // when this reader last waited after a small batch (rd.lastRead)
	smallRun := 0      // waits in a row after a small batch (inlineAfter)
	rp := c.reparkWatch()
	for {
		small := c.batch.n <= maxInlinePackets
		if c.rd.empty() || c.batch.n >= maxBatchPackets {
			// The batch ends before the reader may wait on its socket.
			c.batch.flush()
		}
		if c.rd.empty() {
			if c.stop.Load() != nil || c.keepExpired.Load() {
				// A kick's deadline in the past may have been replaced below;
				// the request itself is never lost.
				return nil
			}
			if rp.now() {
				// The last packet's body may point into the read buffer,
				// which next lets go only on its next call: dispatch is done
				// with it, and a parked connection holds no buffer.
				c.rd.releaseIfEmpty()
				if c.parkFromServe() {
					return errParked
				}
			}
			if !small {
				smallRun = 0
			} else if smallRun++; c.inlineOK() {
				// Served inline only if it came back soon (busyWindow), and
				// after a run of small batches (inlineAfter).
				busy := lastWait != 0 && c.rd.lastRead-lastWait < busyWindow
				lastWait = c.rd.lastRead
				if busy && c.b.inlineAfter(smallRun) && c.waitInline() {
					return errParked
				}
			}
			// Refresh the read deadline only when about to wait on the socket,
			// and at most every tenth of its distance: a timer change per
			// packet costs more than the packet. A keep-alive close then comes
			// between 1.5 and 1.65 times the keep-alive [MQTT-3.1.2-22].
			if now := time.Now(); wait > 0 && now.Sub(deadlineSet) > wait/10 {
				_ = c.conn.SetReadDeadline(now.Add(wait))
				deadlineSet = now
			}
		}
		h, body, err := c.rd.next(c.lim.MaxPacketSize, c.b.partials)
		if errors.Is(err, os.ErrDeadlineExceeded) && c.stop.Load() == nil {
			now := time.Now()
			quiet := now.Sub(c.rd.readAt())
			mid := c.rd.midPacket()
			switch {
			case c.keepAlive > 0 && quiet >= c.keepLimit():
				return err // [MQTT-3.1.2-22] nothing within 1.5 x keep-alive
			case mid && stall > 0 && quiet >= stall:
				return errPacketStalled
			case !mid && idle > 0 && quiet >= idle && c.parkFromServe():
				return errParked
			}
			// Still within every limit: wait for the nearest one. The packet
			// in progress, if any, is kept by the reader.
			_ = c.conn.SetReadDeadline(now.Add(max(c.nextLimit(mid, quiet), time.Millisecond)))
			deadlineSet = now
			continue
		}
		if err == nil {
			c.batch.n++
			rp.saw(h.Type)
			err = c.dispatchKept(h, body)
		}
		if err != nil {
			return err
		}
		if len(c.batch.over) > 0 {
			// Backpressure: read nothing more until the sessions this publish
			// overfilled have room. The wait is the broker's silence, not the
			// client's: it does not count against the keep-alive.
			waited := c.awaitRoom()
			c.rd.lastRead += int64(waited)
			if now := time.Now(); wait > 0 {
				_ = c.conn.SetReadDeadline(now.Add(wait))
				deadlineSet = now
			}
		}
	}
}

// readWait is how far ahead serve sets the read deadline when it waits for a
// new packet: the nearest of the keep-alive (with a tenth's slack, so the
// timer is not refreshed per packet), the park timer and the stall limit.
func (c *client) readWait() time.Duration {
	var wait time.Duration
	for _, d := range [...]time.Duration{c.keepLimit() + c.keepLimit()/10, c.b.parkAfter, c.b.limits().PacketReadTimeout} {
		if d > 0 && (wait == 0 || d < wait) {
			wait = d
		}
	}
	return wait
}

// nextLimit is how long until the nearest limit that applies after quiet
// without a byte; 0 when none does (no keep-alive, no parking).
func (c *client) nextLimit(mid bool, quiet time.Duration) time.Duration {
	var next time.Duration
	consider := func(limit time.Duration) {
		if limit > 0 && limit > quiet && (next == 0 || limit-quiet < next) {
			next = limit - quiet
		}
	}
	consider(c.keepLimit())
	if mid {
		consider(c.b.limits().PacketReadTimeout)
	} else {
		consider(c.b.parkAfter)
	}
	if next == 0 {
		// Parking was refused or nothing applies: look again after a while.
		next = max(c.readWait(), time.Second)
	}
	return next
}

// connectedFor is how long ago the CONNECT was accepted (connAt).
func (c *client) connectedFor() time.Duration {
	return time.Duration(time.Now().UnixNano() - c.connAt)
}

// errPacketStalled ends a connection whose packet in progress stopped arriving.
var errPacketStalled = errors.New("packet stalled: no byte within the packet read timeout")

// finish ends the connection after serve: the right DISCONNECT, the log line,
// the will and the session's fate.
func (c *client) finish(err error) {
	reason, will := packets.NormalDisconnection, true
	var cause error // why the connection ended, when not on purpose
	gone := false   // the network went away: nothing more reaches the client
	switch stop := c.stop.Load(); {
	case stop != nil:
		reason, will, cause = stop.reason, stop.will, stop.err
		if stop.ref != "" {
			c.disconnectTo(reason, stop.ref)
		} else {
			c.disconnect(reason, "")
		}
	case errors.Is(err, errClientDisconnect):
		reason, will = c.clientReason, c.clientReason == packets.DisconnectWithWill
	case c.keepExpired.Load() || errors.Is(err, os.ErrDeadlineExceeded):
		reason, cause = packets.KeepAliveTimeout, err
		c.disconnect(reason, "keep alive timeout")
	case errors.Is(err, errPacketStalled):
		reason, cause = packets.KeepAliveTimeout, err
		c.disconnect(reason, "packet read timeout")
	default:
		var perr *packets.Error
		if errors.As(err, &perr) {
			reason = perr.Reason
			c.disconnect(reason, perr.Msg)
			c.logInfo().Str("reason", reason.String()).Str("error", perr.Msg).Msg("protocol violation")
		} else {
			reason, cause, gone = packets.UnspecifiedError, err, true // the network went away
		}
	}
	// The socket leaves the poller while it is still ours: once closed, its
	// number may belong to the next connection.
	c.unregister()
	// The session lets go of this connection before its socket closes: what
	// is delivered from here on waits for the next connection, and a client
	// that sees the close knows its session is offline.
	c.entry.Detach(c)
	c.closeWrites(time.Second, !gone)
	c.observeDisconnect(reason, err)
	c.b.detach(c, reason, will, cause)
	// A takeover waits for done, not for the client to read our DISCONNECT.
	c.markDone()
	c.drainAndClose()
}

// disconnect queues a server DISCONNECT (5.0 only [MQTT-3.14.0-1]).
func (c *client) disconnect(reason packets.ReasonCode, why string) {
	if c.version != packets.V5 {
		return
	}
	c.saidGoodbye = true
	d := packets.Disconnect{Reason: reason}
	if why != "" && c.problemInfo {
		d.Properties.ReasonString = why
		d.Properties.Set(packets.PropReasonString)
		c.fitReason(&d, &d.Properties) // [MQTT-3.14.2-3]
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
			// The answer joins the read's batch: written inline before the
			// reader next waits, or parks again (park_repark.go), rather
			// than by a flusher goroutine of its own.
			if c.begin() {
				c.out = (&packets.Pingresp{}).Append(c.out, c.version)
			}
			c.endIn(c.batch)
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
	// When the acknowledgement came off the socket, a batch's processing
	// ago at most: the reader read the clock then (decision 0039).
	now := c.rd.readAt().UnixNano()
	switch a.Kind {
	case packets.TypePubrel:
		// [MQTT-4.3.3-11] answer PUBREL with PUBCOMP, also for an id we no longer know.
		reason := packets.Success
		if !c.entry.ReleaseQoS2(a.PacketID) {
			reason = packets.PacketIdentifierNotFound
		}
		c.sendAckHeld(packets.TypePubcomp, a.PacketID, reason, "") // once the release is durable
	default:
		// What the acknowledgement sends back (a PUBREL, queued messages
		// let into the window) joins this read's batch (decision 0045).
		if !c.entry.AcknowledgeBatched(a.Kind, a.PacketID, a.Reason, now, c.batch) {
			// A stale or unknown acknowledgement: 5.0 answers a PUBREC with
			// PUBREL 0x92 Packet Identifier not found (MQTT 5.0 §3.6.2.1); others
			// are ignored.
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
		c.sessionExpiry = min(d.Properties.SessionExpiry, c.lim.MaxSessionExpiry)
		c.entry.SetExpiry(c.sessionExpiry)
	}
	c.clientReason = d.Reason
	return errClientDisconnect
}

// Log events about a client carry its client id and remote address. They are
// built per event rather than kept as a logger per client: an idle connection
// should not pay for a copy of the log context.
func (c *client) logInfo() *zerolog.Event  { return c.logFields(c.b.log.Info()) }
func (c *client) logDebug() *zerolog.Event { return c.logFields(c.b.log.Debug()) }
func (c *client) logWarn() *zerolog.Event  { return c.logFields(c.b.log.Warn()) }

func (c *client) logFields(e *zerolog.Event) *zerolog.Event {
	if c.info.ID != "" {
		e = e.Str("client_id", c.info.ID)
	}
	return e.Str("remote", c.info.RemoteAddr)
}
