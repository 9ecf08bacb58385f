package broker

import (
	"sync/atomic"
	"time"

	"github.com/plumemq/plume/core/packets"
)

// Parking again at once: a fleet's devices ping far more often than they
// publish (a PINGREQ every 15–60 s, a reading now and then), and each ping
// wakes a parked connection. Kept attached for ParkIdleAfter (2 s) after
// every ping, a fleet pinging every 15 s holds an eighth of its connections
// awake at any moment: goroutine, stack and net.Conn, ~0.9 KiB per
// connection of the fleet (docs/decisions/0047).
//
// The rule, per run of the read loop (a wake-up from the poller starts one):
//   - it applies when the run began after at least reparkQuiet without a
//     byte from the client (measured from the last read before the wake), so
//     a rare wake, not the next packet of a busy connection;
//   - every packet the run read was keep-alive traffic: PINGREQ, or an
//     acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP) of an exchange
//     already under way — nothing that starts new work;
//   - at least one packet was read, and the reader holds nothing unparsed
//     (no part of a packet) when it is about to wait on the socket again,
//     with the batch's answers flushed.
// Then the connection parks right away instead of waiting ParkIdleAfter.
// A PUBLISH, SUBSCRIBE, UNSUBSCRIBE, AUTH or DISCONNECT ends the rule for
// the run: the usual ParkIdleAfter applies. Bytes the client sent after
// the reader's last read are not lost: the poller arms the socket
// level-triggered, so they wake the connection again at once.
//
// A connection whose packets come less than reparkQuiet apart never meets
// the rule (its next wake comes too soon after its last read), so it costs
// at most one park/wake cycle per reparkQuiet more than before; a
// ping-pong client publishes, so its path is untouched.

// reparkQuiet is the silence before a wake that makes it a rare one.
const reparkQuiet = time.Second

// reparkQuietSeam, when set by a test, replaces reparkQuiet (0 included:
// every keep-alive-only wake parks again, for races run many times).
var reparkQuietSeam atomic.Pointer[time.Duration]

// repark tracks the rule for one run of the read loop (client.serve).
type repark struct {
	on   bool // the rule still applies to this run
	seen bool // the run read a packet
}

// reparkWatch starts the rule for a run about to begin reading: on only if
// the connection can park and sent nothing for reparkQuiet.
//
// Bytes the reader holds already were read just now, by the poller that
// woke the run (park_ping_linux.go), or with the CONNECT: lastRead, left at
// the read before them for this condition, moves to now for the keep-alive
// and the stall limit of a packet they begin.
func (c *client) reparkWatch() repark {
	now := monoNow()
	silent := time.Duration(now - c.rd.lastRead)
	if !c.rd.empty() {
		c.rd.lastRead = now
	}
	if c.b.parkAfter <= 0 {
		return repark{}
	}
	quiet := reparkQuiet
	if d := reparkQuietSeam.Load(); d != nil {
		quiet = *d
	}
	return repark{on: silent >= quiet}
}

// saw notes a packet the run read.
func (r *repark) saw(t packets.Type) {
	if !r.on {
		return
	}
	switch t {
	case packets.TypePingreq, packets.TypePuback, packets.TypePubrec, packets.TypePubrel, packets.TypePubcomp:
		r.seen = true
	default:
		r.on = false
	}
}

// now reports whether the connection should park at once; called with the
// reader empty and the batch flushed. It says yes once per run: a park that
// was refused (a kick racing it, no socket) leaves the run to the usual path.
func (r *repark) now() bool {
	if !r.on || !r.seen {
		return false
	}
	r.on = false
	return true
}
