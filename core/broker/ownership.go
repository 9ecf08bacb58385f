package broker

import (
	"errors"
	"fmt"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/session"
)

// OwnerMismatch says what a client gets that connects with the client id of a
// session another identity owns. Whatever it says, a different identity never
// disconnects the owner's live connection: while the owner is connected the
// newcomer is refused (decision 0011).
type OwnerMismatch uint8

// The owner-mismatch policies.
const (
	// OwnerMismatchRefuse refuses the client with CONNACK 0x87 Not authorized
	// (3.1.1: return code 5) and leaves the owner's session as it was. The
	// default: nobody can read, or destroy, a session that is not theirs.
	OwnerMismatchRefuse OwnerMismatch = iota
	// OwnerMismatchFresh ends the owner's offline session as Clean Start would
	// (its will is published, its queue discarded) and gives the client a
	// new session of its own, with Session Present 0.
	OwnerMismatchFresh
)

// String spells the policy as the configuration does.
func (m OwnerMismatch) String() string {
	if m == OwnerMismatchFresh {
		return "fresh"
	}
	return "refuse"
}

// ParseOwnerMismatch reads "refuse" or "fresh".
func ParseOwnerMismatch(s string) (OwnerMismatch, error) {
	switch s {
	case "refuse":
		return OwnerMismatchRefuse, nil
	case "fresh":
		return OwnerMismatchFresh, nil
	}
	return 0, fmt.Errorf("%q is not refuse or fresh", s)
}

// UnmarshalText reads "refuse" or "fresh", so that a config file can name
// the policy (encoding.TextUnmarshaler; YAML and JSON decoders use it).
func (m *OwnerMismatch) UnmarshalText(text []byte) error {
	v, err := ParseOwnerMismatch(string(text))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// errNotOwner refuses a client whose identity does not own the session of
// the client id it asked for.
var errNotOwner = errors.New("client identifier in use by another identity")

// ownerOf is the identity a client's sessions belong to.
func ownerOf(c *hooks.Client) session.Owner {
	return session.Owner{Authenticated: c.Authenticated, Principal: c.Principal}
}
