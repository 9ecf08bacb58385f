// Command password-file is the Plume plugin that authenticates CONNECT
// against a password file in Mosquitto's format ($7$, $6$) or with argon2id
// entries, as `plume passwd` and Mosquitto's mosquitto_passwd write them.
// See README.md for its config.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o password_file.wasm .
package main

import (
	plume "github.com/plumemq/plume/plugin-sdk/go"
)

// users is the file read at init. Each instance reads it once; when the
// file changes the host starts new instances, which read it again.
var users *table

func init() {
	plume.OnInit(func(raw []byte) error {
		c, err := parseConfig(raw)
		if err != nil {
			return err
		}
		t, err := load(c)
		if err != nil {
			return err
		}
		users = t
		// A fresh instance's first two argon2id verifications also grow
		// its memory (the second allocates while the first's block awaits
		// the collector), which took longer than the 100 ms call deadline
		// on a busy machine: pay that here, under init's longer deadline.
		// Measured in decision 0024.
		t.warm.Verify(nil)
		t.warm.Verify(nil)
		return nil
	})
	plume.OnAuthenticate(func(e *plume.AuthEvent) plume.Decision {
		return users.authenticate(e.Method(), e.Client.Username(), e.Client.Password())
	})
}

func main() {}
