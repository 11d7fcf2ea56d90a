package differ

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Snapshot format, version 1. Everything the differ needs between polls,
// the guard's state included, lives in this one value so that the store
// commits it atomically with the events. All integers are little-endian.
//
//	offset  size  field
//	0       1     format version (1)
//	1       1     kind: 1 document, 2 keyed items, 3 items without key
//	2       8     fingerprint of the comparison rules (items, key, ignore)
//	10      32    SHA-256 of the raw body the items come from
//	42      4     guard: polls that showed the held candidate (0 = none)
//	46      32    guard: SHA-256 of the held candidate
//	78      4     item count n (1 in document mode)
//	82            n × (4-byte length, canonical JSON value)
//	              n × (4-byte length, key; empty in document mode)
const (
	formatVersion = 1

	offKind      = 1
	offSpec      = 2
	offBody      = 10
	offHoldPolls = 42
	offHoldHash  = 46
	offCount     = 78
	headerSize   = 82
)

// Snapshot kinds.
const (
	kindDocument byte = 1
	kindKeyed    byte = 2
	kindKeyless  byte = 3
)

// Item is one item of a snapshot in items mode.
type Item struct {
	Key   string          // as in Change.Key
	Value json.RawMessage // canonical JSON, ignored fields dropped
}

// span is the position of a value or key inside a snapshot buffer.
type span struct{ off, end int }

// snapshot is a decoded view of an encoded snapshot; it shares buf.
type snapshot struct {
	buf       []byte
	kind      byte
	spec      [8]byte
	body      [32]byte
	holdPolls uint32
	holdHash  [32]byte
	values    []span
	keys      []span
}

func (s *snapshot) value(i int) []byte { return s.buf[s.values[i].off:s.values[i].end] }
func (s *snapshot) key(i int) []byte   { return s.buf[s.keys[i].off:s.keys[i].end] }

// keyRegion is the part of buf holding the keys, for building one string
// whose substrings serve as map keys without an allocation per key.
func (s *snapshot) keyRegion() (start int, region string) {
	if len(s.keys) == 0 {
		return 0, ""
	}
	start = s.keys[0].off
	return start, string(s.buf[start:s.keys[len(s.keys)-1].end])
}

func putUint32(b []byte, n int) { binary.LittleEndian.PutUint32(b, uint32(n)) }

// errSnapshot prefixes every snapshot decoding error.
var errSnapshot = errors.New("snapshot")

func decodeSnapshot(b []byte) (*snapshot, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", errSnapshot)
	}
	if b[0] != formatVersion {
		return nil, fmt.Errorf("%w: format version %d is not supported (this build reads version %d)", errSnapshot, b[0], formatVersion)
	}
	if len(b) < headerSize {
		return nil, fmt.Errorf("%w: truncated header (%d bytes)", errSnapshot, len(b))
	}
	s := &snapshot{buf: b, kind: b[offKind], holdPolls: binary.LittleEndian.Uint32(b[offHoldPolls:])}
	if s.kind < kindDocument || s.kind > kindKeyless {
		return nil, fmt.Errorf("%w: unknown kind %d", errSnapshot, s.kind)
	}
	copy(s.spec[:], b[offSpec:])
	copy(s.body[:], b[offBody:])
	copy(s.holdHash[:], b[offHoldHash:])
	n := int(binary.LittleEndian.Uint32(b[offCount:]))
	// Each entry takes at least 8 bytes; checking first keeps a corrupt
	// count from allocating gigabytes.
	if n > (len(b)-headerSize)/8 || (s.kind == kindDocument && n != 1) {
		return nil, fmt.Errorf("%w: item count %d does not fit %d bytes", errSnapshot, n, len(b))
	}
	pos := headerSize
	read := func(dst []span) error {
		for i := range dst {
			if len(b)-pos < 4 {
				return fmt.Errorf("%w: truncated at byte %d", errSnapshot, pos)
			}
			l := int(binary.LittleEndian.Uint32(b[pos:]))
			pos += 4
			if l > len(b)-pos {
				return fmt.Errorf("%w: truncated at byte %d", errSnapshot, pos)
			}
			dst[i] = span{pos, pos + l}
			pos += l
		}
		return nil
	}
	s.values = make([]span, n)
	s.keys = make([]span, n)
	if err := read(s.values); err != nil {
		return nil, err
	}
	if err := read(s.keys); err != nil {
		return nil, err
	}
	if pos != len(b) {
		return nil, fmt.Errorf("%w: %d unexpected bytes after the last key", errSnapshot, len(b)-pos)
	}
	return s, nil
}

// withHold returns a copy of the encoded snapshot b with the guard state
// replaced; polls 0 clears it.
func withHold(b []byte, polls uint32, candidate [32]byte) []byte {
	out := make([]byte, len(b))
	copy(out, b)
	binary.LittleEndian.PutUint32(out[offHoldPolls:], polls)
	if polls == 0 {
		candidate = [32]byte{}
	}
	copy(out[offHoldHash:], candidate[:])
	return out
}

// Items returns the items stored in an items-mode snapshot, in the order of
// the response they came from. The values share memory with snapshot.
func Items(snapshot []byte) ([]Item, error) {
	s, err := decodeSnapshot(snapshot)
	if err != nil {
		return nil, err
	}
	if s.kind == kindDocument {
		return nil, fmt.Errorf("%w: holds a document, not items", errSnapshot)
	}
	items := make([]Item, len(s.values))
	for i := range items {
		items[i] = Item{Key: string(s.key(i)), Value: s.value(i)}
	}
	return items, nil
}

// Document returns the canonical document stored in a document-mode
// snapshot. It shares memory with snapshot.
func Document(snapshot []byte) (json.RawMessage, error) {
	s, err := decodeSnapshot(snapshot)
	if err != nil {
		return nil, err
	}
	if s.kind != kindDocument {
		return nil, fmt.Errorf("%w: holds items, not a document", errSnapshot)
	}
	return s.value(0), nil
}

// HeldPolls reports how many consecutive polls have shown the change set
// the guard is holding; 0 means nothing is held.
func HeldPolls(snapshot []byte) (int, error) {
	s, err := decodeSnapshot(snapshot)
	if err != nil {
		return 0, err
	}
	return int(s.holdPolls), nil
}
