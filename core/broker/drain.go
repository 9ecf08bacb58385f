package broker

import "github.com/plumemq/plume/core/packets"

// goodbye is the stop request Shutdown gives every connection: DISCONNECT
// 0x8B Server shutting down; or, on a cluster node that names where its
// clients should go (Options.ServerReference), 0x9C Use another server with
// that Server Reference, so that a 5.0 client reconnects there at once
// rather than retry this node (§4.11, decision 0057). 3.1.1 clients have
// no DISCONNECT from the server [MQTT-3.14.0-1]: their connection closes.
// The will is published either way, as for any close without DISCONNECT
// 0x00 [MQTT-3.1.2-8]; its delay lets a client that resumes elsewhere in
// time cancel it.
func (b *Broker) goodbye() *stopRequest {
	if ref := b.opts.ServerReference; ref != "" {
		return &stopRequest{reason: packets.UseAnotherServer, will: true, ref: ref}
	}
	return &stopRequest{reason: packets.ServerShuttingDown, will: true}
}

// disconnectTo queues a 5.0 DISCONNECT with reason and a Server Reference
// [MQTT-3.14.2-3]. A reference that would make the packet larger than the
// client's Maximum Packet Size cannot be sent: the client gets 0x8B Server
// shutting down instead, which asks nothing of it it cannot read.
func (c *client) disconnectTo(reason packets.ReasonCode, ref string) {
	if c.version != packets.V5 {
		return
	}
	d := packets.Disconnect{Reason: reason}
	d.Properties.ServerReference = ref
	d.Properties.Set(packets.PropServerReference)
	if c.maxOut != 0 && uint32(len(d.Append(nil, c.version))) > c.maxOut {
		c.disconnect(packets.ServerShuttingDown, "")
		return
	}
	c.saidGoodbye = true
	c.send(&d)
}
