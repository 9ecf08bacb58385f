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
