package differ

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// guard decides whether the response read by w, which p pairs with the
// items of old, must be held, and returns the held Result, or nil to apply
// it.
//
// A response is suspicious when more than MaxDeletedRatio of the old items
// vanished, or when more than MaxChangedRatio of them (counting items
// created, updated and deleted against the old number) changed. It is held, keeping the old items, until ConfirmPolls
// consecutive polls (this one included) have shown the same candidate;
// the count and the candidate's hash travel in the state. A response that
// is not suspicious is applied and thereby ends any hold.
func (d *Differ) guard(old *State, w *walker, p pairing) *Result {
	g := d.spec.Guard
	n := float64(len(old.items))
	deleted := g.MaxDeletedRatio > 0 && float64(p.deleted) > g.MaxDeletedRatio*n
	changed := g.MaxChangedRatio > 0 && float64(changedCount(w, p)) > g.MaxChangedRatio*n
	if n == 0 || !deleted && !changed {
		return nil
	}
	candidate := candidateHash(w)
	polls := uint32(1)
	if old.holdPolls > 0 && old.holdHash == candidate {
		polls = old.holdPolls + 1
	}
	if int(polls) >= g.ConfirmPolls {
		return nil
	}
	return d.hold(old, polls, candidate)
}

// candidateHash identifies the set of items a held response would apply,
// regardless of their order.
func candidateHash(w *walker) [32]byte {
	sums := make([][32]byte, len(w.items))
	for j := range sums {
		h := sha256.New()
		h.Write(binary.AppendUvarint(nil, uint64(len(w.key(j)))))
		h.Write(w.key(j))
		h.Write(w.value(j))
		h.Sum(sums[j][:0])
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

// changedCount is the number of items the response read by w creates,
// updates or deletes, whatever the events filter keeps.
func changedCount(w *walker, p pairing) int {
	n := p.deleted
	for j := range w.items {
		switch i := p.oldOf[j]; {
		case i < 0:
			n++
		case w.items[j].prev == i:
			// The same raw bytes: unchanged.
		case !bytes.Equal(w.oldValue(i), w.value(j)):
			n++
		}
	}
	return n
}
