package httpapi

// HoldDeliverWrites runs hold between each stream hand-out and the write
// of its DELIVER frame, until the returned func is called.
func HoldDeliverWrites(hold func()) (restore func()) {
	beforeDeliverWrite.Store(&hold)
	return func() { beforeDeliverWrite.Store(nil) }
}

// PeerWriteWait is peerWriteWait.
const PeerWriteWait = peerWriteWait

// TakeBodies takes n bytes of the budget of bodies being decoded; false
// if they are not free.
func (s *Server) TakeBodies(n int64) bool { return s.bodies.Take(n) }

// GiveBodies gives back n bytes TakeBodies took.
func (s *Server) GiveBodies(n int64) { s.bodies.Give(n) }

// BodiesUsed is the bytes of request bodies (and stream frames) charged
// to the decoding budget now.
func (s *Server) BodiesUsed() int64 { return s.bodies.Used() }
