package kafka

// SetBatchWriter makes s write produced batches through w, a test's
// stand-in for the broker's WriteBatch (which w may call).
func SetBatchWriter(s *Server, w interface {
	WriteBatch(topic string, partition int32, batch []byte) (int64, func() error, error)
}) {
	s.appends = w
}
