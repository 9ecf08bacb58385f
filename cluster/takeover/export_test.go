package takeover

// Adopter is adopter, for tests.
var Adopter = adopter

// Serve gives m its broker without Start: no answers, no sweep.
func (m *Mover) Serve(b Broker) { m.b = b }
