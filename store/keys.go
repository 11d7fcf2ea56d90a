package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Key layout. Every key starts with a one-byte kind; names are written as a
// big-endian uint16 length followed by the bytes, so that a job called "a"
// never shares a prefix with a job called "ab", and numbers are big-endian so
// that Badger's byte order is numeric order.
//
//	'v'                                  format version of the database
//	'h' name(job)                        head record (JSON headRecord)
//	's' name(job) version(8) part(4)     one part of the snapshot written at version
//	'e' name(job) first(8)               event chunk marker: its event and part counts
//	'p' name(job) first(8) part(4)       one part of the event chunk starting at seq first
//	'l' name(job) dest(rest)             lane state (JSON LaneState)
//	'j' name(job)                        the job's lane destinations (JSON []string, sorted)
//	'd' name(dest) deadAt(8) name(job) seq(8)
//	                                     dead letter (JSON DeadLetter), oldest first per destination
//	'r' name(job) name(dest) seq(8)      queued redelivery (JSON Redelivery), in event order per lane
//	'x' name(dest)                       pause of a destination (JSON Pause)
//
// Every value lives in the LSM tree, and a Badger iterator copies the value
// of each item it passes (and of two items ahead) even when values are not
// prefetched. So nothing iterates over large values: snapshot and chunk parts
// are read with Get under keys computed from the head and the small chunk
// markers, and iteration is kept to markers, heads, lanes and orphans.
const (
	kindFormat     = 'v'
	kindHead       = 'h'
	kindSnapshot   = 's'
	kindChunk      = 'e'
	kindChunkPart  = 'p'
	kindLane       = 'l'
	kindLaneIndex  = 'j'
	kindDeadLetter = 'd'
	kindRedelivery = 'r'
	kindPause      = 'x'
)

// formatVersion is written under the 'v' key; a database written by a newer,
// incompatible layout is refused instead of misread.
const formatVersion = "1"

var errBadKey = errors.New("store: malformed key")

// appendName appends a length-prefixed name.
func appendName(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// readName reads a length-prefixed name and returns it with the rest of b.
func readName(b []byte) (string, []byte, error) {
	if len(b) < 2 {
		return "", nil, errBadKey
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+n {
		return "", nil, errBadKey
	}
	return string(b[2 : 2+n]), b[2+n:], nil
}

// checkName rejects names that the key layout cannot hold.
func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("store: empty %s name", what)
	case len(s) > math.MaxUint16:
		return fmt.Errorf("store: %s name of %d bytes is too long", what, len(s))
	}
	return nil
}

func formatKey() []byte { return []byte{kindFormat} }

func headKey(job string) []byte { return appendName([]byte{kindHead}, job) }

// jobPrefix is the prefix of every key of one kind that belongs to job.
func jobPrefix(kind byte, job string) []byte { return appendName([]byte{kind}, job) }

// seqPrefix is the prefix of every part of one snapshot version ('s') or of
// one event chunk ('p'), and the key of a chunk marker ('e').
func seqPrefix(kind byte, job string, n uint64) []byte {
	return binary.BigEndian.AppendUint64(jobPrefix(kind, job), n)
}

func partKey(kind byte, job string, n uint64, part uint32) []byte {
	return binary.BigEndian.AppendUint32(seqPrefix(kind, job, n), part)
}

// partKeys appends the keys of parts 0..parts-1 under (kind, job, n).
func partKeys(keys [][]byte, kind byte, job string, n uint64, parts uint32) [][]byte {
	for p := range parts {
		keys = append(keys, partKey(kind, job, n, p))
	}
	return keys
}

// parseSeqKey splits a snapshot-part, chunk-marker or chunk-part key into
// its job and its version or first sequence number.
func parseSeqKey(k []byte) (job string, n uint64, err error) {
	if len(k) == 0 {
		return "", 0, errBadKey
	}
	job, rest, err := readName(k[1:])
	if err != nil {
		return "", 0, err
	}
	if len(rest) < 8 {
		return "", 0, errBadKey
	}
	return job, binary.BigEndian.Uint64(rest), nil
}

// prefixEnd is the first key after every key that starts with p (nil when
// there is none).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func laneKey(dest, job string) []byte { return append(jobPrefix(kindLane, job), dest...) }

// laneIndexKey holds the list of a job's lanes. Pruning reads it instead of
// iterating the lane keys, because every Ack writes a new version of a lane
// key and an iterator steps over all versions still in the memtable.
func laneIndexKey(job string) []byte { return appendName([]byte{kindLaneIndex}, job) }

func parseLaneKey(k []byte) (dest, job string, err error) {
	if len(k) == 0 || k[0] != kindLane {
		return "", "", errBadKey
	}
	job, rest, err := readName(k[1:])
	if err != nil {
		return "", "", err
	}
	return string(rest), job, nil
}

func deadLetterPrefix(dest string) []byte {
	if dest == "" {
		return []byte{kindDeadLetter}
	}
	return appendName([]byte{kindDeadLetter}, dest)
}

func deadLetterKey(dl *DeadLetter) []byte {
	k := appendName([]byte{kindDeadLetter}, dl.Destination)
	k = binary.BigEndian.AppendUint64(k, uint64(dl.DeadAt.UnixNano()))
	k = appendName(k, dl.Event.Job)
	return binary.BigEndian.AppendUint64(k, dl.Event.Seq)
}

// redeliveryPrefix is the prefix of one lane's queued redeliveries.
func redeliveryPrefix(dest, job string) []byte {
	return appendName(appendName([]byte{kindRedelivery}, job), dest)
}

func redeliveryKey(dest, job string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(redeliveryPrefix(dest, job), seq)
}

func pauseKey(dest string) []byte { return appendName([]byte{kindPause}, dest) }
