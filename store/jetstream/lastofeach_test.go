package jetstream

import (
	"slices"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// seenMsg is a message as a read's consumer delivers it.
type seenMsg struct {
	jetstream.Msg // not called: only the subject and headers are
	subject       string
	header        nats.Header
}

func (m seenMsg) Subject() string      { return m.subject }
func (m seenMsg) Headers() nats.Header { return m.header }

// A replica that lags delivers a message and then, once it applies them,
// the later writes of the same subject: a read keeps the last of each
// subject, and drops a subject whose last write is a tombstone. This is
// the order a read through a restarted node's replica saw: a QoS 2
// delivery before its PUBREC (seq 100), then its deletion (160). Taken
// one by one, the delivery came back.
func TestAReadKeepsEachSubjectsLastWriteOnly(t *testing.T) {
	put := func(subject string) seenMsg { return seenMsg{subject: subject, header: nats.Header{}} }
	del := func(subject string) seenMsg {
		return seenMsg{subject: subject, header: nats.Header{kvOperation: []string{"DEL"}}}
	}
	var l lastOfEach
	l.see(put("d.1"), 100) // sent, before its PUBREC
	l.see(put("d.2"), 110)
	l.see(put("d.3"), 120)
	l.see(del("d.1"), 160) // completed: deleted
	l.see(put("d.2"), 170) // released
	l.see(put("d.3"), 115) // an older write delivered late never wins
	var got []string
	var seqs []uint64
	if err := l.each(func(m jetstream.Msg) error {
		got = append(got, m.Subject())
		seqs = append(seqs, l[m.Subject()].seq)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"d.3", "d.2"}) || !slices.Equal(seqs, []uint64{120, 170}) {
		t.Fatalf("read %v at %v; want d.3 at 120 and d.2 at 170, in stream order, and not the deleted d.1", got, seqs)
	}
}
