package recordbatch

// DecodeRecord decodes the one record at the start of p, a batch's record
// data (RecordData), into v and returns the rest of p. With it a reader
// that noted where each record starts decodes only the records it wants,
// instead of walking the batch from its first record (Iter). Nothing is
// allocated; v aliases p.
func DecodeRecord(p []byte, v *View) (rest []byte, err error) {
	return decodeRecord(p, v)
}
