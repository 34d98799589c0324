package node

import "slices"

// CutLinks makes this node carry no message and no call to or from the
// given peers (both directions through this node), as a network cut would;
// an empty list heals every link. It is a test hook (the transport's
// SetFault): cutting a pair needs the call on both of its nodes.
func (n *Node) CutLinks(peers []uint64) {
	if len(peers) == 0 {
		n.tr.SetFault(nil)
		return
	}
	cut := slices.Clone(peers)
	self := n.cfg.ID
	n.tr.SetFault(func(from, to uint64) bool {
		return !(from == self && slices.Contains(cut, to) || to == self && slices.Contains(cut, from))
	})
}
