// Command probe exercises every field and result of the ABI, so that the host
// tests can check each crossing of the boundary.
package main

import (
	"errors"
	"strconv"
	"strings"

	plume "github.com/plumemq/plume/plugin-sdk/go"
)

func init() {
	plume.OnInit(func(cfg []byte) error {
		if string(cfg) == "refuse" {
			return errors.New("config says refuse")
		}
		return nil
	})
	plume.OnAuthenticate(func(e *plume.AuthEvent) plume.Decision {
		c := e.Client
		switch c.Username() {
		case "":
			return plume.Pass()
		case "multi":
			if e.Step == plume.StepConnect {
				return plume.ContinueAuth([]byte("challenge:" + e.Method()))
			}
			if string(e.Data()) == "response" {
				return plume.Allow()
			}
			return plume.Deny(plume.BadAuthenticationMethod, "wrong response")
		}
		if string(c.Password()) != c.Username()+"-pw" {
			return plume.Deny(plume.BadUsernameOrPassword, "bad password for "+c.Username())
		}
		d := plume.Allow().
			WithAttribute("role", "user").
			WithAttribute("seen", strings.Join([]string{
				c.ID(), c.RemoteAddr(), c.Listener(), c.CertSubject(), pairs(c.CertSANs()), c.CertFingerprint(),
				strconv.Itoa(int(c.ProtocolVersion())), pairs(c.UserProperties()),
			}, "|"))
		if c.Username() == "alias" {
			d = d.WithPrincipal("alice") // a second credential of alice's
		}
		return d
	})
	plume.OnAuthorize(func(e *plume.AuthzEvent) plume.Decision {
		t := e.Topic()
		switch {
		case strings.HasPrefix(t, "forbidden/"):
			return plume.Deny(plume.NotAuthorized, "no access to "+t)
		case strings.HasPrefix(t, "cached/"):
			return plume.Allow().Cacheable()
		case strings.HasPrefix(t, "slow/"):
			return plume.Pass().WithMaxQoS(0)
		case strings.HasPrefix(t, "role/"):
			if r, _ := e.Client.Attribute("role"); "role/"+r == t {
				return plume.Allow()
			}
			return plume.Deny(plume.NotAuthorized, "role mismatch")
		case t == "principal":
			p, ok := e.Client.Principal()
			if !ok {
				p = "<absent>"
			}
			return plume.Deny(plume.NotAuthorized, p)
		case strings.HasPrefix(t, "count/"):
			n := plume.KVAdd("count", 1)
			return plume.Deny(plume.QuotaExceeded, strconv.FormatInt(n, 10))
		case t == "state/set":
			e.Client.SetState([]byte("remembered"))
			return plume.Allow()
		case t == "state/get":
			return plume.Deny(plume.NotAuthorized, string(e.Client.State()))
		case t == "kv/set":
			plume.KVSet("k", []byte("v1"))
			return plume.Allow()
		case t == "kv/get":
			v, ok := plume.KVGet("k")
			return plume.Deny(plume.NotAuthorized, string(v)+strconv.FormatBool(ok))
		case t == "config":
			return plume.Deny(plume.NotAuthorized, string(plume.Config()))
		case t == "now":
			plume.Log(plume.LevelInfo, "now asked")
			return plume.Deny(plume.NotAuthorized, strconv.FormatInt(plume.Now().Unix(), 10))
		}
		if e.Action == plume.Subscribe {
			return plume.Allow().WithMaxQoS(1)
		}
		return plume.Allow()
	})
	plume.OnConnect(func(c plume.Client) {
		plume.Log(plume.LevelInfo, "connected "+c.ID())
		c.SetState([]byte("from-connect"))
	})
	plume.OnDisconnect(func(c plume.Client, reason plume.ReasonCode) {
		plume.Log(plume.LevelWarn, "disconnected "+c.ID()+" reason "+strconv.Itoa(int(reason))+" state "+string(c.State()))
	})
	plume.Filters("msg/#", "other/+")
	plume.OnPublish(func(m *plume.Message) plume.PublishDecision {
		switch m.Topic() {
		case "msg/drop":
			return plume.Drop()
		case "msg/reject":
			return plume.Reject(plume.PayloadFormatInvalid, "rejected "+string(m.Payload()))
		}
		return plume.Deliver()
	})
	plume.OnTransform(func(m *plume.Message) error {
		if m.Topic() == "msg/fail" {
			return errors.New("transform refused")
		}
		ct, _ := m.ContentType()
		m.SetTopic("out/" + m.Topic())
		m.SetPayload([]byte(strings.ToUpper(string(m.Payload())) + "|" + ct))
		m.SetContentType("text/plain")
		m.SetUserProperties(append(m.UserProperties(), plume.Pair{Key: "client", Value: m.Client.ID()}))
		return nil
	})
}

func pairs(ps []plume.Pair) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(p.Key + "=" + p.Value + ";")
	}
	return b.String()
}

func main() {}
