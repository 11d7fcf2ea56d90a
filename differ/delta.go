package differ

import (
	"encoding/binary"
	"fmt"
)

// A delta records one poll's change of a State, so that a changed poll
// stores what changed instead of rewriting every item. The store keeps a
// full snapshot and the deltas committed since, and Load replays them.
// Integers are little-endian unless said otherwise.
//
//	offset  size  field
//	0       1     delta format version (1)
//	1       32    SHA-256 of the raw body the items come from
//	33      4     guard: polls that showed the held candidate (0 = none)
//	37      32    guard: SHA-256 of the held candidate
//	69      4     items of the state the delta applies to
//	73      4     items after it
//	77      4     new values m
//	81      4     size of the run list
//	85            m × (4-byte length, canonical JSON value)
//	              m × (4-byte length, key)
//	              the run list
//
// The run list spells the items after the delta in order, as runs: a
// uvarint count<<1|1 takes the next count new values, a uvarint count<<1
// followed by a uvarint start copies count items from start on of the
// state the delta applies to.
const (
	deltaVersion = 1

	offDeltaBody      = 1
	offDeltaHoldPolls = 33
	offDeltaHoldHash  = 37
	offDeltaPrev      = 69
	offDeltaCount     = 73
	offDeltaValues    = 77
	offDeltaRuns      = 81
	deltaHeaderSize   = 85
)

// Deltas are given up for a full snapshot once there are this many, or
// once they add up to more than half the full snapshot: Load replays every
// one, and the state keeps the bytes of all of them.
const maxDeltas = 64

// runs encodes the run list of a state whose item j is a copy of item
// src[j] of the previous state, or new when src[j] is -1. A nil src copies
// all n items of the previous state as they are.
func appendRuns(dst []byte, src []int32, n int) []byte {
	if src == nil {
		if n == 0 {
			return dst
		}
		return binary.AppendUvarint(binary.AppendUvarint(dst, uint64(n)<<1), 0)
	}
	for j := 0; j < len(src); {
		k := j + 1
		if src[j] < 0 {
			for k < len(src) && src[k] < 0 {
				k++
			}
			dst = binary.AppendUvarint(dst, uint64(k-j)<<1|1)
		} else {
			for k < len(src) && src[k] == src[k-1]+1 {
				k++
			}
			dst = binary.AppendUvarint(dst, uint64(k-j)<<1)
			dst = binary.AppendUvarint(dst, uint64(src[j]))
		}
		j = k
	}
	return dst
}

// Load builds the State that a full snapshot and the deltas committed
// after it describe, as the store returns them. An empty base without
// deltas is no state (nil): the job has not been polled yet. The state
// keeps and shares the given buffers, which must not be modified.
//
// A loaded state does not know the raw bytes its items came from; it
// assumes they were their canonical form, so that a source that already
// sends canonical JSON is recognised at once, and any other costs one
// full parse on the next poll.
func Load(base []byte, deltas [][]byte) (*State, error) {
	if len(base) == 0 {
		if len(deltas) > 0 {
			return nil, fmt.Errorf("%w: %d deltas without a full snapshot", errSnapshot, len(deltas))
		}
		return nil, nil
	}
	snap, err := decodeSnapshot(base)
	if err != nil {
		return nil, err
	}
	s := &State{
		kind: snap.kind, spec: snap.spec, body: snap.body, bodyLen: -1, holdPolls: snap.holdPolls, holdHash: snap.holdHash, pending: snap.pending,
		chunks: append(make([]chunk, 0, 1+len(deltas)), wholeChunk(base)), baseSize: len(base),
	}
	// Replay the deltas on indexes into refs, the items of the snapshot
	// and then the new values of each delta, and build the items once.
	vals := make([]ref, len(snap.values), len(snap.values)+64)
	keys := make([]ref, len(snap.values), len(snap.values)+64)
	order := make([]int32, len(snap.values))
	for i := range snap.values {
		vals[i], keys[i] = spanRef(0, snap.values[i]), spanRef(0, snap.keys[i])
		order[i] = int32(i)
	}
	for k, d := range deltas {
		chunk := uint32(1 + k)
		if order, err = s.replay(d, chunk, order, &vals, &keys); err != nil {
			return nil, fmt.Errorf("%w: delta %d: %w", errSnapshot, k+1, err)
		}
		s.chunks = append(s.chunks, wholeChunk(d))
		s.deltas++
		s.deltaBytes += len(d)
	}
	if s.kind == kindDocument && len(order) != 1 {
		return nil, fmt.Errorf("%w: %d documents", errSnapshot, len(order))
	}
	s.items = make([]item, len(order))
	for i, o := range order {
		it := &s.items[i]
		it.val, it.key = vals[o], keys[o]
		v := s.bytesOf(it.val)
		it.keyHash = hashBytes(s.bytesOf(it.key))
		it.raw, it.rawLen = hashBytes(v), uint32(len(v))
	}
	s.index(table{})
	return s, nil
}

func spanRef(chunk uint32, sp span) ref {
	return ref{chunk: chunk, off: uint32(sp.off), n: uint32(sp.end - sp.off)}
}

// replay applies the delta d (stored as chunk) to the items order of the
// state being loaded, appending its new values to vals and keys, and
// updates the header fields of s.
func (s *State) replay(d []byte, chunk uint32, order []int32, vals, keys *[]ref) ([]int32, error) {
	if len(d) < deltaHeaderSize {
		return nil, fmt.Errorf("truncated header (%d bytes)", len(d))
	}
	if d[0] != deltaVersion && d[0] != pendingVersion {
		return nil, fmt.Errorf("format version %d is not supported (this build reads versions %d and %d)", d[0], deltaVersion, pendingVersion)
	}
	u32 := func(off int) int { return int(binary.LittleEndian.Uint32(d[off:])) }
	if prev := u32(offDeltaPrev); prev != len(order) {
		return nil, fmt.Errorf("applies to %d items, not %d", prev, len(order))
	}
	count, m, runsLen := u32(offDeltaCount), u32(offDeltaValues), u32(offDeltaRuns)
	if m > (len(d)-deltaHeaderSize)/8 {
		return nil, fmt.Errorf("%d new values do not fit %d bytes", m, len(d))
	}
	newVals, newKeys := make([]span, m), make([]span, m)
	pos, err := readFramed(d, deltaHeaderSize, newVals)
	if err == nil {
		pos, err = readFramed(d, pos, newKeys)
	}
	if err != nil {
		return nil, err
	}
	// Each delta carries the whole pending set (version 2), or none.
	var pend pendingSet
	if d[0] == pendingVersion && runsLen <= len(d)-pos {
		if pend, err = decodePending(d[pos+runsLen:]); err != nil {
			return nil, err
		}
		d = d[:pos+runsLen]
	}
	if len(d)-pos != runsLen {
		return nil, fmt.Errorf("run list of %d bytes, header says %d", len(d)-pos, runsLen)
	}
	first := int32(len(*vals))
	for i := range newVals {
		*vals = append(*vals, spanRef(chunk, newVals[i]))
		*keys = append(*keys, spanRef(chunk, newKeys[i]))
	}
	// Items without a key may repeat one earlier item many times, so
	// count is not bounded by the items before plus the new values; it is
	// checked as the runs are read, before they allocate.
	next := make([]int32, 0, min(count, len(order)+m))
	used := 0
	runs := d[pos:]
	for len(runs) > 0 {
		v, w := binary.Uvarint(runs)
		if w <= 0 {
			return nil, fmt.Errorf("malformed run list")
		}
		runs = runs[w:]
		n := int(v >> 1)
		if v>>1 > uint64(count-len(next)) {
			return nil, fmt.Errorf("runs give more than %d items", count)
		}
		if v&1 == 1 {
			if n > m-used {
				return nil, fmt.Errorf("runs take more than its %d new values", m)
			}
			for range n {
				next = append(next, first+int32(used))
				used++
			}
			continue
		}
		start, w := binary.Uvarint(runs)
		if w <= 0 || start > uint64(len(order)) || uint64(n) > uint64(len(order))-start {
			return nil, fmt.Errorf("malformed run list")
		}
		runs = runs[w:]
		next = append(next, order[start:start+uint64(n)]...)
	}
	if used != m || len(next) != count {
		return nil, fmt.Errorf("runs give %d items and take %d new values, header says %d and %d", len(next), used, count, m)
	}
	copy(s.body[:], d[offDeltaBody:])
	s.holdPolls = binary.LittleEndian.Uint32(d[offDeltaHoldPolls:])
	copy(s.holdHash[:], d[offDeltaHoldHash:])
	s.pending = pend
	return next, nil
}
