package differ

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
)

// pendingChange is a change seen in the last polls but not yet emitted
// (Spec.Debounce): the candidate value, by hash, and how many consecutive
// polls have shown it.
type pendingChange struct {
	polls uint32
	gone  bool     // the candidate is the item's absence (a deletion)
	hash  [32]byte // SHA-256 of the candidate's canonical value; zero when gone
}

// pendingSet maps an item's key ("" for the document; the content key of
// an item without a key field) to its pending change.
type pendingSet map[string]pendingChange

// Stored form of a pending set, appended to a full snapshot or a delta
// whose format version byte is then 2 instead of 1 (a state without
// pending changes is stored exactly as before):
//
//	4     entry count n
//	n ×   (4-byte length, key), 4-byte polls, 1-byte gone, 32-byte hash
const (
	pendingVersion   = 2
	pendingEntrySize = 4 + 4 + 1 + 32
)

func (ps pendingSet) encode() []byte {
	keys := make([]string, 0, len(ps))
	for k := range ps {
		keys = append(keys, k)
	}
	// Sorted, so that the same pending set is always stored the same.
	slices.Sort(keys)
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(keys)))
	for _, k := range keys {
		e := ps[k]
		b = appendFramed(b, []byte(k))
		b = binary.LittleEndian.AppendUint32(b, e.polls)
		gone := byte(0)
		if e.gone {
			gone = 1
		}
		b = append(b, gone)
		b = append(b, e.hash[:]...)
	}
	return b
}

// decodePending reads a pending set that fills b exactly.
func decodePending(b []byte) (pendingSet, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: truncated pending changes", errSnapshot)
	}
	n := int(binary.LittleEndian.Uint32(b))
	b = b[4:]
	if n > len(b)/pendingEntrySize {
		return nil, fmt.Errorf("%w: %d pending changes do not fit %d bytes", errSnapshot, n, len(b))
	}
	ps := make(pendingSet, n)
	for range n {
		if len(b) < 4 || int(binary.LittleEndian.Uint32(b)) > len(b)-pendingEntrySize {
			return nil, fmt.Errorf("%w: truncated pending changes", errSnapshot)
		}
		l := int(binary.LittleEndian.Uint32(b))
		k := string(b[4 : 4+l])
		b = b[4+l:]
		e := pendingChange{polls: binary.LittleEndian.Uint32(b), gone: b[4] == 1}
		copy(e.hash[:], b[5:37])
		ps[k] = e
		b = b[37:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d unexpected bytes after the pending changes", errSnapshot, len(b))
	}
	return ps, nil
}

// see counts one more poll showing candidate (hash, or gone) for key and
// reports whether the change is confirmed, that is has now been seen in
// Spec.Debounce consecutive polls. An unconfirmed one is recorded in next.
func (d *Differ) see(old *State, next pendingSet, key string, gone bool, value []byte) bool {
	e := pendingChange{polls: 1, gone: gone}
	if !gone {
		e.hash = sha256.Sum256(value)
	}
	if p, ok := old.pending[key]; ok && p.gone == e.gone && p.hash == e.hash {
		e.polls = p.polls + 1
	}
	if int(e.polls) >= d.spec.Debounce {
		return true
	}
	next[key] = e
	return false
}

// debounce rewrites the response read by w, which p pairs with the items
// of old, into the one to apply: changes not yet seen in Spec.Debounce
// consecutive polls are undone (an update keeps the old item, a creation
// is dropped, a deletion keeps the old item, after the response's items),
// so that changes and advance see only the confirmed ones. It returns the
// changes still pending.
func (d *Differ) debounce(old *State, w *walker, p *pairing) pendingSet {
	next := pendingSet{}
	keep := w.items[:0]
	oldOf := p.oldOf[:0]
	for j := range w.items {
		i := p.oldOf[j]
		switch {
		case i < 0:
			if !d.see(old, next, string(w.key(j)), false, w.value(j)) {
				continue // not created yet
			}
		case w.items[j].prev == i || bytes.Equal(w.oldValue(i), w.value(j)):
			// Unchanged: whatever was pending for the item is over.
		case !d.see(old, next, string(w.key(j)), false, w.value(j)):
			// Not updated yet: the old item stays, known by its old raw
			// bytes, so that the new ones are compared again next time.
			o := &old.items[i]
			w.items[j] = pending{prev: i, keyHash: o.keyHash, raw: o.raw, rawLen: o.rawLen}
		}
		keep = append(keep, w.items[j])
		oldOf = append(oldOf, i)
	}
	w.items, p.oldOf = keep, oldOf
	for i := range p.newOf {
		p.newOf[i] = -1
	}
	for j, i := range p.oldOf {
		if i >= 0 {
			p.newOf[i] = int32(j)
		}
	}
	for i, j := range p.newOf {
		if j >= 0 || d.see(old, next, string(old.key(i)), true, nil) {
			continue
		}
		// Not deleted yet.
		o := &old.items[i]
		p.newOf[i] = int32(len(w.items))
		w.items = append(w.items, pending{prev: int32(i), keyHash: o.keyHash, raw: o.raw, rawLen: o.rawLen})
		p.oldOf = append(p.oldOf, int32(i))
	}
	// Items were dropped and added: the pairing's table of new items by
	// key is rebuilt from the final items.
	p.byKey = table{}
	return next
}

// withPending stores pend with the state res.Next and in what res stores,
// and, when anything is pending, forgets the body hash so that the next
// poll parses even the very same body and counts towards confirmation.
// old is the state compared with, which is never modified.
func withPending(res *Result, old *State, pend pendingSet) *Result {
	if len(pend) == 0 {
		if res.Next != nil && len(res.Next.pending) > 0 {
			next := *res.Next
			next.pending = nil
			res.Next = &next
		}
		return res
	}
	next := *res.Next
	next.pending = pend
	next.body = [32]byte{}
	sec := pend.encode()
	switch {
	case res.Snapshot != nil:
		res.Snapshot = append(slices.Clip(res.Snapshot), sec...)
		res.Snapshot[0] = pendingVersion
		clear(res.Snapshot[offBody : offBody+32])
		next.chunks = append([]chunk{wholeChunk(res.Snapshot)}, next.chunks[1:]...)
		next.baseSize = len(res.Snapshot)
	case res.plan != nil:
		res.plan.pending, res.plan.body = sec, [32]byte{}
		next.chunks = slices.Clone(next.chunks)
		next.chunks[0].size += uint32(len(sec))
		next.baseSize += len(sec)
	case res.Delta != nil:
		res.Delta = append(slices.Clip(res.Delta), sec...)
		res.Delta[0] = pendingVersion
		clear(res.Delta[offDeltaBody : offDeltaBody+32])
		next.chunks = append(slices.Clip(next.chunks[:len(next.chunks)-1]), wholeChunk(res.Delta))
		next.deltaBytes += len(sec)
	default:
		// Nothing stored (cannot happen: a pending set is only carried by
		// a parsed poll, which always stores); keep old's pending as is.
		if old != nil {
			next.pending = old.pending
		}
	}
	res.Next = &next
	return res
}

// debounceDocument decides whether the changed document after (compared
// with the document of old) is applied; when it is not, it returns the
// result that keeps old's document with the change pending.
func (d *Differ) debounceDocument(old *State, after []byte, bodyLen int) *Result {
	next := pendingSet{}
	if d.see(old, next, "", false, after) {
		return nil
	}
	items := []item{{}}
	buf := encodeFull(items, old.value, old.key, kindDocument, d.fingerprint, [32]byte{}, 0, [32]byte{})
	res := &Result{Snapshot: buf, Next: &State{kind: kindDocument, spec: d.fingerprint, bodyLen: bodyLen,
		chunks: []chunk{wholeChunk(buf)}, baseSize: len(buf), items: items}}
	return withPending(res, old, next)
}
