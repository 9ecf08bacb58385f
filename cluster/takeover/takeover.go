package takeover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cluster/subject"
	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/session"
)

// Config is what a Mover needs.
type Config struct {
	Conn    *nats.Conn // the node's connection
	Prefix  string     // subject prefix; "" is "plume"
	Node    string     // this node's name, as the store writes it
	Store   Store
	Ingest  Log     // nil: NoLog
	Members Members // nil: every other node is asked (no responders: gone)
	Log     zerolog.Logger
	// AskTimeout bounds the wait for the owner to let go; 0 is 5 s. An
	// owner that does not answer in time is taken as cut off: its session
	// is taken from the store as it is, and fencing stops its late writes.
	AskTimeout time.Duration
	// AdoptAfter is how long a node must be down before a survivor adopts
	// its sessions; 0 is 10 s, negative disables adoption.
	AdoptAfter time.Duration
}

// claimTries bounds Acquire's fetch-and-claim rounds when other nodes keep
// winning the race for the client.
const claimTries = 8

// Mover moves sessions between this node and the others (decision 0056).
type Mover struct {
	cfg  Config
	b    Broker
	sub  *nats.Subscription
	quit chan struct{}
	wg   sync.WaitGroup
	// unplaced: sessions claimed here whose install never came (unplaced.go).
	unplaced unplaced
}

var _ broker.Takeover = (*Mover)(nil)

// New makes a Mover; Start connects it to the broker.
func New(cfg Config) (*Mover, error) {
	if cfg.Conn == nil || cfg.Store == nil || cfg.Node == "" {
		return nil, errors.New("takeover: a connection, a store and a node name are needed")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "plume"
	}
	if cfg.Ingest == nil {
		cfg.Ingest = NoLog{}
	}
	if cfg.AskTimeout <= 0 {
		cfg.AskTimeout = 5 * time.Second
	}
	if cfg.AdoptAfter == 0 {
		cfg.AdoptAfter = 10 * time.Second
	}
	return &Mover{cfg: cfg, quit: make(chan struct{})}, nil
}

// subjectOf is the subject on which node answers let-go requests.
func (m *Mover) subjectOf(node string) string {
	return m.cfg.Prefix + ".own." + subject.Token(node)
}

// letGo asks a node to let go of a session; letGoReply is its answer.
type letGo struct {
	Client string `json:"client"`
	End    bool   `json:"end,omitempty"` // Clean Start: end it there
	From   string `json:"from"`          // the asking node, for the log
}

type letGoReply struct {
	Had       bool      `json:"had"`
	Positions Positions `json:"positions,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// Start answers other nodes' let-go requests with b, and, with membership,
// adopts the sessions of nodes that left. b must not take sessions from
// clients before Start: Acquire needs no Start, but answering does.
func (m *Mover) Start(b Broker) error {
	m.b = b
	sub, err := m.cfg.Conn.Subscribe(m.subjectOf(m.cfg.Node), m.answer)
	if err != nil {
		return fmt.Errorf("takeover: subscribe: %w", err)
	}
	if err := m.cfg.Conn.Flush(); err != nil {
		return fmt.Errorf("takeover: subscribe: %w", err)
	}
	m.sub = sub
	m.wg.Add(1)
	go m.sweep()
	if m.cfg.Members != nil && m.cfg.AdoptAfter > 0 {
		m.wg.Add(1)
		go m.watch()
	}
	return nil
}

// Close stops answering and adopting.
func (m *Mover) Close() error {
	select {
	case <-m.quit:
		return nil
	default:
	}
	close(m.quit)
	var err error
	if m.sub != nil {
		err = m.sub.Unsubscribe()
	}
	m.wg.Wait()
	if err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		return fmt.Errorf("takeover: %w", err)
	}
	return nil
}

// answer lets go of a session another node takes over, on a goroutine of
// its own: closing the connection and committing may take a while.
func (m *Mover) answer(msg *nats.Msg) {
	var req letGo
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		m.cfg.Log.Warn().Err(err).Msg("takeover: bad let-go request")
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), m.cfg.AskTimeout)
		defer cancel()
		// A catch-up of this client running here ends first: installed,
		// the session is let go below; failed, it is unplaced.
		m.unplaced.settle(ctx, req.Client)
		// Read where the session leaves the router, with nothing routed
		// meanwhile (Release's cut): what was routed before is the
		// session's, what is routed after is in the new owner's range.
		var rep letGoReply
		had, err := m.b.Release(ctx, req.Client, req.End, func() []byte {
			rep.Positions = m.cfg.Ingest.Positions()
			carried, err := carry(rep.Positions)
			if err != nil {
				m.cfg.Log.Warn().Err(err).Str("client_id", req.Client).Msg("takeover: the cut is not stored with the session")
			}
			return carried // kept in the store until the next owner caught the session up
		})
		if p, ok := m.unplaced.take(req.Client); ok && !had && err == nil && !req.End {
			// Claimed here, never installed: the state and its positions
			// are the old owner's. (An end leaves it to the asking node,
			// which deletes the store's copy.)
			rep.Positions, had = p, true
		}
		rep.Had = had
		if err != nil {
			rep.Error = err.Error()
		}
		m.cfg.Log.Info().Str("client_id", req.Client).Str("to", req.From).Bool("had", had).Bool("end", req.End).
			AnErr("error", err).Msg("takeover: session let go to another node")
		data, _ := json.Marshal(rep)
		if err := msg.Respond(data); err != nil {
			m.cfg.Log.Warn().Err(err).Str("client_id", req.Client).Msg("takeover: let-go answer not sent")
		}
	}()
}

// Acquire brings the cluster's session of client to this node
// (broker.Takeover).
func (m *Mover) Acquire(ctx context.Context, client string, cleanStart, keep bool) (broker.Acquired, error) {
	finished := false // fetchFinished ran
	for try := 0; try < claimTries; try++ {
		if try > 0 {
			// Another node is between its claim and its first write of
			// the session: give it that moment.
			select {
			case <-time.After(time.Duration(try) * 20 * time.Millisecond):
			case <-ctx.Done():
				return broker.Acquired{}, ctx.Err()
			}
		}
		h, err := m.cfg.Store.Fetch(ctx, client)
		if errors.Is(err, ErrNoSession) && !cleanStart && keep && !finished {
			// A dead node's move of the session may be half applied: its
			// DeleteSession's tombstone written, not its PutSession.
			finished = true
			h, err = m.fetchFinished(ctx, client)
		}
		if errors.Is(err, ErrNoSession) {
			fresh, cerr := m.claimFresh(ctx, client, cleanStart || !keep)
			if fresh && !cleanStart && keep {
				// A new client, or one whose session ended, expired or
				// was lost: the store says which (a tombstone names its
				// writer), for an operator asking why a device resumed
				// nothing.
				m.cfg.Log.Info().Str("client_id", client).AnErr("store", err).Msg("takeover: no session in the store; a new one starts here")
			}
			if cerr != nil || fresh {
				return broker.Acquired{}, cerr
			}
			continue // created elsewhere meanwhile
		}
		if err != nil {
			return broker.Acquired{}, fmt.Errorf("fetch: %w", err)
		}
		owner := h.Node
		down := owner != m.cfg.Node && !m.alive(owner)
		from, asked, err := m.letGoOf(ctx, owner, client, cleanStart)
		if err != nil {
			return broker.Acquired{}, err
		}
		if asked && cleanStart {
			return broker.Acquired{}, nil // the owner ended it
		}
		if asked {
			// Read again: the owner committed the session's last state.
			if h, err = m.cfg.Store.Fetch(ctx, client); errors.Is(err, ErrNoSession) {
				continue
			} else if err != nil {
				return broker.Acquired{}, fmt.Errorf("fetch after let-go: %w", err)
			}
			if h.Node != owner {
				continue // claimed by another node meanwhile: that one is asked next
			}
		} else if p, ok := m.unplacedOf(client, h.Node); ok {
			from = p // claimed here before, never installed: the old owner's positions
		} else {
			// The owner died or is silent: its last Commit may be logged
			// and half applied (a QoS 2 publisher's Forward written, its
			// inbound id not): finish it, then read the session again. Not
			// that of an owner that is up (it answered without the
			// session, or is slow): it applies its commits itself, and
			// goes on to the next ones, which a replay here landing late
			// would undo (TestFaultKill9 seed 1796102688678920922: a
			// completed QoS 2 delivery put back in its PUBLISH state, and
			// sent again by the next owner).
			if !m.knownUp(owner) {
				if err := m.cfg.Store.FinishCommitsOf(ctx, h.Node); err != nil {
					return broker.Acquired{}, fmt.Errorf("finish the commits of %q: %w", h.Node, err)
				}
			}
			if h, err = m.cfg.Store.Fetch(ctx, client); errors.Is(err, ErrNoSession) {
				continue
			} else if err != nil {
				return broker.Acquired{}, fmt.Errorf("fetch after finishing %q's commits: %w", owner, err)
			}
			if h.Node != owner {
				// Another node claimed it meanwhile (two CONNECTs racing
				// for a dead or letting-go owner's session): claiming at
				// that node's revision would take the session from it
				// unasked, and both would serve the client. Ask it instead.
				continue
			}
			if from, err = m.startOf(ctx, &h.Record, owner); err != nil {
				return broker.Acquired{}, err
			}
		}
		if from.Shards != nil {
			wctx, cancel := beforeClaim(ctx)
			from, err = m.cfg.Ingest.AwaitPositions(wctx, from)
			cancel()
			if err != nil {
				return broker.Acquired{}, fmt.Errorf("route up to %q's positions and the ingest's end: %w", h.Node, err)
			}
		}
		if down && m.knownUp(owner) {
			// The owner came back while this move waited for the ingest:
			// its new process may have loaded the session and routed its
			// own messages into it. Ask it (ask).
			continue
		}
		carried, err := carry(from)
		if err != nil {
			return broker.Acquired{}, fmt.Errorf("claim: %w", err)
		}
		if _, err := m.cfg.Store.Claim(ctx, client, h.Revision, carried); errors.Is(err, ErrFenced) {
			continue // another node was faster, or the owner wrote again
		} else if err != nil {
			return broker.Acquired{}, fmt.Errorf("claim: %w", err)
		}
		rec := h.Record
		rec.Carried = carried // kept in the store until the catch-up is committed
		if cleanStart {
			return broker.Acquired{Discard: true, Record: &rec}, nil
		}
		return broker.Acquired{Record: &rec, CatchUp: m.claimed(ctx, client, from)}, nil
	}
	return broker.Acquired{}, fmt.Errorf("claim of %q: lost the race %d times", client, claimTries)
}

// Owns reports whether the store still gives client's session to this
// node, which holds a copy of it (broker.Takeover). kept says whether that
// copy is one the store keeps: a session that ends with its connection is
// never stored, and is this node's while the store has none. A copy the
// store gives to another node is stale: this node loaded it at its start
// and another node took it before this node answered let-go requests, or
// another node took it from the store while this node was silent. Resumed,
// it would serve the client its old queue until its first write was
// fenced (TestFaultKill9 seed 1796074893220585896).
func (m *Mover) Owns(ctx context.Context, client string, kept bool) (bool, error) {
	owner, err := m.cfg.Store.Owner(ctx, client)
	if errors.Is(err, ErrNoSession) {
		return !kept, nil
	}
	if err != nil {
		return false, fmt.Errorf("owner of %q: %w", client, err)
	}
	return owner == m.cfg.Node, nil
}

// claimed notes client's session claimed here, carrying from, and returns
// its catch-up: until that installs it, the session is unplaced (a let-go
// answers with from, a retry here catches up from it).
func (m *Mover) claimed(ctx context.Context, client string, from Positions) func(install func() []string, deliver func(*session.Message, bool)) error {
	ingest := m.cfg.Ingest
	m.unplaced.claimed(client, from)
	return func(install func() []string, deliver func(*session.Message, bool)) error {
		done, ok := m.unplaced.begin(client)
		if !ok {
			return fmt.Errorf("claim of %q: another node took it before the catch-up", client)
		}
		defer done()
		return ingest.CatchUp(ctx, from, func() []string {
			m.unplaced.placed(client)
			return install()
		}, deliver)
	}
}

// catchUpReserve is the part of a move's deadline kept for what follows
// its claim: the catch-up, whose range is read after the install (a
// JetStream request is 5 s by default). A wait before the claim that
// leaves less refuses the move with nothing claimed; one that used the
// whole deadline left the catch-up to fail after the claim (the session
// claimed, never installed) or after the install (installed without the
// rest of its range).
const catchUpReserve = 5 * time.Second

// beforeClaim is ctx less the catch-up's reserve.
func beforeClaim(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, d.Add(-catchUpReserve))
	}
	return context.WithCancel(ctx)
}

// carry encodes the positions a session carries (Record.Carried); nil
// when they are unknown (no ingest): there is nothing to catch up.
func carry(p Positions) ([]byte, error) {
	if p.Shards == nil {
		return nil, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("positions %v: %w", p, err)
	}
	return b, nil
}

// startOf is where the catch-up of rec, a session owner does not hand
// over (dead, silent, or it never installed it), starts: the positions the
// session still carries when a node claimed it and never committed its
// catch-up — that node died or restarted meanwhile (Record.Carried) — or
// else the owner's last committed positions.
func (m *Mover) startOf(ctx context.Context, rec *session.Record, owner string) (Positions, error) {
	if rec.Carried != nil {
		var p Positions
		if err := json.Unmarshal(rec.Carried, &p); err != nil {
			return Positions{}, fmt.Errorf("the positions %q's session carries: %w", rec.ID, err)
		}
		return p, nil
	}
	p, err := m.cfg.Ingest.PositionsOf(ctx, owner)
	if err != nil {
		return Positions{}, fmt.Errorf("positions of %q: %w", owner, err)
	}
	return p, nil
}

// fetchFinished finishes the last commit of every node down in membership
// and fetches client's session again. A node that dies in the middle of
// applying a move (journal.Adopt: the DeleteSession's tombstone, then the
// PutSession) leaves the key deleted until its restart or another node
// finishes the commit: a CONNECT in between found no session and created a
// fresh one, and the dead node's copy — with its inbound QoS 2 ids — was
// lost for good (TestFaultKill9 seed 1796065786490223062: p2q2 resumed
// without its session, its resent QoS 2 message accepted three times).
// It returns ErrNoSession when there is still none: a session that ended.
func (m *Mover) fetchFinished(ctx context.Context, client string) (Held, error) {
	if m.cfg.Members == nil {
		return Held{}, fmt.Errorf("%q: %w", client, ErrNoSession) // without membership no node is known down
	}
	finished := false
	for _, mem := range m.cfg.Members.Members() {
		if mem.Up || mem.Name == m.cfg.Node {
			continue
		}
		if err := m.cfg.Store.FinishCommitsOf(ctx, mem.Name); err != nil {
			return Held{}, fmt.Errorf("finish the commits of %q: %w", mem.Name, err)
		}
		finished = true
	}
	if !finished {
		return Held{}, fmt.Errorf("%q: %w", client, ErrNoSession)
	}
	return m.cfg.Store.Fetch(ctx, client)
}

// claimFresh makes a new persistent session's client id this node's in the
// store (Claim at revision 0), so that two nodes cannot both create one:
// the loser fetches again and takes the winner's over. It reports false
// when another node has the key. skip (a Clean Start, which resumes
// nothing, or a session that ends with its connection, which the store
// never keeps and would leave a key behind) claims nothing.
func (m *Mover) claimFresh(ctx context.Context, client string, skip bool) (bool, error) {
	if skip {
		return true, nil
	}
	if _, err := m.cfg.Store.Claim(ctx, client, 0, nil); errors.Is(err, ErrFenced) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("claim of a new session: %w", err)
	}
	return true, nil
}

// letGoOf asks owner to let go of client. It reports false when it got no
// answer that counts (the owner is this node, not alive, silent, or had no
// session): the caller then takes the session from the store as it is.
// It fails (ErrNotLetGo) when the owner let go of the session without its
// last state committed.
func (m *Mover) letGoOf(ctx context.Context, owner, client string, end bool) (Positions, bool, error) {
	if owner == m.cfg.Node || !m.alive(owner) {
		return Positions{}, false, nil
	}
	data, _ := json.Marshal(letGo{Client: client, End: end, From: m.cfg.Node})
	actx, cancel := context.WithTimeout(ctx, m.cfg.AskTimeout)
	defer cancel()
	msg, err := m.ask(actx, owner, data)
	if errors.Is(err, ErrOwnerStarting) {
		return Positions{}, false, err
	}
	if err != nil {
		m.cfg.Log.Warn().Err(err).Str("client_id", client).Str("owner", owner).
			Msg("takeover: the owner did not let go; taking the session from the store")
		return Positions{}, false, nil
	}
	var rep letGoReply
	err = json.Unmarshal(msg.Data, &rep)
	if err == nil && rep.Had && rep.Error != "" {
		// The owner let go of the session, but its last state — what the
		// session had, and the cut it carries — is not in the store yet
		// (or its connection did not close): the store's copy is behind
		// the session, and a catch-up from the owner's committed
		// positions would skip what the owner accepted after the cut
		// (TestFaultKill9 seed 1796090657374635515). The client tries
		// again; by then the store has it.
		return Positions{}, false, fmt.Errorf("%w: %q let go of the session but: %s", ErrNotLetGo, owner, rep.Error)
	}
	if err != nil || rep.Error != "" || !rep.Had {
		m.cfg.Log.Warn().AnErr("error", err).Str("owner_error", rep.Error).Bool("had", rep.Had).
			Str("client_id", client).Str("owner", owner).Msg("takeover: the owner's answer; taking the session from the store")
		return Positions{}, false, nil
	}
	return rep.Positions, true, nil
}

// ask sends a let-go request to owner. A node that membership lists up
// with nobody on its let-go subject is starting — its NATS server joined
// the cluster before its broker loaded the sessions the store names it the
// owner of and began to answer — or stopping. It is asked again until it
// answers or ctx ends (ErrOwnerStarting), not taken for dead: a restarted
// owner that loaded the session routes its own messages into it
// meanwhile, and a move from the store would skip them as messages the
// session had (TestFaultKill9 seed 1796101714686182431: s3 lost 69).
func (m *Mover) ask(ctx context.Context, owner string, data []byte) (*nats.Msg, error) {
	for {
		msg, err := m.cfg.Conn.RequestWithContext(ctx, m.subjectOf(owner), data)
		if !errors.Is(err, nats.ErrNoResponders) || !m.knownUp(owner) {
			return msg, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %q", ErrOwnerStarting, owner)
		case <-time.After(askAgain):
		}
	}
}

// askAgain is how often a node that is up and not answering yet is asked.
const askAgain = 50 * time.Millisecond

// ErrOwnerStarting is Acquire's error when the session's owner is up and
// did not begin to answer in time: the CONNECT is refused, to be tried
// again.
var ErrOwnerStarting = errors.New("takeover: the owner is up and does not answer yet")

// ErrNotLetGo is Acquire's error when the session's owner let go of it
// without its last state committed: the CONNECT is refused, to be tried
// again.
var ErrNotLetGo = errors.New("takeover: the owner let go of the session without committing it")

// unplacedOf returns the positions of client's session when this node,
// owner, claimed it and never installed it.
func (m *Mover) unplacedOf(client, owner string) (Positions, bool) {
	if owner != m.cfg.Node {
		return Positions{}, false
	}
	return m.unplaced.peek(client)
}

// knownUp says whether membership lists node as up: false without
// membership, where alive takes every node for up so as to ask it.
func (m *Mover) knownUp(node string) bool { return m.cfg.Members != nil && m.alive(node) }

// alive says whether membership lists node as up; without membership
// every node is asked.
func (m *Mover) alive(node string) bool {
	if m.cfg.Members == nil {
		return true
	}
	for _, mem := range m.cfg.Members.Members() {
		if mem.Name == node {
			return mem.Up
		}
	}
	return false
}
