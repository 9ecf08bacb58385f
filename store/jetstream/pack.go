package jetstream

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/plumemq/plume/core/session"
)

// The Forwards of one Commit that go to the same ingest shard are packed
// into one stream message, a forward batch (session.AppendForwardBatch,
// decision 0061): a replicated JetStream write costs about the same for one
// message as for a hundred, and it was the whole price of a QoS 1 message
// between nodes. A batch is written to PREFIX.in.<k>.b (a namespace no
// topic's subject uses: the fabric's topics are under .t and .s), with a
// Msg-Id of its own; a shard with one Forward in the Commit gets it as
// before, alone on its topic's subject with its own Msg-Id.
//
// Dedup. A Forward's own Msg-Id made a retried write count once. A batch's
// cannot alone: the journal commits a failed Commit's ops again followed
// by later ones (decision 0059), and a batch of the failed ops plus new
// ones is another message — the failed attempt's batch may have been
// stored although its acknowledgement never came, and its messages would
// then be in the ingest twice. So the boundaries are kept: the batches of
// a Commit that failed are remembered (retried), and the next Commit writes
// each of them again byte for byte, under the same Msg-Id, the first time
// one of its Forwards comes again; only Forwards in no remembered batch
// are packed anew. The stream's duplicate window then drops the second
// copy, as it did for single Forwards. A Commit that lands forgets them:
// every op of a failed Commit is in the next attempt, or was given up.
// A crash between attempts loses the journal's ops with the memory; a
// Commit that went through the commit log is replayed from its plan, which
// holds the batches themselves.
//
// The Msg-Id of a batch names its first Forward, its count and a hash of
// every id it holds: two batches of different Forwards never share one,
// so a fault in the rule above would show as a duplicate, never a loss.

// packer builds the forward batches of one plan.
type packer struct {
	prefix  string // PREFIX.in.
	limit   int    // the most bytes a batch may take: the store's chunk
	single  bool   // Config.SingleForwards: one message per Forward, as before 0061
	retried map[string]*packed
	open    map[string]*packed // by shard stem, PREFIX.in.<k>
	written map[*packed]bool   // remembered batches already in this plan
	all     []*packed          // every batch of this plan, to remember if it fails
}

// packed is one batch: its Forwards, and where its action sits in the plan.
type packed struct {
	at      int // index of its action in the plan
	stem    string
	forward []*session.Forwarded
	size    int
	act     action // built by done
}

func (s *Store) newPacker() *packer {
	return &packer{prefix: s.names.prefix + ".in.", limit: s.chunk, single: s.cfg.SingleForwards,
		retried: s.retried, open: map[string]*packed{}, written: map[*packed]bool{}}
}

// add puts Forward f in the plan acts.
func (p *packer) add(acts []action, f *session.Forwarded) ([]action, error) {
	if p.single {
		return append(acts, singleForward(f)), nil
	}
	if b, ok := p.retried[f.ID]; ok {
		if !p.written[b] {
			p.written[b] = true
			b.at = len(acts)
			p.all = append(p.all, b)
			acts = append(acts, b.act)
		}
		return acts, nil
	}
	rest := strings.TrimPrefix(f.Subject, p.prefix)
	i := strings.IndexByte(rest, '.')
	if i <= 0 {
		return nil, fmt.Errorf("forward to %s: not an ingest subject of this store", f.Subject)
	}
	stem := p.prefix + rest[:i]
	size := session.ForwardBatchEntrySize(len(f.Data))
	b := p.open[stem]
	if b != nil && b.size+size > p.limit {
		acts[b.at] = b.done() // full: the next ones go in a new batch, after it
		b = nil
	}
	if b == nil {
		// The chunk leaves 4 KiB of the max payload for headers (the
		// Msg-Id) and the subject.
		b = &packed{at: len(acts), stem: stem, size: session.ForwardBatchHeader}
		p.open[stem] = b
		p.all = append(p.all, b)
		acts = append(acts, action{}) // filled in by done
	}
	b.forward = append(b.forward, f)
	b.size += size
	return acts, nil
}

// finish fills in the open batches' actions.
func (p *packer) finish(acts []action) []action {
	for _, b := range p.open {
		acts[b.at] = b.done()
	}
	clear(p.open)
	return acts
}

// remembered returns the plan's batches by the ids of their Forwards, for
// the Commit after a failed one.
func (p *packer) remembered() map[string]*packed {
	if p.single || len(p.all) == 0 {
		return nil
	}
	m := make(map[string]*packed, len(p.all))
	for _, b := range p.all {
		for _, f := range b.forward {
			m[f.ID] = b
		}
	}
	return m
}

// done builds b's action: one Forward alone as before, several packed.
func (b *packed) done() action {
	if len(b.forward) == 1 {
		b.act = singleForward(b.forward[0])
		return b.act
	}
	h := fnv.New64a()
	data := make([][]byte, len(b.forward))
	for i, f := range b.forward {
		h.Write([]byte(f.ID))
		h.Write([]byte{0})
		data[i] = f.Data
	}
	id := "b." + b.forward[0].ID + "." + strconv.Itoa(len(b.forward)) + "." + strconv.FormatUint(h.Sum64(), 16)
	b.act = action{actForward, b.stem + ".b", session.AppendForwardBatch(appendString(nil, id), data)}
	return b.act
}

func singleForward(f *session.Forwarded) action {
	return action{actForward, f.Subject, append(appendString(nil, f.ID), f.Data...)}
}
