package differ

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"slices"
)

// State is what the differ knows about a job between two polls: the items
// (or the document) of the last applied response in canonical form, the
// guard's state, and per item the hash and length of the raw bytes it was
// read from, so that the next poll recognises unchanged items without
// parsing them. A State is immutable: Diff returns a new one in
// Result.Next and never modifies the one it compares with, so a caller
// whose commit fails keeps using the old one.
//
// A State is built by Diff, or by Load from what the store holds: a full
// snapshot (Result.Snapshot) followed by the deltas committed since
// (Result.Delta). The canonical bytes live in those very buffers, which the
// State keeps: its memory is about the stored size plus 48 bytes per item
// for its record and 32-64 for the two hash tables.
//
// Lean, given a reader of what the store holds, drops the values from
// memory and keeps only the keys: the State then costs about 60 bytes per
// item whatever the size of the items, and reads the values it needs (the
// before of changed and deleted items, and all of them when a new full
// snapshot is written) from the store.
type State struct {
	kind      byte
	spec      [8]byte
	body      [32]byte // SHA-256 of the raw body the items come from
	bodyLen   int      // its length; -1 when not known (a loaded state)
	holdPolls uint32
	holdHash  [32]byte
	pending   pendingSet // changes waiting for Spec.Debounce polls; nil when none

	chunks []chunk // chunks[0] is the full snapshot, then one per delta
	items  []item
	src    ChunkReader // reads what chunks do not hold; nil when they hold everything

	// Look-up tables over items (see table); nil in document mode.
	byKey table // by key; keyless: the first item with each content key
	byRaw table // by raw hash and length
	// sameKey chains keyless items with the same content key, in order:
	// the index of the next one, or -1.
	sameKey []int32

	baseSize   int // bytes of chunks[0]
	deltas     int // deltas stored since the full snapshot
	deltaBytes int // their total size
}

// ref locates bytes in a State's chunks.
type ref struct{ chunk, off, n uint32 }

// chunk is what a State holds in memory of one stored chunk (the full
// snapshot or a delta) of size bytes: its bytes from offset from on. A
// chunk built by Diff or Load holds all of them (from 0); a lean one only
// its tail from its first key on, since each chunk stores the values of
// its items first and their keys after them.
type chunk struct {
	from uint32
	size uint32
	data []byte
}

func wholeChunk(b []byte) chunk { return chunk{size: uint32(len(b)), data: b} }

// ChunkReader reads the bytes of a State's stored chunks that the State
// does not hold in memory: chunk 0 is the full snapshot, chunk k the k-th
// delta committed after it, as Load takes them. The store implements it.
type ChunkReader interface {
	ReadChunk(chunk int, p []byte, off int64) error
}

// readError carries a failed ChunkReader read out of the code that needed
// the bytes (panic) to the exported function that called it (recoverRead):
// value and key reads happen deep in the comparison, which has no error
// path, and a failed read must fail the poll, not compare wrong bytes.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }

// recoverRead turns a readError panic into *err; other panics go on.
func recoverRead(err *error) {
	if r := recover(); r != nil {
		re, ok := r.(readError)
		if !ok {
			panic(r)
		}
		*err = re.err
	}
}

// item is one item of a State. In document mode the document is the only
// item, without a key.
type item struct {
	val, key ref
	keyHash  uint64
	raw      uint64 // maphash of the raw bytes; with rawLen 0: unknown
	rawLen   uint32
}

// hashSeed seeds every hash the differ keeps in memory. It is random per
// process, so that a source cannot craft items whose hashes collide.
var hashSeed = maphash.MakeSeed()

func hashBytes(b []byte) uint64 { return maphash.Bytes(hashSeed, b) }

func (s *State) bytesOf(r ref) []byte {
	if b, ok := s.chunks[r.chunk].held(r); ok {
		return b
	}
	return s.read(r)
}

// held returns the bytes r locates when c holds them in memory.
func (c *chunk) held(r ref) ([]byte, bool) {
	o := int64(r.off) - int64(c.from)
	if o < 0 || o+int64(r.n) > int64(len(c.data)) {
		return nil, false
	}
	return c.data[o : o+int64(r.n) : o+int64(r.n)], true
}

// read reads bytes that s does not hold from the store, into memory of
// their own. A failure panics with a readError (see recoverRead).
func (s *State) read(r ref) []byte {
	b := make([]byte, r.n)
	s.readAt(r.chunk, b, r.off)
	return b
}

// readAt fills p from the store's chunk at off, or panics with a readError.
func (s *State) readAt(chunk uint32, p []byte, off uint32) {
	if s.src == nil {
		panic(readError{fmt.Errorf("%w: bytes %d to %d of chunk %d are not in memory and there is no reader", errSnapshot, off, int(off)+len(p), chunk)})
	}
	if err := s.src.ReadChunk(int(chunk), p, int64(off)); err != nil {
		panic(readError{fmt.Errorf("read snapshot chunk %d: %w", chunk, err)})
	}
}

// Lean returns s with the values of its items dropped from memory: they
// are read through src, which must read what the store holds for the
// state (see ChunkReader), when a later diff needs them. A lean state
// keeps its items' keys, hashes and lengths, about 60 bytes per item. A
// state of a document, whose one value is needed on every change, is
// returned as it is, as is s when src is nil.
//
// A State returned by Diff shares its predecessor's reader, which reads
// what the store held before the commit: once the commit succeeded, the
// caller makes the new state lean with a reader of what the store holds
// now.
func (s *State) Lean(src ChunkReader) *State {
	if s == nil || src == nil || s.kind == kindDocument {
		return s
	}
	keyStart := make([]uint32, len(s.chunks))
	for c := range keyStart {
		keyStart[c] = s.chunks[c].size
	}
	for i := range s.items {
		if k := s.items[i].key; k.off < keyStart[k.chunk] {
			keyStart[k.chunk] = k.off
		}
	}
	next := *s
	next.src = src
	next.chunks = make([]chunk, len(s.chunks))
	for c, ch := range s.chunks {
		from := keyStart[c]
		if from <= ch.from {
			next.chunks[c] = ch // already lean
			continue
		}
		// A copy, so that the values before it can be collected. A chunk
		// no item refers to any more keeps nothing.
		var data []byte
		if o := int(from - ch.from); o < len(ch.data) {
			data = bytes.Clone(ch.data[o:])
		}
		next.chunks[c] = chunk{from: from, size: ch.size, data: data}
	}
	return &next
}

func (s *State) value(i int) []byte { return s.bytesOf(s.items[i].val) }
func (s *State) key(i int) []byte   { return s.bytesOf(s.items[i].key) }

// Len is the number of items (1 in document mode).
func (s *State) Len() int { return len(s.items) }

// Items returns the items of an items-mode state in the order of the
// response they came from. The values share the state's memory, which is
// never modified (a lean state reads them from the store).
func (s *State) Items() (_ []Item, err error) {
	defer recoverRead(&err)
	if s.kind == kindDocument {
		return nil, fmt.Errorf("%w: holds a document, not items", errSnapshot)
	}
	items := make([]Item, len(s.items))
	for i := range items {
		items[i] = Item{Key: string(s.key(i)), Value: s.value(i)}
	}
	return items, nil
}

// Document returns the canonical document of a document-mode state. It
// shares the state's memory.
func (s *State) Document() (json.RawMessage, error) {
	if s.kind != kindDocument {
		return nil, fmt.Errorf("%w: holds items, not a document", errSnapshot)
	}
	return s.value(0), nil
}

// HeldPolls reports how many consecutive polls have shown the change set
// the guard is holding; 0 means nothing is held.
func (s *State) HeldPolls() int { return int(s.holdPolls) }

// Snapshot returns the state encoded as one full snapshot, the form
// Items, Document and HeldPolls read and Load takes without deltas.
func (s *State) Snapshot() []byte {
	b := encodeFull(slices.Clone(s.items), s.value, s.key, s.kind, s.spec, s.body, s.holdPolls, s.holdHash)
	if len(s.pending) > 0 {
		b = append(b, s.pending.encode()...)
		b[0] = pendingVersion
	}
	return b
}

// Deltas reports how many deltas follow the full snapshot in the store,
// and their total size in bytes.
func (s *State) Deltas() (n, size int) { return s.deltas, s.deltaBytes }

func appendFramed(dst, b []byte) []byte {
	dst = append(dst, 0, 0, 0, 0)
	putUint32(dst[len(dst)-4:], len(b))
	return append(dst, b...)
}

// index builds the look-up tables of an items-mode state once its items
// are final. byKey, when not empty, is the table of a keyed state's keys
// built while pairing.
func (s *State) index(byKey table) {
	if s.kind == kindDocument {
		return
	}
	s.byKey = byKey
	if s.kind == kindKeyless || len(byKey.slots) == 0 {
		s.byKey = newTable(len(s.items))
	}
	s.byRaw = newTable(len(s.items))
	if s.kind == kindKeyless {
		s.sameKey = make([]int32, len(s.items))
	}
	// Backwards, so that the chains of equal content keys come out in
	// order and the table keeps each key's first item.
	for i := len(s.items) - 1; i >= 0; i-- {
		it := &s.items[i]
		switch {
		case s.kind == kindKeyless:
			s.sameKey[i] = s.byKey.put(it.keyHash, int32(i), func(j int32) bool { return bytes.Equal(s.key(int(j)), s.key(i)) })
		case len(byKey.slots) == 0:
			s.byKey.put(it.keyHash, int32(i), nil)
		}
		if it.rawLen > 0 {
			s.byRaw.put(it.raw, int32(i), func(j int32) bool { return s.items[j].rawLen == it.rawLen })
		}
	}
}

// findKey returns the index of the item with key k (hash h), or -1; for
// keyless states the first item with that content key.
func (s *State) findKey(k []byte, h uint64) int32 {
	return s.byKey.get(h, func(i int32) bool { return bytes.Equal(s.key(int(i)), k) })
}

// findRaw returns an item read from raw bytes with hash h and length n, or -1.
func (s *State) findRaw(h uint64, n int) int32 {
	return s.byRaw.get(h, func(i int32) bool { return s.items[i].rawLen == uint32(n) })
}

// table is an open-addressing hash table of item indexes, keyed by a
// 64-bit hash the caller computed; equality beyond the hash is the
// caller's. A slot packs the hash's upper half with index+1 (0 is empty),
// so a probe touches one word. It has no pointers, so the garbage
// collector never scans it, and building one costs a few nanoseconds per
// item against a Go map's ~100.
type table struct{ slots []uint64 }

func newTable(n int) table {
	size := 8
	for size < 2*n {
		size *= 2
	}
	return table{slots: make([]uint64, size)}
}

func tag(h uint64) uint64 { return h &^ (1<<32 - 1) }

// put inserts i under h unless same (nil: never) reports an index already
// there to be equal; then the smaller index stays and the larger one is
// returned. It returns -1 when i was inserted.
func (t table) put(h uint64, i int32, same func(j int32) bool) int32 {
	mask := uint64(len(t.slots) - 1)
	for s := h & mask; ; s = (s + 1) & mask {
		v := t.slots[s]
		if v == 0 {
			t.slots[s] = tag(h) | uint64(i+1)
			return -1
		}
		if j := int32(uint32(v)) - 1; tag(v) == tag(h) && same != nil && same(j) {
			t.slots[s] = tag(h) | uint64(min(i, j)+1)
			return max(i, j)
		}
	}
}

// get returns the index stored under h for which same reports true, or -1.
func (t table) get(h uint64, same func(i int32) bool) int32 {
	if len(t.slots) == 0 {
		return -1
	}
	mask := uint64(len(t.slots) - 1)
	for s := h & mask; ; s = (s + 1) & mask {
		v := t.slots[s]
		if v == 0 {
			return -1
		}
		if j := int32(uint32(v)) - 1; tag(v) == tag(h) && same(j) {
			return j
		}
	}
}
