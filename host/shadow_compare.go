package host

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// kinds is the set of what differed between the serving plugin's answer
// and its candidate's. What "agree" means at each point
// (docs/decisions/0028-shadow-plugins.md):
//
//   - authenticate: the verdict (allow, deny, pass, or continue an
//     enhanced-auth exchange); on deny the reason code; on allow the
//     attributes, the principal (empty meaning the username) and the
//     final authentication data; on continue the data sent to the client.
//   - authorize: the verdict; on deny the reason code; the QoS cap when
//     neither denies; whether the answer may be cached.
//   - on-publish: the action; on reject the reason code.
//   - transform: the output, byte for byte: topic, payload, content type
//     and user properties.
//
// Reason strings are prose, not compared: rewording one is no disagreement.
type kinds uint16

const (
	kVerdict kinds = 1 << iota
	kReason
	kAttributes
	kPrincipal
	kAuthData
	kMaxQoS
	kCache
	kAction
	kOutput
	numKinds = iota
)

// kindNames spells each kind as counters and logs do, in bit order.
var kindNames = [numKinds]string{"verdict", "reason", "attributes", "principal", "auth_data", "max_qos", "cache", "action", "output"}

func (k kinds) String() string {
	var parts []string
	for i := range numKinds {
		if k&(1<<i) != 0 {
			parts = append(parts, kindNames[i])
		}
	}
	return strings.Join(parts, ",")
}

// shadowStats are a shadow's counters.
type shadowStats struct {
	since     time.Time
	agreed    atomic.Uint64
	disagreed atomic.Uint64
	errors    atomic.Uint64
	dropped   atomic.Uint64
	byKind    [numKinds]atomic.Uint64
}

// ShadowStats counts what a plugin's shadow saw since it was configured
// (a reload of the candidate keeps the counts; removing the shadow ends
// them). Every event offered is counted once: Agreed + Disagreed + Errors +
// Dropped, plus the events still queued.
type ShadowStats struct {
	// Candidate is the candidate's name: "NAME/shadow".
	Candidate string `json:"candidate"`
	// Since is when the shadow was configured.
	Since time.Time `json:"since"`
	// Agreed counts events both answered alike.
	Agreed uint64 `json:"agreed"`
	// Disagreed counts events answered differently, once each.
	Disagreed uint64 `json:"disagreed"`
	// ByKind counts disagreements by what differed (verdict, reason,
	// attributes, principal, auth_data, max_qos, cache, action, output);
	// one event may count under several.
	ByKind map[string]uint64 `json:"by_kind"`
	// Errors counts candidate calls that failed (a trap, a deadline, an
	// error it returned): never a disagreement, never seen by a client.
	Errors uint64 `json:"errors"`
	// Dropped counts events not compared because the candidate's queue was
	// full (or it was being replaced).
	Dropped uint64 `json:"dropped"`
}

func (s *shadow) snapshotStats() ShadowStats {
	st := s.stats
	out := ShadowStats{Candidate: s.cand.name, Since: st.since, Agreed: st.agreed.Load(), Disagreed: st.disagreed.Load(),
		Errors: st.errors.Load(), Dropped: st.dropped.Load(), ByKind: map[string]uint64{}}
	for i := range numKinds {
		out.ByKind[kindNames[i]] = st.byKind[i].Load()
	}
	return out
}

var eventPoints = [...]string{evAuthenticate: "authenticate", evAuthorize: "authorize", evOnPublish: "on-publish", evTransform: "transform"}

// compared counts the candidate's answer (err, or what diff finds) and logs
// a disagreement or failure with the event, rate-limited. describe is
// called only for a line that is written.
func (s *shadow) compared(ev *shadowEvent, c *hooks.Client, err error, diff func() kinds, describe func() (serving, candidate string)) {
	point := eventPoints[ev.kind]
	if err != nil {
		s.stats.errors.Add(1)
		if line := s.lines.Log(&s.log, zerolog.WarnLevel, point+" error"); line != nil {
			s.withEvent(line, ev, c, point).Err(err).Msg("shadow plugin call failed; counted, never applied")
		}
		return
	}
	k := diff()
	if k == 0 {
		s.stats.agreed.Add(1)
		return
	}
	s.stats.disagreed.Add(1)
	for i := range numKinds {
		if k&(1<<i) != 0 {
			s.stats.byKind[i].Add(1)
		}
	}
	line := s.lines.Log(&s.log, zerolog.WarnLevel, point+" "+k.String())
	if line == nil {
		return
	}
	serving, candidate := describe()
	s.withEvent(line, ev, c, point).Str("differs", k.String()).Str("serving", serving).Str("shadow", candidate).
		Msg("shadow plugin disagrees")
}

// withEvent adds the event to a line: who, and what about. Passwords,
// authentication data and payloads are never logged (their sizes are).
func (s *shadow) withEvent(line *zerolog.Event, ev *shadowEvent, c *hooks.Client, point string) *zerolog.Event {
	line = line.Str("point", point).Str("client_id", c.ID).Str("remote", c.RemoteAddr)
	if c.Username != "" {
		line = line.Str("username", c.Username)
	}
	switch ev.kind {
	case evAuthenticate:
		if ev.auth.Method != "" {
			line = line.Str("auth_method", ev.auth.Method)
		}
	case evAuthorize:
		line = line.Str("action", ev.authz.Action.String()).Str("topic", ev.authz.Topic).Uint8("qos", ev.authz.QoS)
	case evOnPublish:
		line = line.Str("topic", ev.msg.Topic).Int("payload_bytes", len(ev.msg.Payload))
	case evTransform: // ev.msg is the candidate's output by now; the serving one's topic is the event's
		line = line.Str("topic", ev.out.Topic)
	}
	return line
}

func authVerdict(r hooks.AuthResult) string {
	if r.Continue {
		return "continue"
	}
	return r.Verdict.String()
}

// orNotAuthorized reads a deny's zero reason as the hooks do.
func orNotAuthorized(r packets.ReasonCode) packets.ReasonCode {
	if r == 0 {
		return packets.NotAuthorized
	}
	return r
}

func authDiff(a, b hooks.AuthResult, username string) kinds {
	if authVerdict(a) != authVerdict(b) {
		return kVerdict
	}
	var k kinds
	switch {
	case a.Continue:
		if !bytes.Equal(a.Data, b.Data) {
			k |= kAuthData
		}
	case a.Verdict == hooks.Deny:
		if orNotAuthorized(a.Reason) != orNotAuthorized(b.Reason) {
			k |= kReason
		}
	case a.Verdict == hooks.Allow:
		if !maps.Equal(a.Attributes, b.Attributes) {
			k |= kAttributes
		}
		if orUser(a.Principal, username) != orUser(b.Principal, username) {
			k |= kPrincipal
		}
		if !bytes.Equal(a.Data, b.Data) {
			k |= kAuthData
		}
	}
	return k
}

func orUser(principal, username string) string {
	if principal == "" {
		return username
	}
	return principal
}

// qosCap is the QoS an authorize answer lets through.
func qosCap(r hooks.AuthzResult) byte {
	if r.LowerQoS {
		return r.QoS
	}
	return 2
}

func authzDiff(a, b hooks.AuthzResult) kinds {
	var k kinds
	switch {
	case a.Verdict != b.Verdict:
		k |= kVerdict
	case a.Verdict == hooks.Deny:
		if orNotAuthorized(a.Reason) != orNotAuthorized(b.Reason) {
			k |= kReason
		}
	case qosCap(a) != qosCap(b):
		k |= kMaxQoS
	}
	if a.Cache != b.Cache {
		k |= kCache
	}
	return k
}

func publishDiff(a, b hooks.PublishResult) kinds {
	switch {
	case a.Action != b.Action:
		return kAction
	case a.Action == hooks.Reject && a.Reason != b.Reason:
		return kReason
	}
	return 0
}

func transformDiff(a, b *packets.Publish) kinds {
	ct := func(m *packets.Publish) (bool, string) {
		return m.Properties.Has(packets.PropContentType), m.Properties.ContentType
	}
	ha, ca := ct(a)
	hb, cb := ct(b)
	if a.Topic != b.Topic || !bytes.Equal(a.Payload, b.Payload) || ha != hb || ca != cb ||
		!slices.Equal(a.Properties.User, b.Properties.User) {
		return kOutput
	}
	return 0
}

func describeReason(r packets.ReasonCode, why string) string {
	s := fmt.Sprintf("%#02x %s", byte(r), r)
	if why != "" {
		s += ": " + why
	}
	return s
}

func describeAuth(r hooks.AuthResult) string {
	switch {
	case r.Continue:
		return fmt.Sprintf("continue (%d bytes of auth data)", len(r.Data))
	case r.Verdict == hooks.Deny:
		return "deny " + describeReason(orNotAuthorized(r.Reason), r.ReasonString)
	case r.Verdict == hooks.Pass:
		return "pass"
	}
	s := "allow"
	if r.Principal != "" {
		s += " principal=" + r.Principal
	}
	if len(r.Attributes) > 0 {
		keys := slices.Sorted(maps.Keys(r.Attributes))
		for i, k := range keys {
			keys[i] = k + "=" + r.Attributes[k]
		}
		s += " attributes={" + strings.Join(keys, ",") + "}"
	}
	if r.Data != nil {
		s += fmt.Sprintf(" (%d bytes of auth data)", len(r.Data))
	}
	return s
}

func describeAuthz(r hooks.AuthzResult) string {
	s := r.Verdict.String()
	if r.Verdict == hooks.Deny {
		s += " " + describeReason(orNotAuthorized(r.Reason), r.ReasonString)
	}
	if r.LowerQoS {
		s += fmt.Sprintf(" max_qos=%d", r.QoS)
	}
	if r.Cache {
		s += " cacheable"
	}
	return s
}

func describePublish(r hooks.PublishResult) string {
	s := [...]string{"continue", "drop", "reject"}[r.Action]
	if r.Action == hooks.Reject {
		s += " " + describeReason(r.Reason, r.ReasonString)
	}
	return s
}

// describeMessage says what a transform left, its payload by size only.
func describeMessage(m *packets.Publish) string {
	s := fmt.Sprintf("topic=%s payload=%d bytes", m.Topic, len(m.Payload))
	if m.Properties.Has(packets.PropContentType) {
		s += " content_type=" + m.Properties.ContentType
	}
	if n := len(m.Properties.User); n > 0 {
		s += fmt.Sprintf(" user_properties=%d", n)
	}
	return s
}

// Copies that share no memory with the broker's buffers: its strings may
// alias a packet (core/packets decodes them in place).

func cloneString(s string) string { return strings.Clone(s) }

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

func cloneProps(ps []packets.UserProperty) []packets.UserProperty {
	if ps == nil {
		return nil
	}
	out := make([]packets.UserProperty, len(ps))
	for i, p := range ps {
		out[i] = packets.UserProperty{Key: strings.Clone(p.Key), Value: strings.Clone(p.Value)}
	}
	return out
}

func cloneClient(c *hooks.Client) *hooks.Client {
	cp := *c
	for _, s := range []*string{&cp.ID, &cp.Username, &cp.RemoteAddr, &cp.Listener, &cp.Principal} {
		*s = strings.Clone(*s)
	}
	if c.Creds != nil {
		cr := *c.Creds
		cr.Password = cloneBytes(cr.Password)
		cr.CertSubject, cr.CertFingerprint = strings.Clone(cr.CertSubject), strings.Clone(cr.CertFingerprint)
		if cr.CertSANs != nil {
			cr.CertSANs = make([]string, len(c.Creds.CertSANs))
			for i, s := range c.Creds.CertSANs {
				cr.CertSANs[i] = strings.Clone(s)
			}
		}
		cr.UserProperties = cloneProps(c.Creds.UserProperties)
		cp.Creds = &cr
	}
	if c.Attributes != nil {
		cp.Attributes = make(map[string]string, len(c.Attributes))
		for k, v := range c.Attributes {
			cp.Attributes[strings.Clone(k)] = strings.Clone(v)
		}
	}
	return &cp
}

// clonePublish copies what plugins see of a message: topic, payload, QoS,
// flags, packet id, content type and user properties.
func clonePublish(m *packets.Publish) packets.Publish {
	cp := packets.Publish{Dup: m.Dup, QoS: m.QoS, Retain: m.Retain, PacketID: m.PacketID,
		Topic: strings.Clone(m.Topic), Payload: cloneBytes(m.Payload)}
	if m.Properties.Has(packets.PropContentType) {
		cp.Properties.ContentType = strings.Clone(m.Properties.ContentType)
		cp.Properties.Set(packets.PropContentType)
	}
	cp.Properties.User = cloneProps(m.Properties.User)
	return cp
}
