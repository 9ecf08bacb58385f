// Package store is the home of session.Store implementations that need more
// than the standard library: a disk store on one node (store/disk, Pebble,
// issue 9), a replicated one for a cluster (store/jetstream, NATS JetStream,
// issue 14). Each lives in its own subpackage so that a
// binary links only the storage library it uses, and core/ stays free of
// them (decision 0001).
//
// The contract every implementation keeps is written on session.Store;
// store/storetest checks it. A new store:
//
//  1. implements session.Store in store/NAME, stating on its type what "durable"
//     means for it (synced to disk on return, or after what delay);
//  2. passes storetest.Run in its own test, reopening its files in Reopen;
//  3. is chosen by the config in cmd/plume (docs/decisions/0018-seams.md).
//
// session.MemoryStore, the default, stays in core/session: the broker needs a
// store with no dependencies.
package store
