package assign

// uncycle undoes every cycle of moves. A move is a partition that kept[f]
// (its owner after keep) gave up to another member. If moves form a cycle
// A→B→…→A, returning each partition of the cycle to its kept owner changes
// no member's load and no subscription rule (each goes back to a member that
// held it validly), so balance is unchanged and the cycle's moves were
// waste. Afterwards the moves form a directed acyclic graph between members:
// in particular no two members trade partitions.
//
// Balancing by loads alone can leave such cycles when subscriptions differ:
// a member that gave early may later be the least loaded taker of a
// partition it could have kept.
func (s *sticky) uncycle(kept []int32) {
	m := len(s.in.members)
	out := make([][]int32, m) // member → partitions it gave up, ascending
	for f, o := range s.owner {
		if k := kept[f]; k >= 0 && o != k {
			out[k] = append(out[k], int32(f))
		}
	}
	const (
		white = iota // not visited
		grey         // on the current path
		black        // finished: no cycle through it
	)
	for {
		color := make([]uint8, m)
		path := []int32{} // partitions along the current path
		var cycle []int32
		var visit func(v int32) bool
		visit = func(v int32) bool {
			color[v] = grey
			for _, f := range out[v] {
				w := s.owner[f]
				switch color[w] {
				case grey:
					// The cycle is the path from the edge leaving w to f.
					i := len(path)
					for i > 0 && kept[path[i-1]] != w {
						i--
					}
					cycle = append(append([]int32(nil), path[i-1:]...), f)
					return true
				case white:
					path = append(path, f)
					if visit(w) {
						return true
					}
					path = path[:len(path)-1]
				}
			}
			color[v] = black
			return false
		}
		found := false
		for v := range int32(m) {
			if color[v] == white && visit(v) {
				found = true
				break
			}
		}
		if !found {
			return
		}
		for _, f := range cycle {
			from := s.owner[f]
			s.move(f, from, kept[f])
			out[kept[f]] = deleteValue(out[kept[f]], f)
		}
	}
}

func deleteValue(s []int32, v int32) []int32 {
	for i, x := range s {
		if x == v {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}
