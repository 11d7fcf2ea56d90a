package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// An event chunk holds consecutive events of one job in a binary layout with
// an offset table, so that Pending decodes only the events it returns rather
// than the whole chunk:
//
//	format(1) count(uvarint) end offset of each event (count × uint32, relative to the body) body
//
// Each event in the body is ID, Type, Key and Data as uvarint-length-prefixed
// bytes plus Time as varint Unix nanoseconds. Seq and Job are not stored:
// they follow from the chunk's key.
const chunkFormat = 1

// Event chunks close at this many bytes or events. Badger copies a value
// twice on every read, and Pending reads the whole chunk holding the cursor,
// so chunks are small; the event cap also bounds how far before the cursor
// Pending looks for that chunk. A single larger event gets a chunk of its own.
const (
	chunkTargetBytes = 16 << 10
	chunkMaxEvents   = 128
)

var errBadChunk = errors.New("store: malformed event chunk")

// encodeChunks splits events (whose Seq values are consecutive) into chunks
// and calls emit with the first sequence number, the event count and the
// encoding of each.
func encodeChunks(events []Event, emit func(first uint64, count int, chunk []byte) error) error {
	var body []byte
	var ends []uint32
	start := 0
	flush := func(end int) error {
		b := make([]byte, 0, 1+binary.MaxVarintLen64+4*len(ends)+len(body))
		b = append(b, chunkFormat)
		b = binary.AppendUvarint(b, uint64(len(ends)))
		for _, e := range ends {
			b = binary.BigEndian.AppendUint32(b, e)
		}
		b = append(b, body...)
		if err := emit(events[start].Seq, len(ends), b); err != nil {
			return err
		}
		body, ends, start = body[:0], ends[:0], end
		return nil
	}
	for i := range events {
		body = appendEvent(body, &events[i])
		ends = append(ends, uint32(len(body)))
		if len(body) >= chunkTargetBytes || len(ends) >= chunkMaxEvents {
			if err := flush(i + 1); err != nil {
				return err
			}
		}
	}
	if len(ends) > 0 {
		return flush(len(events))
	}
	return nil
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendEvent(b []byte, ev *Event) []byte {
	b = appendString(b, ev.ID)
	b = appendString(b, ev.Type)
	b = appendString(b, ev.Key)
	b = binary.AppendVarint(b, ev.Time.UnixNano())
	return appendBytes(b, ev.Data)
}

// chunkMarker is the value of a chunk's marker key: what a reader or the
// pruner needs to know about the chunk without reading it.
type chunkMarker struct {
	count uint32 // events in the chunk
	parts uint32 // parts it is stored in
}

func (m chunkMarker) encode() []byte {
	return binary.AppendUvarint(binary.AppendUvarint(nil, uint64(m.count)), uint64(m.parts))
}

func decodeMarker(b []byte) (chunkMarker, error) {
	count, w1 := binary.Uvarint(b)
	if w1 <= 0 {
		return chunkMarker{}, errBadChunk
	}
	parts, w2 := binary.Uvarint(b[w1:])
	if w2 <= 0 || w1+w2 != len(b) || count == 0 || count > chunkMaxEvents || parts > 1<<31 {
		return chunkMarker{}, errBadChunk
	}
	return chunkMarker{count: uint32(count), parts: uint32(parts)}, nil
}

// last is the sequence number of the last event of the chunk starting at first.
func (m chunkMarker) last(first uint64) uint64 { return first + uint64(m.count) - 1 }

// chunk is a decoded view of an encoded event chunk; it aliases the encoding.
type chunk struct {
	first uint64
	count int
	ends  []byte // count × uint32
	body  []byte
}

func parseChunk(first uint64, b []byte) (chunk, error) {
	if len(b) == 0 || b[0] != chunkFormat {
		return chunk{}, errBadChunk
	}
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || n > uint64(len(b)) {
		return chunk{}, errBadChunk
	}
	rest := b[1+w:]
	if uint64(len(rest)) < 4*n {
		return chunk{}, errBadChunk
	}
	c := chunk{first: first, count: int(n), ends: rest[:4*n], body: rest[4*n:]}
	if n > 0 && int(binary.BigEndian.Uint32(c.ends[4*(n-1):])) != len(c.body) {
		return chunk{}, errBadChunk
	}
	return c, nil
}

// event decodes event i of the chunk into memory of its own, so that it
// outlives the Badger transaction the chunk was read in.
func (c chunk) event(i int, job string) (Event, error) {
	start := 0
	if i > 0 {
		start = int(binary.BigEndian.Uint32(c.ends[4*(i-1):]))
	}
	end := int(binary.BigEndian.Uint32(c.ends[4*i:]))
	if start > end || end > len(c.body) {
		return Event{}, errBadChunk
	}
	d := decoder{b: c.body[start:end]}
	ev := Event{Seq: c.first + uint64(i), Job: job}
	ev.ID = string(d.bytes())
	ev.Type = string(d.bytes())
	ev.Key = string(d.bytes())
	ev.Time = time.Unix(0, d.varint()).UTC()
	if data := d.bytes(); len(data) > 0 {
		ev.Data = json.RawMessage(append([]byte(nil), data...))
	}
	if d.err != nil || len(d.b) != 0 {
		return Event{}, fmt.Errorf("%w: event %d", errBadChunk, ev.Seq)
	}
	return ev, nil
}

// decoder reads the fields of one encoded event; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) bytes() []byte {
	n, w := binary.Uvarint(d.b)
	if d.err != nil || w <= 0 || n > uint64(len(d.b)-w) {
		d.err = errBadChunk
		return nil
	}
	s := d.b[w : w+int(n)]
	d.b = d.b[w+int(n):]
	return s
}

func (d *decoder) varint() int64 {
	v, w := binary.Varint(d.b)
	if d.err != nil || w <= 0 {
		d.err = errBadChunk
		return 0
	}
	d.b = d.b[w:]
	return v
}

func decodeJSON(what string, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("store: decode %s: %w", what, err)
	}
	return nil
}
