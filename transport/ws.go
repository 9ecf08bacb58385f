package transport

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// MQTT over WebSockets (MQTT 5.0 section 6, the same for 3.1.1): a `ws` or
// `wss` listener is an HTTP server on its address that upgrades requests for
// its path and hands each upgraded connection to the broker as a net.Conn
// (wsconn.go) carrying the MQTT byte stream. docs/decisions/0021-websockets.md
// says why gorilla/websocket and why a reader goroutine per connection.

// UpgradeTimeout bounds the HTTP side of a WebSocket connection: the TLS
// handshake (wss) and the request headers must arrive within it
// (http.Server.ReadHeaderTimeout), and the 101 answer must be written within
// it. The broker's CONNECT timeout starts after the upgrade. A listener takes
// the value current when Serve starts.
var UpgradeTimeout = 10 * time.Second

// maxHeaderBytes bounds an upgrade request's headers. Browsers send cookies
// for the broker's host; 16 KiB holds more than any sane set of them.
const maxHeaderBytes = 16 << 10

// DefaultWSPath is the path a WebSocket listener serves when none is set.
const DefaultWSPath = "/mqtt"

// Subprotocols are the WebSocket subprotocols a listener agrees to, in the
// order it prefers them: "mqtt" [MQTT-6.0.0-3], and "mqttv3.1", which older
// 3.1 and 3.1.1 clients offer instead.
var Subprotocols = []string{"mqtt", "mqttv3.1"}

// maxFixedHeader is the most bytes an MQTT fixed header takes: the type byte
// and a four-byte remaining length.
const maxFixedHeader = 5

// WS is a WebSocket listener (`type: ws`); WSS adds TLS.
type WS struct {
	cfg  Config
	tcp  *TCP
	tls  *TLS // wss only: certificates, their reload and the handshake
	path string

	mu   sync.Mutex
	gate *gate // set by Serve; closing it stops the HTTP server
}

var _ Listener = (*WS)(nil)

// WSS is a WebSocket listener over TLS (`type: wss`). Its certificates
// reload as a TLS listener's do (Reload, Files, Serial), and a verified
// client certificate reaches hooks as over TLS.
type WSS struct{ *WS }

// NewWS returns the WebSocket listener c describes (type ws or wss), which
// Validate has accepted; nothing is read or bound until Listen.
func NewWS(c Config) Listener {
	w := &WS{cfg: c, path: c.Path}
	if w.path == "" {
		w.path = DefaultWSPath
	}
	if c.Type != "wss" {
		w.tcp = newTCP(c)
		return w
	}
	w.tls = NewTLS(c)
	w.tcp = w.tls.tcp
	return &WSS{w}
}

// Name is the listener's configured name.
func (w *WS) Name() string { return w.cfg.Name }

// Protocol is "ws" or "wss".
func (w *WS) Protocol() string {
	if w.tls != nil {
		return "wss"
	}
	return "ws"
}

// Address is the bound address after Listen, else the configured one.
func (w *WS) Address() string { return w.tcp.Address() }

// Path is the URL path upgraded; any other answers 404.
func (w *WS) Path() string { return w.path }

// Listen binds the address (and, for wss, reads the certificates).
func (w *WS) Listen() error {
	if w.tls != nil {
		return w.tls.Listen()
	}
	return w.tcp.Listen()
}

// Serve runs the HTTP server and hands each upgraded connection to
// c.ServeConn. It also hands c a listener that accepts nothing but whose
// closing stops the HTTP server, so that broker.Shutdown, which closes the
// listeners its Serve holds, stops WebSocket listeners like the others. It
// returns what c.Serve returns: broker.ErrClosed after a shutdown.
func (w *WS) Serve(c Conns) error {
	bound := w.tcp.bound
	if w.tls != nil {
		bound = w.tls.bound
	}
	ln, err := bound()
	if err != nil {
		return err
	}
	timeout := UpgradeTimeout
	srv := &http.Server{
		Handler:           w.handler(c, timeout),
		ReadHeaderTimeout: timeout,
		IdleTimeout:       timeout, // an HTTP client that never upgrades
		MaxHeaderBytes:    maxHeaderBytes,
		// Handshake failures and malformed requests are the client's
		// problem and already answered; net/http would print each one to
		// stderr, unstructured and unbounded.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	g := &gate{addr: ln.Addr(), done: make(chan struct{}), stop: func() { _ = srv.Close() }}
	w.mu.Lock()
	w.gate = g
	w.mu.Unlock()
	w.tcp.mu.Lock()
	closed := w.tcp.closed
	w.tcp.mu.Unlock()
	if closed { // Close ran before the gate was set
		g.Close()
	}
	served := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		g.Close() // the socket failed: end c.Serve too
		served <- err
	}()
	err = c.Serve(g, w.cfg.Name)
	g.Close()
	if herr := <-served; !errors.Is(herr, http.ErrServerClosed) && !errors.Is(herr, net.ErrClosed) {
		return fmt.Errorf("listener %q: %w", w.cfg.Name, herr)
	}
	return err
}

// Close stops the HTTP server and the socket. Upgraded connections stay
// with the broker; ones still in their upgrade are closed.
func (w *WS) Close() error {
	err := w.tcp.Close()
	w.mu.Lock()
	g := w.gate
	w.mu.Unlock()
	if g != nil {
		g.Close()
	}
	return err
}

// Files are the certificate files Reload reads.
func (w *WSS) Files() []string { return w.tls.Files() }

// Reload reads the certificates again, as TLS.Reload does.
func (w *WSS) Reload() (changed bool, err error) { return w.tls.Reload() }

// Serial is the serial number of the certificate that serves now.
func (w *WSS) Serial() string { return w.tls.Serial() }

// handler upgrades requests for the listener's path that offer an MQTT
// subprotocol and hands the connection to c.
func (w *WS) handler(c Conns, timeout time.Duration) http.Handler {
	up := &websocket.Upgrader{
		HandshakeTimeout: timeout, // writing the 101 answer
		Subprotocols:     Subprotocols,
		// No Origin check: MQTT clients authenticate in CONNECT (or by
		// certificate), not by cookies a browser attaches for any page,
		// and the default same-origin rule would refuse every web app
		// served from another host than the broker (decision 0021).
		CheckOrigin: func(*http.Request) bool { return true },
		// Idle connections hold no write buffer: one is taken per write.
		WriteBufferPool: &sync.Pool{},
	}
	limit := readLimit(c)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != w.path {
			http.NotFound(rw, r)
			return
		}
		if !offersMQTT(r) {
			http.Error(rw, "Sec-WebSocket-Protocol offers neither mqtt nor mqttv3.1 (MQTT section 6)", http.StatusBadRequest)
			return
		}
		ws, err := up.Upgrade(rw, r, nil)
		if err != nil {
			return // Upgrade answered the client, or the connection is gone
		}
		ws.SetReadLimit(limit)
		c.ServeConn(newWSConn(ws), w.cfg.Name)
	})
}

// offersMQTT reports whether r may be upgraded: it offers one of
// Subprotocols, or none at all. A client that offers other subprotocols
// only would not understand the answer; one that offers none is tolerated
// (decision 0021): [MQTT-6.0.0-3] binds the client, and clients that omit
// the header exist and can mean nothing but MQTT on this path.
func offersMQTT(r *http.Request) bool {
	offered := websocket.Subprotocols(r)
	if len(offered) == 0 {
		return true
	}
	for _, o := range offered {
		for _, s := range Subprotocols {
			if o == s {
				return true
			}
		}
	}
	return false
}

// readLimit is the largest WebSocket message accepted: the broker's largest
// packet with its fixed header. The broker bounds packets itself; this keeps
// the WebSocket layer from allowing more, and from allowing less (its own
// default is unbounded, other libraries' 32 KiB).
func readLimit(c Conns) int64 {
	max := uint32(268435455) // the largest remaining length MQTT can encode
	if m, ok := c.(interface{ MaxPacketSize() uint32 }); ok && m.MaxPacketSize() > 0 {
		max = m.MaxPacketSize()
	}
	return int64(max) + maxFixedHeader
}

// gate is the net.Listener a WebSocket listener gives the broker's accept
// loop: it accepts nothing (upgrades arrive through ServeConn), and closing
// it stops the HTTP server.
type gate struct {
	addr net.Addr
	done chan struct{}
	once sync.Once
	stop func()
}

func (g *gate) Accept() (net.Conn, error) {
	<-g.done
	return nil, net.ErrClosed
}

func (g *gate) Close() error {
	g.once.Do(func() {
		close(g.done)
		g.stop()
	})
	return nil
}

func (g *gate) Addr() net.Addr { return g.addr }
