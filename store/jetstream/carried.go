package jetstream

import "fmt"

// A session that moves between nodes carries the positions of its catch-up
// (decision 0056) from the claim until its new owner has delivered it
// that range and committed it: Record.Carried, opaque to the store. They
// are kept in the session's value, between the owner's name and the
// record, after a tag byte that no record starts with (a record starts
// with its version, a uvarint ≥ 1): ClaimCarrying writes them with the
// claim, a PutSession of a record that carries them keeps them, and the
// first PutSession without them (the new owner's, once the range is
// committed before it) drops them. A node that dies or restarts in
// between leaves them in the store: Fetch returns them, and whoever takes
// the session next catches up from them instead of from the claimer's
// positions, which the session never had. Load leaves such sessions out:
// their catch-up is not done, and their client's next CONNECT does it.
const carriedTag = 0

// appendCarried appends carried's tag and bytes when there are any.
func appendCarried(dst, carried []byte) []byte {
	if len(carried) == 0 {
		return dst
	}
	return appendString(append(dst, carriedTag), string(carried))
}

// splitCarried splits what follows the owner's name in a session value
// into the positions it carries (nil: none) and the record.
func splitCarried(rest []byte) (carried, record []byte, err error) {
	if len(rest) == 0 || rest[0] != carriedTag {
		return nil, rest, nil
	}
	c, record, err := readString(rest[1:])
	if err != nil {
		return nil, nil, fmt.Errorf("carried positions: %w", err)
	}
	return []byte(c), record, nil
}
