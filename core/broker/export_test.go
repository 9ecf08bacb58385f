package broker

// ParkedCount is the number of connections waiting in the idle poller, for
// tests that must know a connection is parked before they act.
func (b *Broker) ParkedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for c := range b.clients {
		if c.parked.Load() {
			n++
		}
	}
	return n
}
