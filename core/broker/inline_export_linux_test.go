package broker

// InlineServes is how many times the poller served a connection inline
// (inline_linux.go), since the process started.
func InlineServes() uint64 { return inlineServes.Load() }

// ServeInlineAlone makes b serve a lone latency-bound client inline as well
// (peersWaiting), for the tests of the inline path. Call it before any
// client connects.
func ServeInlineAlone(b *Broker) { b.inlineAlone.Store(true) }
