package main

import (
	"errors"
	"flag"
	"fmt"
)

// login is the username and password every connection of this process
// presents in its CONNECT (none when username is empty), set once from the
// command line (loginFlags) before any connection is made, as clientTLS is.
// The plume+standard row runs with one shared user: its broker checks the
// password (argon2id) at every CONNECT, and the ACL then grants that user
// the scenario's topics.
var login struct{ username, password string }

// loginFlags registers -username and -password on fs; the returned function,
// called after fs.Parse, sets login.
func loginFlags(fs *flag.FlagSet) func() error {
	user := fs.String("username", "", "username in every CONNECT (none if empty)")
	pass := fs.String("password", "", "password in every CONNECT (needs -username)")
	return func() error {
		if *pass != "" && *user == "" {
			return errors.New("-password needs -username") // [MQTT-3.1.2-22]
		}
		login.username, login.password = *user, *pass
		return nil
	}
}

// refusedError is a broker's refusal in a CONNACK return code or a SUBACK
// return code (0x80), as opposed to a connection that failed.
type refusedError struct {
	packet string
	code   byte
}

func (e refusedError) Error() string {
	return fmt.Sprintf("%s return code %#x: refused", e.packet, e.code)
}

// refused reports whether err is the broker refusing in a CONNACK or SUBACK.
func refused(err error) bool {
	var r refusedError
	return errors.As(err, &r)
}

// cmdAuthCheck proves that a broker really checks passwords and topics
// before a run with -username is measured: a CONNECT without credentials
// and one with a wrong password must be refused, one with the given
// credentials accepted, a SUBSCRIBE to -denied refused and one to -allowed
// granted. A broker that lets any of these through would be measured
// without the authentication or authorization the row claims.
func cmdAuthCheck(args []string) error {
	fs := flag.NewFlagSet("authcheck", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:1883", "broker address: host:port, or tcp://, tls://, ws:// or wss:// (transport.go)")
	loadTLS := tlsFlags(fs)
	loadLogin := loginFlags(fs)
	allowed := fs.String("allowed", "bench/pair/0", "a filter the user may subscribe to")
	denied := fs.String("denied", "bench/not-in-the-acl", "a filter the user may not subscribe to")
	_ = fs.Parse(args)
	if err := loadTLS(); err != nil {
		return err
	}
	if err := loadLogin(); err != nil {
		return err
	}
	if login.username == "" || login.password == "" {
		return errors.New("authcheck needs -username and -password")
	}
	return authCheck(*addr, *allowed, *denied)
}

// authCheck runs cmdAuthCheck's checks with the credentials in login.
func authCheck(addr, allowed, denied string) error {
	good := login
	defer func() { login = good }()
	for _, bad := range []struct{ what, user, pass string }{
		{"no username", "", ""},
		{"a wrong password", good.username, good.password + "-wrong"},
	} {
		login.username, login.password = bad.user, bad.pass
		c, err := dial(addr, "bench-authcheck", keepAlive, 256)
		if err == nil {
			c.close()
			return fmt.Errorf("%s: CONNECT with %s was accepted", addr, bad.what)
		}
		if !refused(err) {
			return fmt.Errorf("%s: CONNECT with %s: %w", addr, bad.what, err)
		}
	}
	login = good
	c, err := dial(addr, "bench-authcheck", keepAlive, 256)
	if err != nil {
		return fmt.Errorf("%s: CONNECT as %s: %w", addr, good.username, err)
	}
	defer c.close()
	if err := c.subscribe(denied, 0); err == nil {
		return fmt.Errorf("%s: SUBSCRIBE %q as %s was granted", addr, denied, good.username)
	} else if !refused(err) {
		return err
	}
	if err := c.subscribe(allowed, 0); err != nil {
		return fmt.Errorf("%s: SUBSCRIBE %q as %s: %w", addr, allowed, good.username, err)
	}
	return nil
}
