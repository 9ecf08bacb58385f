package node

import (
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
)

// PublishConn returns a second connection to the node's NATS system, made
// as Conn was (in-process to the embedded server, or to nats_url with the
// same credentials and TLS) but with nats.NoEcho(): the routing fabric
// publishes on it and subscribes there to what other nodes publish, so that
// NATS does not send the node its own messages back (decision 0058). The
// first call opens it; Close flushes and closes it before draining Conn.
func (n *Node) PublishConn() (*nats.Conn, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pub != nil {
		return n.pub, nil
	}
	if n.closed {
		return nil, fmt.Errorf("cluster: publish connection: %w", nats.ErrConnectionClosed)
	}
	url := ""
	if n.cfg.External() {
		url = n.cfg.NATSURL
	}
	pc, err := nats.Connect(url, append(slices.Clip(n.dial), nats.Name("plume "+n.name+" publish"), nats.NoEcho())...)
	if err != nil {
		return nil, fmt.Errorf("cluster: publish connection: %w", err)
	}
	n.pub = pc
	return pc, nil
}

// publishFlushWait bounds flushing the publish connection at Close.
const publishFlushWait = 2 * time.Second

// closePublishConn flushes what was published on PublishConn's connection
// (the fabric has stopped by then) and closes it.
func (n *Node) closePublishConn() {
	n.mu.Lock()
	pc := n.pub
	n.pub = nil
	n.mu.Unlock()
	if pc == nil || pc.IsClosed() {
		return
	}
	if err := pc.FlushTimeout(publishFlushWait); err != nil {
		n.log.Warn().Err(err).Str("node", n.name).Msg("cluster: messages to other nodes may not have left")
	}
	pc.Close()
}
