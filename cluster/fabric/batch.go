package fabric

import (
	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/core/topics"
)

// An ingest message holds one envelope, or several packed by the store
// into a forward batch (session.AppendForwardBatch, decision 0061): the
// Forwards of one Commit to one shard, in one replicated write. The two
// are told apart by the first byte (envelopeVersion 1, batch 2). A batch
// is one stream sequence: its messages are routed together, in one journal
// change with the position (RouteIngested), so that the position commits
// only with every delivery the batch made and a reader that crashes
// midway reads the whole batch again.

// unpack decodes the envelopes of ingest message data, in order, and
// says whether it was a batch. A batch whose framing is broken is one
// malformed message (err); an entry of a sound batch that does not decode
// is counted malformed and left out, the others kept.
func (f *Fabric) unpack(data []byte) (envs []envelope, batch bool, err error) {
	if !session.IsForwardBatch(data) {
		e, err := decodeEnvelope(data)
		if err != nil {
			return nil, false, err
		}
		return []envelope{e}, false, nil
	}
	entries, err := session.SplitForwardBatch(data)
	if err != nil {
		return nil, true, err
	}
	envs = make([]envelope, 0, len(entries))
	for _, b := range entries {
		e, err := decodeEnvelope(b)
		if err != nil {
			f.stats.malformed.Add(1)
			continue
		}
		envs = append(envs, e)
	}
	return envs, true, nil
}

// batchToken follows PREFIX.in.<k> in a batch's subject (store/jetstream
// writes it): the fabric's topics are under .t and .s, so no session's
// filter subjects match it, and a catch-up reads batches under it whole.
const batchToken = ".b"

// matcher returns whether a topic matches one of filters: a catch-up's
// test for the messages of a batch, which the server cannot filter.
func matcher(filters []string) func(topic string) bool {
	r := topics.NewRouter()
	for _, flt := range filters {
		r.Subscribe(topics.Subscription{Client: "catch-up", Filter: flt})
	}
	var m topics.Matches
	return func(topic string) bool {
		m.Reset()
		r.Match(topic, &m)
		return len(m.Subs) > 0
	}
}
