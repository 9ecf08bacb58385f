// Package plume is the Go SDK for Plume broker plugins: WebAssembly modules that
// authenticate clients, authorize publishes and subscriptions, observe messages
// and transform them, inside the broker's sandbox.
//
// A plugin is a main package built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// It registers its handlers from an init function; the SDK declares to the host
// exactly the points that have a handler, and the host calls nothing else:
//
//	func init() {
//		plume.OnAuthorize(func(e *plume.AuthzEvent) plume.Decision {
//			if strings.HasPrefix(e.Topic(), "admin/") {
//				return plume.Deny(plume.NotAuthorized, "admin topics are closed")
//			}
//			return plume.Pass()
//		})
//	}
//
//	func main() {}
//
// Event data is pulled from the host only when a handler asks for it (a handler
// that never reads the payload never copies it), and each value returned is the
// handler's own copy, except Message.Payload: that one lives in a buffer the SDK
// reuses, so a transform can change or extend it without an allocation; copy it
// to keep it past the call. Events and their Client are valid only during the call:
// the SDK reuses them, so a handler must not keep a pointer to one.
//
// An instance runs one call at a time, so handlers need no locking; the host may
// run several instances of a plugin side by side and may discard an instance at
// any time (after a trap, on reload, to reclaim memory), so state that must be
// shared or must survive belongs in the key-value store (KVGet, KVAdd, ...) or in
// the per-client state (Client.State).
//
// The contract between this package and the host is plugin-sdk/ABI.md.
package plume
