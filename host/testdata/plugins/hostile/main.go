// Command hostile misbehaves on request, by topic: it loops forever, eats
// memory, panics, sleeps, fills the key-value store, or tries to read or
// write a host file.
package main

import (
	"os"
	"strconv"
	"strings"
	"time"

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
		case strings.HasPrefix(t, "sleep:"):
			// a blocking host call (WASI poll_oneoff), then a late ALLOW
			d, err := time.ParseDuration(strings.TrimPrefix(t, "sleep:"))
			if err != nil {
				return plume.Deny(plume.NotAuthorized, err.Error())
			}
			time.Sleep(d)
			return plume.Allow()
		case strings.HasPrefix(t, "kvfill:"):
			// values of the given size under new keys until the store refuses
			n, err := strconv.Atoi(strings.TrimPrefix(t, "kvfill:"))
			if err != nil {
				return plume.Deny(plume.NotAuthorized, err.Error())
			}
			v := make([]byte, n)
			stored := 0
			for plume.KVSet("fill-"+strconv.Itoa(stored), v) {
				stored++
			}
			return plume.Deny(plume.QuotaExceeded, strconv.Itoa(stored))
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
