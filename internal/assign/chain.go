package assign

// chains finds and applies cost-reducing paths in a sticky balance: a taker
// T takes partition f1 from member A1 (T subscribes to f1's topic), A1 takes
// f2 from A2, and so on up to Ak, who has at least two partitions more than
// T. Shifting along the path moves k partitions and changes only the loads of
// T (+1) and Ak (−1). Single moves are paths of length one.
type chains struct {
	s *sticky

	// Scratch for one search, reset by shift.
	seen      []bool  // member index → reached
	via       []int32 // member index → partition it gives up on the path
	topicSeen []bool  // topic index → already expanded
	topicBy   []int32 // topic index → member that reached it (the taker of its partitions)
	queue     []int32

	// dead marks members known to have no path in the current plan; the
	// caller clears it whenever the plan changes.
	dead []bool
}

func newChains(s *sticky) *chains {
	m, t := len(s.in.members), len(s.in.topics)
	return &chains{
		s:         s,
		seen:      make([]bool, m),
		via:       make([]int32, m),
		topicSeen: make([]bool, t),
		topicBy:   make([]int32, t),
		dead:      make([]bool, m),
	}
}

// shift searches breadth first (shortest path first, ties by member and
// partition order) for a cost-reducing path from taker and applies it. If
// there is none, every member reached with at least taker's load has none
// either (what it reaches, taker reaches), and shift marks it dead.
func (c *chains) shift(taker int32) bool {
	s := c.s
	clear(c.seen)
	clear(c.topicSeen)
	load := len(s.owned[taker])
	c.queue = append(c.queue[:0], taker)
	c.seen[taker] = true
	for i := 0; i < len(c.queue); i++ {
		y := c.queue[i]
		for _, ti := range s.topicsOf[y] {
			if c.topicSeen[ti] {
				continue
			}
			c.topicSeen[ti] = true
			c.topicBy[ti] = y
			end := s.base[ti] + s.in.counts[s.in.topics[ti]]
			for f := s.base[ti]; f < end; f++ {
				o := s.owner[f]
				if o < 0 || c.seen[o] { // unowned only if nobody subscribes
					continue
				}
				c.seen[o] = true
				c.via[o] = f
				if len(s.owned[o]) >= load+2 {
					c.apply(taker, o)
					return true
				}
				c.queue = append(c.queue, o)
			}
		}
	}
	for _, o := range c.queue {
		if len(s.owned[o]) >= load {
			c.dead[o] = true
		}
	}
	return false
}

// apply walks the path back from its last giver to taker, moving each
// partition from its giver to the member that reached the partition's topic.
func (c *chains) apply(taker, last int32) {
	s := c.s
	for giver := last; giver != taker; {
		f := c.via[giver]
		to := c.topicBy[s.topicOf[f]]
		s.move(f, giver, to)
		giver = to
	}
}
