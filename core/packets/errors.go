package packets

import "errors"

// Error is a decode error. Reason is the MQTT reason code the receiver must answer
// with (MalformedPacket, ProtocolError, PacketTooLarge, TopicNameInvalid,
// UnsupportedProtocolVersion, PayloadFormatInvalid, ...); Msg names the packet, the
// field and the rule broken, e.g.
// "PUBLISH: topic name contains a wildcard [MQTT-3.3.2-2]".
type Error struct {
	Reason ReasonCode
	Msg    string
}

// Error returns the message followed by the reason code's name.
func (e *Error) Error() string { return e.Msg + " (" + e.Reason.String() + ")" }

// ErrShortBuffer reports that a buffer does not yet hold a whole fixed header.
var ErrShortBuffer = errors.New("packets: short buffer")

func malformed(msg string) *Error               { return &Error{Reason: MalformedPacket, Msg: msg} }
func protocolErr(msg string) *Error             { return &Error{Reason: ProtocolError, Msg: msg} }
func reasonErr(r ReasonCode, msg string) *Error { return &Error{Reason: r, Msg: msg} }
