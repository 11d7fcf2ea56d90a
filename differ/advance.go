package differ

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"slices"
)

// advance builds the state after an applied items-mode poll, and what the
// store must write for it: a delta on old, or a full snapshot once the
// deltas would outgrow their budget (see maxDeltas).
func (d *Differ) advance(old *State, w *walker, p pairing, sum [32]byte) (snapshot []byte, plan *fullPlan, delta []byte, next *State) {
	// Per new item, an old item with the same value and key (whose bytes
	// the new state shares), or -1 when the delta carries it.
	src := make([]int32, len(w.items))
	size, fresh := deltaHeaderSize, 0
	for j := range w.items {
		switch i := p.oldOf[j]; {
		case w.items[j].prev >= 0:
			src[j] = w.items[j].prev
		case i >= 0 && bytes.Equal(w.oldValue(i), w.value(j)):
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
		snapshot, plan, next = d.full(w, src, sum, p)
		return snapshot, plan, nil, next
	}

	delta = make([]byte, deltaHeaderSize, size)
	writeDeltaHeader(delta, sum, 0, [32]byte{}, len(old.items), len(w.items), fresh, len(runs))
	next = &State{kind: d.kind, spec: d.fingerprint, body: sum, bodyLen: w.bodyLen, baseSize: old.baseSize,
		deltas: old.deltas + 1, deltaBytes: old.deltaBytes + size, items: make([]item, len(w.items))}
	ck := uint32(len(old.chunks))
	for pass := range 2 {
		for j, i := range src {
			it := &next.items[j]
			switch {
			case i >= 0 && pass == 0:
				*it = old.items[i]
			case i >= 0:
				continue
			case pass == 0:
				it.val = ref{ck, uint32(len(delta) + 4), uint32(len(w.value(j)))}
				delta = appendFramed(delta, w.value(j))
			default:
				it.key = ref{ck, uint32(len(delta) + 4), uint32(len(w.key(j)))}
				delta = appendFramed(delta, w.key(j))
			}
			it.keyHash, it.raw, it.rawLen = w.items[j].keyHash, w.items[j].raw, w.items[j].rawLen
		}
	}
	delta = append(delta, runs...)
	next.chunks = append(slices.Clip(old.chunks), wholeChunk(delta))
	next.src = old.src
	next.index(p.byKey)
	return nil, nil, delta, next
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
func (d *Differ) full(w *walker, src []int32, sum [32]byte, p pairing) ([]byte, *fullPlan, *State) {
	items := make([]item, len(w.items))
	for j := range items {
		items[j] = item{keyHash: w.items[j].keyHash, raw: w.items[j].raw, rawLen: w.items[j].rawLen}
	}
	if old := w.prev; old != nil && old.src != nil && src != nil {
		// A lean state: the values of the items kept go from the store to
		// the store when the plan is written, not through memory.
		// The plan keeps the canonical values of the new items, not the
		// walker, which holds the body. src[j] < 0 means that item j was
		// canonicalized (advance takes every recognised item from old).
		pend, out := w.items, w.c.out
		plan := &fullPlan{kind: d.kind, spec: d.fingerprint, body: sum, old: old,
			value: func(cur *valueCursor, j int) []byte {
				if i := src[j]; i >= 0 {
					return cur.value(int(i))
				}
				return pend[j].val.of(out)
			}}
		next := plan.layout(items, func(j int) int {
			if i := src[j]; i >= 0 {
				return int(old.items[i].val.n)
			}
			return len(w.value(j))
		}, func(j int) []byte {
			if i := src[j]; i >= 0 {
				return old.key(int(i))
			}
			return w.key(j)
		})
		next.bodyLen = w.bodyLen
		next.index(p.byKey)
		return nil, plan, next
	}
	var buf []byte
	if src == nil && w.prev == nil && len(w.c.out) == fullSize(len(items), w.value, w.key) {
		buf = w.c.out
		for j := range items {
			items[j].val = w.items[j].val.ref()
			items[j].key = w.items[j].key.ref()
		}
		writeHeader(buf, d.kind, d.fingerprint, sum, 0, [32]byte{}, len(items))
	} else {
		buf = encodeFull(items, w.value, w.key, d.kind, d.fingerprint, sum, 0, [32]byte{})
	}
	next := &State{kind: d.kind, spec: d.fingerprint, body: sum, bodyLen: w.bodyLen, chunks: []chunk{wholeChunk(buf)}, baseSize: len(buf), items: items}
	next.index(p.byKey)
	return buf, nil, next
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
		// The delta is a chunk of the stored state like any other, so
		// that chunk numbers stay those of the store.
		next.chunks = append(slices.Clip(old.chunks), wholeChunk(res.Delta))
		next.deltas++
		next.deltaBytes += size
		res.Next = &next
		return res
	}
	items := slices.Clone(old.items)
	if old.src != nil {
		res.plan = &fullPlan{kind: old.kind, spec: old.spec, body: old.body, polls: polls, hold: candidate, old: old,
			value: func(cur *valueCursor, j int) []byte { return cur.value(j) }}
		res.SnapshotTo = res.plan.writeTo
		next := res.plan.layout(items, func(j int) int { return int(old.items[j].val.n) }, old.key)
		next.bodyLen, next.byKey, next.byRaw, next.sameKey = old.bodyLen, old.byKey, old.byRaw, old.sameKey
		res.Next = next
		return res
	}
	next := &State{kind: old.kind, spec: old.spec, body: old.body, bodyLen: old.bodyLen, holdPolls: polls, holdHash: candidate,
		items: items, byKey: old.byKey, byRaw: old.byRaw, sameKey: old.sameKey}
	res.Snapshot = encodeFull(next.items, old.value, old.key, old.kind, old.spec, old.body, polls, candidate)
	next.chunks, next.baseSize = []chunk{wholeChunk(res.Snapshot)}, len(res.Snapshot)
	res.Next = next
	return res
}

// fullPlan is a full snapshot of a lean state laid out but not yet
// written: writeTo writes it straight into the store (Result.SnapshotTo),
// reading the values kept from the old state's chunks through a small
// window, so that a snapshot of any size never is in memory as a whole.
type fullPlan struct {
	kind    byte
	spec    [8]byte
	body    [32]byte
	polls   uint32
	hold    [32]byte
	pending []byte // the pending set's section (format version 2); nil for none

	old   *State                               // the state whose chunks the values kept are read from
	value func(cur *valueCursor, j int) []byte // the value of item j
	n     int
	keys  []byte // the framed keys, as they follow the values
}

// layout points the refs of items (whose values have the lengths size
// returns and whose keys key returns) at where writeTo puts them, and
// returns the state of the written snapshot: lean, holding its keys and
// sharing the old state's reader until the caller gives it the new one.
func (p *fullPlan) layout(items []item, size func(int) int, key func(int) []byte) *State {
	p.n = len(items)
	off := headerSize
	for j := range items {
		n := size(j)
		items[j].val = ref{0, uint32(off + 4), uint32(n)}
		off += 4 + n
	}
	keysFrom := off
	for j := range items {
		k := key(j)
		items[j].key = ref{0, uint32(off + 4), uint32(len(k))}
		p.keys = appendFramed(p.keys, k)
		off += 4 + len(k)
	}
	return &State{kind: p.kind, spec: p.spec, body: p.body, holdPolls: p.polls, holdHash: p.hold, items: items, src: p.old.src,
		chunks: []chunk{{from: uint32(keysFrom), size: uint32(off), data: p.keys}}, baseSize: off}
}

// writeTo writes the snapshot: header, values, keys and pending section.
func (p *fullPlan) writeTo(w io.Writer) (err error) {
	defer recoverRead(&err)
	bw := bufio.NewWriterSize(w, 64<<10)
	head := make([]byte, headerSize)
	writeHeader(head, p.kind, p.spec, p.body, p.polls, p.hold, p.n)
	if p.pending != nil {
		head[0] = pendingVersion
	}
	bw.Write(head)
	cur := &valueCursor{s: p.old, chunk: -1}
	var frame [4]byte
	for j := range p.n {
		v := p.value(cur, j)
		putUint32(frame[:], len(v))
		bw.Write(frame[:])
		bw.Write(v)
	}
	bw.Write(p.keys)
	bw.Write(p.pending)
	return bw.Flush() // bufio keeps the first write error and returns it here
}

// valueCursor reads the values of a state's items through a window of
// windowSize bytes, so that reading them in stored order costs one read
// per window rather than one per item. A value it returns is valid until
// its next call.
type valueCursor struct {
	s     *State
	chunk int // of the window; -1 before the first read
	off   uint32
	buf   []byte
}

const windowSize = 256 << 10

func (c *valueCursor) value(i int) []byte {
	r := c.s.items[i].val
	ch := &c.s.chunks[r.chunk]
	if b, ok := ch.held(r); ok {
		return b
	}
	if int(r.chunk) == c.chunk && r.off >= c.off && r.off+r.n <= c.off+uint32(len(c.buf)) {
		return c.buf[r.off-c.off : r.off-c.off+r.n]
	}
	// Values come before the keys a lean chunk holds: read up to them.
	end := ch.size
	if ch.from > r.off {
		end = ch.from
	}
	n := max(r.n, min(windowSize, end-r.off))
	if cap(c.buf) < int(n) {
		c.buf = make([]byte, n)
	}
	c.buf = c.buf[:n]
	c.chunk = -1 // until the read succeeded
	c.s.readAt(r.chunk, c.buf, r.off)
	c.chunk, c.off = int(r.chunk), r.off
	return c.buf[:r.n]
}
