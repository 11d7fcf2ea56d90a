package differ

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// guard decides whether the response cur, which p pairs with the items of
// old, must be held, and returns the held Result, or nil to apply it.
//
// A response is suspicious when more than MaxDeletedRatio of the old items
// vanished. It is held, keeping the old items, until ConfirmPolls
// consecutive polls (this one included) have shown the same candidate;
// the count and the candidate's hash travel in the snapshot. A response
// that is not suspicious is applied and thereby ends any hold.
func (d *Differ) guard(old, cur *snapshot, p pairing) *Result {
	g := d.spec.Guard
	n := len(old.values)
	if g.MaxDeletedRatio == 0 || n == 0 || float64(p.deleted) <= g.MaxDeletedRatio*float64(n) {
		return nil
	}
	candidate := candidateHash(cur)
	polls := uint32(1)
	if old.holdPolls > 0 && old.holdHash == candidate {
		polls = old.holdPolls + 1
	}
	if int(polls) >= g.ConfirmPolls {
		return nil
	}
	return &Result{Snapshot: withHold(old.buf, polls, candidate), Held: true}
}

// candidateHash identifies the set of items a held response would apply,
// regardless of their order.
func candidateHash(s *snapshot) [32]byte {
	sums := make([][32]byte, len(s.values))
	for i := range sums {
		h := sha256.New()
		h.Write(binary.AppendUvarint(nil, uint64(len(s.key(i)))))
		h.Write(s.key(i))
		h.Write(s.value(i))
		h.Sum(sums[i][:0])
	}
	slices.SortFunc(sums, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
	h := sha256.New()
	for _, sum := range sums {
		h.Write(sum[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
