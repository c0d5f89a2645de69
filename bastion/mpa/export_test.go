package mpa

// WithoutGroupCommit makes s record each event in its own transaction, as
// before group commit, for the benchmark's comparison.
func WithoutGroupCommit(s *Service) { s.seq = nil }

// RecordCommits is how many transactions s's sequencer has sent.
func RecordCommits(s *Service) int {
	if s.seq == nil {
		return 0
	}
	s.seq.mu.Lock()
	defer s.seq.mu.Unlock()
	return s.seq.commits
}

// WithHandoff makes s's sequencer commit every batch on its draining
// goroutine, as before the first caller committed its own, for the
// benchmark's comparison.
func WithHandoff(s *Service) {
	if s.seq != nil {
		s.seq.handoff = true
	}
}
