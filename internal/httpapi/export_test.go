package httpapi

// HoldDeliverWrites runs hold between each stream hand-out and the write
// of its DELIVER frame, until the returned func is called.
func HoldDeliverWrites(hold func()) (restore func()) {
	beforeDeliverWrite.Store(&hold)
	return func() { beforeDeliverWrite.Store(nil) }
}

// PeerWriteWait is peerWriteWait.
const PeerWriteWait = peerWriteWait
