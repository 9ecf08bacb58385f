package broker

// InlineServes is how many times the poller served a connection inline
// (inline_linux.go), since the process started.
func InlineServes() uint64 { return inlineServes.Load() }
