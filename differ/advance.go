package differ

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// advance builds the state after an applied items-mode poll, and what the
// store must write for it: a delta on old, or a full snapshot once the
// deltas would outgrow their budget (see maxDeltas).
func (d *Differ) advance(old *State, w *walker, p pairing, sum [32]byte) (snapshot, delta []byte, next *State) {
	// Per new item, an old item with the same value and key (whose bytes
	// the new state shares), or -1 when the delta carries it.
	src := make([]int32, len(w.items))
	size, fresh := deltaHeaderSize, 0
	for j := range w.items {
		switch i := p.oldOf[j]; {
		case w.items[j].prev >= 0:
			src[j] = w.items[j].prev
		case i >= 0 && bytes.Equal(old.value(int(i)), w.value(j)):
			src[j] = i
		default:
			src[j] = -1
			size += 8 + len(w.value(j)) + len(w.key(j))
			fresh++
		}
	}
	runs := appendRuns(nil, src, len(w.items))
	size += len(runs)
	if !old.deltaFits(size) {
		snapshot, next = d.full(w, src, sum, p)
		return snapshot, nil, next
	}

	delta = make([]byte, deltaHeaderSize, size)
	writeDeltaHeader(delta, sum, 0, [32]byte{}, len(old.items), len(w.items), fresh, len(runs))
	next = &State{kind: d.kind, spec: d.fingerprint, body: sum, bodyLen: len(w.c.src), baseSize: old.baseSize,
		deltas: old.deltas + 1, deltaBytes: old.deltaBytes + size, items: make([]item, len(w.items))}
	chunk := uint32(len(old.chunks))
	for pass := range 2 {
		for j, i := range src {
			it := &next.items[j]
			switch {
			case i >= 0 && pass == 0:
				*it = old.items[i]
			case i >= 0:
				continue
			case pass == 0:
				it.val = ref{chunk, uint32(len(delta) + 4), uint32(len(w.value(j)))}
				delta = appendFramed(delta, w.value(j))
			default:
				it.key = ref{chunk, uint32(len(delta) + 4), uint32(len(w.key(j)))}
				delta = appendFramed(delta, w.key(j))
			}
			it.keyHash, it.raw, it.rawLen = w.items[j].keyHash, w.items[j].raw, w.items[j].rawLen
		}
	}
	delta = append(delta, runs...)
	next.chunks = append(slices.Clip(old.chunks), delta)
	next.index(p.byKey)
	return nil, delta, next
}

// deltaFits reports whether one more delta of size bytes stays within the
// budget: at most maxDeltas, adding up to at most half the full snapshot.
func (s *State) deltaFits(size int) bool {
	return s.deltas < maxDeltas && s.deltaBytes+size <= s.baseSize/2
}

func writeDeltaHeader(b []byte, body [32]byte, polls uint32, hold [32]byte, prev, count, values, runs int) {
	b[0] = deltaVersion
	copy(b[offDeltaBody:], body[:])
	binary.LittleEndian.PutUint32(b[offDeltaHoldPolls:], polls)
	copy(b[offDeltaHoldHash:], hold[:])
	putUint32(b[offDeltaPrev:], prev)
	putUint32(b[offDeltaCount:], count)
	putUint32(b[offDeltaValues:], values)
	putUint32(b[offDeltaRuns:], runs)
}

// full builds the state of the walked items stored as one full snapshot,
// and that snapshot. src is as in advance, or nil when every item was
// canonicalized (a baseline): then the walker's buffer, which holds the
// framed values and keys after room for the header, is the snapshot.
func (d *Differ) full(w *walker, src []int32, sum [32]byte, p pairing) ([]byte, *State) {
	items := make([]item, len(w.items))
	for j := range items {
		items[j] = item{keyHash: w.items[j].keyHash, raw: w.items[j].raw, rawLen: w.items[j].rawLen}
	}
	var buf []byte
	if src == nil && w.prev == nil && len(w.c.out) == fullSize(len(items), w.value, w.key) {
		buf = w.c.out
		for j := range items {
			items[j].val = spanRef(0, w.items[j].val)
			items[j].key = spanRef(0, w.items[j].key)
		}
		writeHeader(buf, d.kind, d.fingerprint, sum, 0, [32]byte{}, len(items))
	} else {
		buf = encodeFull(items, w.value, w.key, d.kind, d.fingerprint, sum, 0, [32]byte{})
	}
	next := &State{kind: d.kind, spec: d.fingerprint, body: sum, bodyLen: len(w.c.src), chunks: [][]byte{buf}, baseSize: len(buf), items: items}
	next.index(p.byKey)
	return buf, next
}

// encodeFull writes a full snapshot of items, whose values and keys value
// and key return, and points the items' refs into it.
func encodeFull(items []item, value, key func(int) []byte, kind byte, spec [8]byte, body [32]byte, polls uint32, hold [32]byte) []byte {
	buf := make([]byte, headerSize, fullSize(len(items), value, key))
	writeHeader(buf, kind, spec, body, polls, hold, len(items))
	for j := range items {
		items[j].val = ref{0, uint32(len(buf) + 4), uint32(len(value(j)))}
		buf = appendFramed(buf, value(j))
	}
	for j := range items {
		items[j].key = ref{0, uint32(len(buf) + 4), uint32(len(key(j)))}
		buf = appendFramed(buf, key(j))
	}
	return buf
}

// fullSize is the size of the full snapshot of n items.
func fullSize(n int, value, key func(int) []byte) int {
	size := headerSize
	for j := range n {
		size += 8 + len(value(j)) + len(key(j))
	}
	return size
}

// hold returns the result that keeps the items of old with the guard's
// state set to polls and candidate (polls 0 ends a hold): the held result
// of a suspicious poll, or the end of a hold on an unchanged body.
func (d *Differ) hold(old *State, polls uint32, candidate [32]byte) *Result {
	if polls == 0 {
		candidate = [32]byte{}
	}
	res := &Result{Held: polls > 0}
	runs := appendRuns(nil, nil, len(old.items))
	size := deltaHeaderSize + len(runs)
	if old.deltaFits(size) {
		res.Delta = make([]byte, deltaHeaderSize, size)
		writeDeltaHeader(res.Delta, old.body, polls, candidate, len(old.items), len(old.items), 0, len(runs))
		res.Delta = append(res.Delta, runs...)
		next := *old
		next.holdPolls, next.holdHash = polls, candidate
		next.deltas++
		next.deltaBytes += size
		res.Next = &next
		return res
	}
	next := &State{kind: old.kind, spec: old.spec, body: old.body, bodyLen: old.bodyLen, holdPolls: polls, holdHash: candidate,
		items: slices.Clone(old.items), byKey: old.byKey, byRaw: old.byRaw, sameKey: old.sameKey}
	res.Snapshot = encodeFull(next.items, old.value, old.key, old.kind, old.spec, old.body, polls, candidate)
	next.chunks, next.baseSize = [][]byte{res.Snapshot}, len(res.Snapshot)
	res.Next = next
	return res
}
