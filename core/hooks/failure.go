package hooks

import (
	"errors"

	"github.com/plumemq/plume/core/packets"
)

// Failure says what a failed hook call (an error: a trap, a deadline, a bad
// answer, an unreachable service) means. It is the one place where an error
// becomes a verdict: every Chain link and the broker's own calls to its Hooks
// read their (result, error) pairs through these methods, so no caller can
// mistake an error for an answer.
//
// The zero value is the chain's documented default for a plugin: authenticate
// and authorize fail closed, on-publish and transform fail open. FailClosed is
// the broker's default for a Hooks value that returns errors itself.
type Failure struct {
	// AuthFailOpen makes a failed authenticate or authorize call pass (to the
	// next link; at the end of a chain, to the broker's default) instead of
	// denying.
	AuthFailOpen bool
	// MessageFailClosed makes a failed on-publish reject the message and a
	// failed transform drop it, instead of continuing unchanged.
	MessageFailClosed bool
}

// FailClosed reads every failure as a refusal: authenticate and authorize
// deny, on-publish rejects, transform drops.
var FailClosed = Failure{MessageFailClosed: true}

// Authenticated is res when err is nil; otherwise a deny with
// ServerUnavailable (fail closed) or a pass (fail open). Not NotAuthorized:
// the plugin failed (a deadline on a busy machine, a trap), not the
// client's credentials, and a device told its credentials are wrong may
// stop retrying; 0x88 (3.1.1: 3) says "try again later".
func (f Failure) Authenticated(res AuthResult, err error) AuthResult {
	switch {
	case err == nil:
		return res
	case f.AuthFailOpen:
		return AuthResult{}
	}
	return AuthResult{Verdict: Deny, Reason: packets.ServerUnavailable}
}

// Authorized is res when err is nil; otherwise a deny with NotAuthorized
// (fail closed) or a pass (fail open). Neither may be cached: the next call
// may succeed.
func (f Failure) Authorized(res AuthzResult, err error) AuthzResult {
	switch {
	case err == nil:
		return res
	case f.AuthFailOpen:
		return AuthzResult{}
	}
	return AuthzResult{Verdict: Deny, Reason: packets.NotAuthorized}
}

// Published is res when err is nil; otherwise a reject with UnspecifiedError
// (fail closed: the publisher learns the message was not taken, not why) or
// continue (fail open).
func (f Failure) Published(res PublishResult, err error) PublishResult {
	switch {
	case err == nil:
		return res
	case f.MessageFailClosed:
		return PublishResult{Action: Reject, Reason: packets.UnspecifiedError}
	}
	return PublishResult{}
}

// Transformed reports whether a transform that returned err must drop the
// message: always for ErrDropped (a chain already decided), for any other
// error when failing closed. A transform that failed open leaves the message
// as it was before the call; restoring it is the caller's part.
func (f Failure) Transformed(err error) (drop bool) {
	return err != nil && (f.MessageFailClosed || errors.Is(err, ErrDropped))
}
