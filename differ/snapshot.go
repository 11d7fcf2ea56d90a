package differ

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Full snapshot format, version 1. Everything the differ needs between
// polls, the guard's state included, lives in this one value (or in it and
// the deltas that follow it, see delta.go) so that the store commits it
// atomically with the events. All integers are little-endian.
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

// span is the position of a value or key inside a buffer.
type span struct{ off, end int }

// snapshot is a decoded view of an encoded full snapshot; it shares buf.
type snapshot struct {
	buf       []byte
	kind      byte
	spec      [8]byte
	body      [32]byte
	holdPolls uint32
	holdHash  [32]byte
	pending   pendingSet // format version 2 only
	values    []span
	keys      []span
}

func (s *snapshot) value(i int) []byte { return s.buf[s.values[i].off:s.values[i].end] }
func (s *snapshot) key(i int) []byte   { return s.buf[s.keys[i].off:s.keys[i].end] }

func putUint32(b []byte, n int) { binary.LittleEndian.PutUint32(b, uint32(n)) }

// writeHeader fills in the header of a full snapshot at the start of b.
func writeHeader(b []byte, kind byte, spec [8]byte, body [32]byte, polls uint32, hold [32]byte, n int) {
	b[0] = formatVersion
	b[offKind] = kind
	copy(b[offSpec:], spec[:])
	copy(b[offBody:], body[:])
	binary.LittleEndian.PutUint32(b[offHoldPolls:], polls)
	copy(b[offHoldHash:], hold[:])
	putUint32(b[offCount:], n)
}

// errSnapshot prefixes every snapshot decoding error.
var errSnapshot = errors.New("snapshot")

func decodeSnapshot(b []byte) (*snapshot, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", errSnapshot)
	}
	if b[0] != formatVersion && b[0] != pendingVersion {
		return nil, fmt.Errorf("%w: format version %d is not supported (this build reads versions %d and %d)", errSnapshot, b[0], formatVersion, pendingVersion)
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
	s.values = make([]span, n)
	s.keys = make([]span, n)
	pos, err := readFramed(b, headerSize, s.values)
	if err == nil {
		pos, err = readFramed(b, pos, s.keys)
	}
	if err != nil {
		return nil, err
	}
	if b[0] == pendingVersion {
		if s.pending, err = decodePending(b[pos:]); err != nil {
			return nil, err
		}
		pos = len(b)
	}
	if pos != len(b) {
		return nil, fmt.Errorf("%w: %d unexpected bytes after the last key", errSnapshot, len(b)-pos)
	}
	return s, nil
}

// readFramed reads len(dst) length-prefixed values from b at pos and
// returns the position after them.
func readFramed(b []byte, pos int, dst []span) (int, error) {
	for i := range dst {
		if len(b)-pos < 4 {
			return 0, fmt.Errorf("%w: truncated at byte %d", errSnapshot, pos)
		}
		l := int(binary.LittleEndian.Uint32(b[pos:]))
		pos += 4
		if l > len(b)-pos {
			return 0, fmt.Errorf("%w: truncated at byte %d", errSnapshot, pos)
		}
		dst[i] = span{pos, pos + l}
		pos += l
	}
	return pos, nil
}

// Items returns the items stored in an items-mode full snapshot, in the
// order of the response they came from. The values share memory with
// snapshot. State.Items reads a snapshot with its deltas.
func Items(snapshot []byte) ([]Item, error) {
	s, err := Load(snapshot, nil)
	if err != nil {
		return nil, err
	}
	return s.Items()
}

// Document returns the canonical document stored in a document-mode full
// snapshot. It shares memory with snapshot.
func Document(snapshot []byte) (json.RawMessage, error) {
	s, err := Load(snapshot, nil)
	if err != nil {
		return nil, err
	}
	return s.Document()
}

// HeldPolls reports how many consecutive polls have shown the change set
// the guard is holding in a full snapshot; 0 means nothing is held.
func HeldPolls(snapshot []byte) (int, error) {
	s, err := decodeSnapshot(snapshot)
	if err != nil {
		return 0, err
	}
	return int(s.holdPolls), nil
}
