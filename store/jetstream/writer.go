package jetstream

import "fmt"

// Whose deliveries a session's queue holds (decision 0062). A node writes
// a session's deliveries only while it owns it, but "owns" is what the
// store says, and a node learns it lost a session only when a write of
// the record is refused: a copy it loaded at its start and another node
// claimed since goes on routing into its queue until then. Those
// deliveries are duplicates of what the owner delivers, so Fetch takes a
// session's deliveries from two nodes only: its owner, and the node whose
// deliveries the queue held when the owner claimed it — the writer, kept
// in the session's value by the claim until the owner writes the session
// itself (journal.Adopt purges the queue and writes it again as its own,
// and its PutSession drops the tag).
//
// The writer follows the positions a session carries (carried.go) in the
// value, after a tag byte no record starts with: a record starts with its
// version, a uvarint (session.FormatVersion, 1; versions stay below 127),
// and carriedTag is 0.
const writerTag = 0x7F

// appendWriter appends writer's tag and name, when there is one.
func appendWriter(dst []byte, writer string) []byte {
	if writer == "" {
		return dst
	}
	return appendString(append(dst, writerTag), writer)
}

// splitWriter splits what follows the carried positions in a session value
// into the writer ("": none, the owner wrote it) and the record.
func splitWriter(rest []byte) (writer string, record []byte, err error) {
	if len(rest) == 0 || rest[0] != writerTag {
		return "", rest, nil
	}
	w, record, err := readString(rest[1:])
	if err != nil {
		return "", nil, fmt.Errorf("writer: %w", err)
	}
	return w, record, nil
}

// sessionValue is a session's value in the bucket, split.
type sessionValue struct {
	owner   string
	carried []byte
	writer  string // the owner when the value has no writer tag
	record  []byte // empty: claimed, not written yet
}

func parseSessionValue(v []byte) (sessionValue, error) {
	owner, rest, err := readString(v)
	if err != nil {
		return sessionValue{}, err
	}
	carried, rest, err := splitCarried(rest)
	if err != nil {
		return sessionValue{}, err
	}
	writer, record, err := splitWriter(rest)
	if err != nil {
		return sessionValue{}, err
	}
	if writer == "" {
		writer = owner
	}
	return sessionValue{owner: owner, carried: carried, writer: writer, record: record}, nil
}

// claimedBy is the value as node's claim writes it: node the owner, the
// carried positions replaced when carried is set, and the writer kept —
// the deliveries in the queue are still the writer's until node writes
// the session.
func (v sessionValue) claimedBy(node string, carried []byte) []byte {
	if carried == nil {
		carried = v.carried
	}
	writer := v.writer
	if writer == node || len(v.record) == 0 {
		writer = ""
	}
	b := appendWriter(appendCarried(appendString(nil, node), carried), writer)
	return append(b, v.record...)
}
