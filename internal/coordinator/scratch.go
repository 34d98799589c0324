package coordinator

import (
	"sync"

	"github.com/abd-ulbasit/goqueue/internal/delivery"
	"github.com/abd-ulbasit/goqueue/internal/groupstate"
)

// scratch reuses the slices a poll or a settlement builds for one call
// of its group's aggregate, which reads them only during the call: a poll
// of thousands of messages otherwise grows a fresh deliveries slice, and
// an ack of thousands a fresh list of references, each time.
type scratch[T any] struct{ pool sync.Pool }

// maxScratch is the longest slice kept: larger ones are left to the GC,
// so one huge call does not pin its memory.
const maxScratch = 1 << 16

func (s *scratch[T]) get() []T {
	if v, ok := s.pool.Get().(*[]T); ok {
		return (*v)[:0]
	}
	return nil
}

func (s *scratch[T]) put(v []T) {
	if cap(v) > 0 && cap(v) <= maxScratch {
		s.pool.Put(&v)
	}
}

var (
	deliveryScratch scratch[delivery.Delivery]
	refScratch      scratch[groupstate.Ref]
)
