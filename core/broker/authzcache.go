package broker

import (
	"context"
	"strings"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// authzCache keeps a connection's publish authorizations that the hooks
// marked cacheable (hooks.AuthzResult.Cache), so a device publishing to the
// same topics again and again asks its plugins once per topic, not once per
// message. It lives and dies with the connection, belongs to its reader
// goroutine (no lock), and an entry from an older hooks generation (a plugin
// reload) is void.
type authzCache struct {
	m map[authzKey]authzEntry
	// last is the entry used last: most devices publish to one topic, or to
	// a few in turn, and comparing one key costs less than hashing it.
	last    authzEntry
	hasLast bool
}

type authzKey struct {
	topic  string
	qos    byte
	retain bool
}

type authzEntry struct {
	key        authzKey // its own copy of the topic
	generation uint64
	res        hooks.AuthzResult
}

// maxAuthzCache bounds the cache; a client that publishes to more topics than
// this starts over rather than growing without limit.
const maxAuthzCache = 256

// generations is implemented by hooks whose answers can change (hooks.Chain).
type generations interface{ Generation() uint64 }

// generation is the hooks' current generation, or 0 for hooks that never
// change.
func (b *Broker) generation() uint64 {
	if b.hooksGen != nil {
		return b.hooksGen.Generation()
	}
	return 0
}

// authorizePublish asks the hooks whether client may publish p, or reuses an
// answer they allowed to be reused. cache is where the connection keeps its
// cache, made with the first answer worth keeping, so that a connection that
// never gets one pays nothing; nil for wills.
func (b *Broker) authorizePublish(ctx context.Context, client *hooks.Client, p *packets.Publish, cachep **authzCache) hooks.AuthzResult {
	var cache *authzCache
	if cachep != nil {
		cache = *cachep
	}
	key := authzKey{topic: p.Topic, qos: p.QoS, retain: p.Retain}
	gen := b.generation()
	if cache != nil {
		if cache.hasLast && cache.last.key == key && cache.last.generation == gen {
			return cache.last.res
		}
		if e, ok := cache.m[key]; ok && e.generation == gen {
			cache.last, cache.hasLast = e, true
			return e.res
		}
	}
	res, err := b.hooks.Authorize(ctx, &hooks.AuthzRequest{
		Client: client, Action: hooks.ActionPublish, Topic: p.Topic, QoS: p.QoS, Retain: p.Retain})
	if err != nil {
		b.hookFailed(hooks.PointAuthorize, client, err)
		res = b.opts.HookFailure.Authorized(res, err) // never cacheable
	}
	if cachep != nil && res.Cache {
		if cache == nil {
			cache = &authzCache{}
			*cachep = cache
		}
		if cache.m == nil || len(cache.m) >= maxAuthzCache {
			cache.m = make(map[authzKey]authzEntry)
		}
		// The topic may point into the publisher's read buffer: keep a copy
		// of it, not the buffer.
		key.topic = strings.Clone(key.topic)
		e := authzEntry{key: key, generation: gen, res: res}
		cache.m[key] = e
		cache.last, cache.hasLast = e, true
	}
	return res
}
