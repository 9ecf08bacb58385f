package session

// Disown stops the session reporting its changes to the journal, before the
// broker forgets it because another node of a cluster took it over
// (decision 0056): what the store holds of it is the new owner's from now
// on, so neither End nor anything after may delete or rewrite it here.
func (s *Session) Disown() {
	s.mu.Lock()
	s.kept = false
	s.mu.Unlock()
}
