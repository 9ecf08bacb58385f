package conformance

import (
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// Section 3.1 CONNECT: what a broker must refuse, and what it must accept.

func malformedConnect(t *T, edit func(c *wire.Connect)) []byte {
	cp := t.ConnectPacket("m")
	edit(&cp)
	return cp.Encode()
}

var connectCases = []Case{
	{Name: "FirstPacketMustBeConnect", V5: []string{"3.1.0-1"}, V4: []string{"3.1.0-1"}, Run: func(t *T) {
		connectRefused(t, wire.Publish{Topic: t.Topic("x"), Payload: []byte("x")}.Encode(t.V), "PUBLISH before CONNECT")
	}},
	{Name: "SecondConnectIsProtocolError", V5: []string{"3.1.0-2", "3.2.0-2"}, V4: []string{"3.1.0-2"}, Run: func(t *T) {
		seen := refuses(t, true, t.ConnectPacket("c").Encode(), "second CONNECT")
		for _, p := range seen {
			t.Check(p.Type != wire.CONNACK, "second CONNACK on one connection: %v", p)
		}
	}},
	{Name: "WrongProtocolNameNotAccepted", V5: []string{"3.1.2-1"}, V4: []string{"3.1.2-1"}, Run: func(t *T) {
		b := malformedConnect(t, func(c *wire.Connect) { c.ProtoName = "MQTX" })
		if t.V >= 5 {
			connectRefused(t, b, "protocol name MQTX")
			return
		}
		// 3.1.1 lets the broker go on under another specification, but never
		// as MQTT 3.1.1.
		c := t.Dial()
		c.Send(b)
		p, err := c.TryNext(t.Wait(closeWait))
		if err == nil && p.Type == wire.CONNACK {
			t.Check(p.ReasonCode != 0, "CONNACK 0x00 for protocol name MQTX")
		}
	}},
	{Name: "UnsupportedProtocolVersionRefused", V5: []string{"3.1.2-2", "3.2.2-6", "3.2.2-7", "3.2.2-8", "4.13.2-1"},
		V4: []string{"3.1.2-2", "3.2.2-4", "3.2.2-5"}, Run: func(t *T) {
			b := malformedConnect(t, func(c *wire.Connect) { c.Version = 6 })
			t.oldConnackOK = true
			seen := connectRefused(t, b, "protocol version 6")
			if t.V == 4 {
				t.Check(len(seen) > 0 && seen[0].Type == wire.CONNACK && seen[0].ReasonCode == 0x01,
					"want CONNACK 0x01 (unacceptable protocol version) before the close, got %v", seen)
			}
		}},
	{Name: "ReservedConnectFlagRefused", V5: []string{"3.1.2-3", "4.13.1-1"}, V4: []string{"3.1.2-3", "4.8.0-1"}, Run: func(t *T) {
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) { c.FlagsXOR = 0x01 }), "reserved connect flag set")
	}},
	{Name: "WillQoSWithoutWillFlagRefused", V5: []string{"3.1.2-11"}, V4: []string{"3.1.2-11", "3.1.2-13"}, Run: func(t *T) {
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) { c.FlagsXOR = 0x08 }), "will QoS 1 without will flag")
	}},
	{Name: "WillQoS3Refused", V5: []string{"3.1.2-12"}, V4: []string{"3.1.2-14"}, Run: func(t *T) {
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) {
			c.Will = &wire.Will{Topic: t.Topic("w"), Payload: []byte("w"), QoS: 3}
		}), "will QoS 3")
	}},
	{Name: "WillRetainWithoutWillFlagRefused", V5: []string{"3.1.2-13"}, V4: []string{"3.1.2-15"}, Run: func(t *T) {
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) { c.FlagsXOR = 0x20 }), "will retain without will flag")
	}},
	{Name: "WillFlagWithoutWillFieldsRefused", V5: []string{"3.1.2-9"}, V4: []string{"3.1.2-9"}, Run: func(t *T) {
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) { c.FlagsXOR = 0x04 }), "will flag without will topic and payload")
	}},
	{Name: "UsernameFlagWithoutUsernameRefused", V5: []string{"3.1.2-17"}, V4: []string{"3.1.2-19"}, Run: func(t *T) {
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) { c.FlagsXOR = 0x80 }), "user name flag without user name")
	}},
	{Name: "UsernameWithoutFlagRefused", V5: []string{"3.1.2-16"}, V4: []string{"3.1.2-18"}, Run: func(t *T) {
		u := "user"
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) { c.Username = &u; c.FlagsXOR = 0x80 }), "user name without user name flag")
	}},
	{Name: "PasswordFlagWithoutPasswordRefused", V5: []string{"3.1.2-19"}, V4: []string{"3.1.2-21"}, Run: func(t *T) {
		u := "user"
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) { c.Username = &u; c.FlagsXOR = 0x40 }), "password flag without password")
	}},
	{Name: "PasswordWithoutFlagRefused", V5: []string{"3.1.2-18"}, V4: []string{"3.1.2-20"}, Run: func(t *T) {
		u := "user"
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) {
			c.Username, c.Password, c.FlagsXOR = &u, []byte("pw"), 0x40
		}), "password without password flag")
	}},
	{Name: "PasswordWithoutUsernameRefused", V4: []string{"3.1.2-22"}, Run: func(t *T) {
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) { c.Username, c.Password = nil, []byte("pw") }), "password flag without user name flag")
	}},
	{Name: "MissingClientIDRefused", V5: []string{"3.1.3-3"}, V4: []string{"3.1.3-3"}, Run: func(t *T) {
		full := t.ConnectPacket("m").Encode()
		// Cut the payload (the client id) off and fix the remaining length.
		head := 10
		if t.V >= 5 {
			head = 11 // one byte of property length 0
		}
		body := full[2 : 2+head]
		connectRefused(t, wire.Frame(full[0], body), "CONNECT without client identifier")
	}},
	{Name: "MalformedConnectRefused", V5: []string{"3.1.4-1"}, V4: []string{"3.1.4-1"}, Run: func(t *T) {
		full := t.ConnectPacket("m").Encode()
		body := append([]byte(nil), full[2:]...)
		head := 10
		if t.V >= 5 {
			head = 11
		}
		// The client id's length prefix claims more bytes than the packet has.
		body[head+1] += 40
		connectRefused(t, wire.Frame(full[0], body), "client id length beyond the packet")
	}},
	{Name: "IllFormedUTF8ClientIDRefused", V5: []string{"3.1.3-4", "1.5.4-1"}, V4: []string{"3.1.3-4", "1.5.3-1"}, Run: func(t *T) {
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) { c.ClientID = "ab\xff\xfecd" }), "ill-formed UTF-8 client id")
	}},
	{Name: "NullCharacterInClientIDRefused", V5: []string{"1.5.4-2"}, V4: []string{"1.5.3-2"}, Run: func(t *T) {
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) { c.ClientID = "ab\x00cd" }), "client id with U+0000")
	}},
	{Name: "IllFormedUTF8WillTopicRefused", V5: []string{"3.1.3-11"}, V4: []string{"3.1.3-10"}, Run: func(t *T) {
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) {
			c.Will = &wire.Will{Topic: t.Topic("w\xc0\xafx"), Payload: []byte("w")}
		}), "ill-formed UTF-8 will topic")
	}},
	{Name: "IllFormedUTF8UsernameRefused", V5: []string{"3.1.3-12"}, V4: []string{"3.1.3-11"}, Run: func(t *T) {
		u := "us\xed\xa0\x80er" // an encoded surrogate, U+D800
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) { c.Username = &u; c.Password = []byte("x") }), "ill-formed UTF-8 user name")
	}},
	{Name: "ClientIDOf23AllowedCharactersAccepted", V5: []string{"3.1.3-5", "3.1.4-5"}, V4: []string{"3.1.3-5", "3.1.4-4"}, Run: func(t *T) {
		cp := t.ConnectPacket("")
		cp.ClientID = (t.tag + "0123456789abcdeXYZ")[:23]
		_, ack := t.Connect(cp)
		t.Check(ack.ReasonCode == 0, "CONNACK code 0x%02x", ack.ReasonCode)
	}},
	{Name: "EmptyClientIDGetsUniqueID", V5: []string{"3.1.3-6", "3.1.3-7", "3.2.2-16"}, V4: []string{"3.1.3-6"}, Run: func(t *T) {
		var cs []*Client
		for i := 0; i < 2; i++ {
			c := t.Dial()
			cp := t.ConnectPacket("")
			cp.ClientID = ""
			c.Send(cp.Encode())
			ack := c.Expect(wire.CONNACK)
			if ack.ReasonCode != 0 {
				t.Skipf("broker refuses zero-length client ids (code 0x%02x), as it may", ack.ReasonCode)
			}
			if t.V >= 5 {
				id, ok := ack.Props.Get(wire.PropAssignedClientID)
				t.Check(ok && id.Str != "", "CONNACK for a zero-length client id without Assigned Client Identifier")
				c.ClientID = id.Str
			}
			cs = append(cs, c)
		}
		if t.V >= 5 {
			t.Check(cs[0].ClientID != cs[1].ClientID, "two clients got the same assigned id %q", cs[0].ClientID)
		}
		// Both connections stay up: neither took the other over.
		cs[0].ExpectNothing("first zero-length-id client")
		cs[1].ExpectNothing("second zero-length-id client")
	}},
	{Name: "EmptyClientIDWithoutCleanSessionRefused", V4: []string{"3.1.3-8"}, Run: func(t *T) {
		seen := connectRefused(t, malformedConnect(t, func(c *wire.Connect) { c.ClientID = ""; c.CleanStart = false }),
			"zero-length client id with clean session 0")
		t.Check(len(seen) > 0 && seen[0].Type == wire.CONNACK && seen[0].ReasonCode == 0x02,
			"want CONNACK 0x02 (identifier rejected), got %v", seen)
	}},
	{Name: "RefusedClientIDClosed", V5: []string{"3.1.3-8"}, V4: []string{"3.1.3-9"}, Run: func(t *T) {
		id := t.Opts().RefusedClientID
		if id == "" {
			t.Skipf("no --refused-client-id given")
		}
		seen := connectRefused(t, malformedConnect(t, func(c *wire.Connect) { c.ClientID = id }), "refused client id")
		if t.V == 4 {
			t.Check(len(seen) > 0 && seen[0].Type == wire.CONNACK && seen[0].ReasonCode == 0x02,
				"want CONNACK 0x02 (identifier rejected) before the close, got %v", seen)
		}
	}},
	{Name: "RefusedCredentialsClosed", V5: []string{"3.1.4-2", "3.2.2-8"}, Run: func(t *T) {
		user := t.Opts().RefusedUsername
		if user == "" {
			t.Skipf("no --refused-username given")
		}
		connectRefused(t, malformedConnect(t, func(c *wire.Connect) {
			c.Username, c.Password = &user, []byte("wrong-"+t.tag)
		}), "refused user name and password")
	}},
	{Name: "TakeoverClosesExistingConnection", V5: []string{"3.1.4-3"}, V4: []string{"3.1.4-2"}, Run: func(t *T) {
		first := t.Client("dup")
		second := t.Client("dup")
		seen := first.ExpectClosed(closeWait, "first connection after a second with the same client id")
		checkClosing(t, seen)
		if t.V >= 5 {
			for _, p := range seen {
				if p.Type == wire.DISCONNECT {
					t.Check(p.ReasonCode == 0x8E, "takeover DISCONNECT code 0x%02x, want 0x8E", p.ReasonCode)
				}
			}
		}
		second.ExpectNothing("second connection")
	}},
	{Name: "ServerDisconnectIsLastPacket", V5: []string{"3.14.2-1", "3.14.2-2", "3.14.4-1", "3.14.4-2"}, Run: func(t *T) {
		// Provoke the broker, in several ways, until it closes a connection
		// with a DISCONNECT; then check that packet and what follows it.
		provocations := []struct {
			why  string
			send func(c *Client)
		}{
			{"takeover", func(c *Client) { t.Client("dup") }},
			{"Topic Alias 0", func(c *Client) {
				c.Send(wire.Publish{Topic: t.Topic("a"), Props: props(wire.Int(wire.PropTopicAlias, 0))}.Encode(t.V))
			}},
			{"wildcard topic name", func(c *Client) { c.Send(wire.Publish{Topic: t.Topic("#")}.Encode(t.V)) }},
			{"Session Expiry set on DISCONNECT after 0 on CONNECT", func(c *Client) {
				c.Send(wire.Disconnect(t.V, 0, props(wire.Int(wire.PropSessionExpiry, 60))))
			}},
			{"PUBREL for an unknown id with a bad reason code", func(c *Client) {
				c.Send(wire.Ack(t.V, wire.PUBREL, 9, 0x55, nil))
			}},
		}
		for _, pr := range provocations {
			c := t.Client("dup")
			pr.send(c)
			out, seen := c.Conn.ExpectClosed(t.Wait(closeWait))
			for _, p := range seen {
				t.noteViolations(p)
			}
			if out == wire.Closed && len(seen) > 0 && seen[len(seen)-1].Type == wire.DISCONNECT {
				checkClosing(t, seen)
				return
			}
		}
		t.Skipf("the broker closed every provocation without a DISCONNECT (it may); nothing to check")
	}},
	{Name: "RefusedConnectIgnoresFollowingPackets", V5: []string{"3.1.4-6"}, V4: []string{"3.1.4-5"}, Run: func(t *T) {
		topic := t.RetainedTopic("r")
		b := malformedConnect(t, func(c *wire.Connect) { c.Version = 6 })
		t.oldConnackOK = true
		b = append(b, wire.Publish{Topic: topic, Payload: []byte("x"), Retain: true}.Encode(t.V)...)
		connectRefused(t, b, "refused CONNECT followed by PUBLISH")
		c := t.Client("s")
		c.Subscribe(topic, 0)
		c.ExpectNothing("retained message from a PUBLISH sent after a refused CONNECT")
	}},
	{Name: "ConnackFirstWhenPacketsArePipelined", V5: []string{"3.2.0-1", "3.2.0-2"}, V4: []string{"3.2.0-1"}, Run: func(t *T) {
		c := t.Dial()
		topic := t.Topic("p")
		var b []byte
		b = append(b, t.ConnectPacket("p").Encode()...)
		b = append(b, wire.Subscribe{PacketID: 1, Subs: []wire.Subscription{{Filter: topic}}}.Encode(t.V)...)
		b = append(b, wire.Publish{Topic: topic, Payload: []byte("x")}.Encode(t.V)...)
		b = append(b, wire.Pingreq()...)
		c.Send(b)
		first := c.Next()
		t.Check(first.Type == wire.CONNACK && first.ReasonCode == 0, "first packet %v, want CONNACK 0x00", first)
		for {
			p := c.Next()
			t.Check(p.Type != wire.CONNACK, "a second CONNACK: %v", p)
			if p.Type == wire.PINGRESP {
				return
			}
		}
	}},
	{Name: "KeepAliveEnforced", V5: []string{"3.1.2-22", "3.2.2-22"}, V4: []string{"3.1.2-24"}, Timeout: 20 * time.Second, Run: func(t *T) {
		cp := t.ConnectPacket("k")
		cp.KeepAlive = 1
		max := t.Opts().ServerKeepAlive
		if max > 0 && t.V >= 5 {
			cp.KeepAlive = 65535 // more than the broker allows: it must answer with its own
		}
		c, ack := t.Connect(cp)
		ka := float64(cp.KeepAlive)
		p, ok := ack.Props.Get(wire.PropServerKeepAlive)
		if max > 0 && t.V >= 5 {
			t.Check(ok && int(p.Int) == max, "Server Keep Alive %d (sent: %v) for keep alive 65535; the broker is said to allow at most %d", p.Int, ok, max)
		}
		if ok {
			ka = float64(p.Int)
		}
		if ka > 10 || ka == 0 {
			t.Skipf("keep alive in force is %v s; too long (or off) to wait for here", ka)
		}
		start := time.Now()
		limit := time.Duration(ka*1.5*float64(time.Second)) + 2*time.Second
		out, _ := c.Conn.ExpectClosed(t.Wait(limit))
		t.Check(out == wire.Closed, "connection still open %v after the last packet with keep alive %v s", time.Since(start).Round(time.Millisecond), ka)
	}},
	{Name: "UnsupportedAuthenticationMethodRefused", V5: []string{"4.12.0-1", "3.2.2-6", "3.2.2-7", "3.2.2-8", "4.13.2-1"}, Run: func(t *T) {
		seen := connectRefused(t, malformedConnect(t, func(c *wire.Connect) {
			c.Props = props(wire.Str(wire.PropAuthMethod, "cf-no-such-method-"+t.tag))
		}), "unknown authentication method")
		for _, p := range seen {
			t.Check(p.Type != wire.AUTH, "AUTH for an unsupported method")
		}
	}},
}
