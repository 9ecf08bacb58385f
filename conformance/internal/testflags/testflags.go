// Package testflags holds the command-line flags of the suite's tests, so
// that `go test ./conformance/... -broker tcp://HOST:PORT` is accepted by
// every test binary under conformance/, whichever flags it uses.
package testflags

import "flag"

// The flags; see conformance.Options for their meaning.
var (
	Broker            = flag.String("broker", "", "broker to check, tcp://, tls://, ws:// or wss://host:port (the network tests are skipped without it)")
	CAFile            = flag.String("cafile", "", "PEM CA certificates to verify a tls:// or wss:// broker with")
	DeniedTopic       = flag.String("denied-topic", "", "a topic the broker refuses to let clients publish to")
	Version           = flag.String("version", "", "3 or 5: run one protocol version only")
	Only              = flag.String("only", "", "regular expression on statement id or test name")
	ServerKeepAlive   = flag.Int("server-keep-alive", -1, "the largest keep alive (s) the broker allows, returned as Server Keep Alive; -1 if unknown")
	SendsTopicAliases = flag.Bool("sends-topic-aliases", false, "the broker sends topic aliases to clients that allow them")
	RefusedClientID   = flag.String("refused-client-id", "", "a client identifier the broker refuses")
	RefusedUsername   = flag.String("refused-username", "", "a user name the broker refuses with a wrong password")
	ExpectFail        = flag.String("expect-fail", "", "file listing statements known to fail on this broker; they are logged, not failed")
)

// The same broker's WebSocket listeners, for the interop matrix: MQTT.js
// runs its scenarios over each one given, besides -broker. The TLS files are
// PEM: the CA that signs the broker's certificate is -cafile (above), and a
// client certificate and key that the mutual-TLS listener accepts.
var (
	BrokerWS       = flag.String("broker-ws", "", "the broker's ws listener, ws://host:port/path")
	BrokerWSS      = flag.String("broker-wss", "", "the broker's wss listener, wss://host:port/path; its certificate is signed by -cafile")
	BrokerWSSMTLS  = flag.String("broker-wss-mtls", "", "the broker's wss listener that requires a client certificate (-client-cert, -client-key)")
	ClientCertFile = flag.String("client-cert", "", "PEM client certificate for mutual TLS")
	ClientKeyFile  = flag.String("client-key", "", "PEM key of -client-cert")
)
