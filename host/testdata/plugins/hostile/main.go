// Command hostile misbehaves on request, by topic: it loops forever, eats
// memory, panics, or tries to read or write a host file.
package main

import (
	"os"
	"strings"

	plume "github.com/plumemq/plume/plugin-sdk/go"
)

var hoard [][]byte

func init() {
	plume.OnAuthorize(func(e *plume.AuthzEvent) plume.Decision {
		t := e.Topic()
		switch {
		case t == "loop":
			for {
			}
		case t == "bomb":
			for {
				hoard = append(hoard, make([]byte, 1<<20))
			}
		case t == "panic":
			panic("hostile plugin panics on purpose")
		case strings.HasPrefix(t, "open:"):
			b, err := os.ReadFile(strings.TrimPrefix(t, "open:"))
			if err != nil {
				return plume.Deny(plume.NotAuthorized, err.Error())
			}
			return plume.Allow().WithAttribute("leak", string(b))
		case strings.HasPrefix(t, "write:"):
			if err := os.WriteFile(strings.TrimPrefix(t, "write:"), []byte("overwritten"), 0o600); err != nil {
				return plume.Deny(plume.NotAuthorized, err.Error())
			}
			return plume.Allow()
		}
		return plume.Allow()
	})
}

func main() {}
