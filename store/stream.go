package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The stream log: a copy of every committed event, kept for a retention
// period in event id order (ids sort in the order Commit assigns them), so
// that clients of the event streams (SSE, WebSocket) can resume after a
// disconnect or a restart. It is separate from the jobs' logs, which keep
// an event only until every lane of its job has delivered it and keep none
// for a job without destinations.
//
// Keys, beside those of keys.go:
//
//	'w' lastID                 stream chunk marker: job, first seq, event and part counts
//	'W' lastID part(4)         one part of the stream chunk whose last event is lastID
//
// A chunk holds consecutive events of one commit, encoded as the jobs' log
// chunks are (codec.go), and is keyed by the id of its last event, so that
// seeking to an id finds the chunk holding it, or the first one after it.
// A commit writes the markers of its chunks in its flip transaction (and
// the parts too, when they fit): a reader, who only follows markers, sees
// a commit's stream events exactly when the commit is visible. Parts that
// do not fit are staged before the flip; a crash before it leaves parts
// that no marker names, removed with the rest when their ids fall out of
// the retention period, since keys sort by the time in their id.
//
// Publishing: a commit hands its events to the Streams' publish function
// after its flip, in id order across jobs. Ids are taken under a lock, in
// the order of a queue of commits in flight; a commit's events are
// published only once every commit that took ids before it has ended
// (flipped, or failed: its ids are then never used), so that a subscriber
// never receives an event with a lower id than one it already has, and a
// cursor (the last id a subscriber received) says exactly what it missed.
const (
	kindStreamMarker = 'w'
	kindStreamPart   = 'W'
)

// Streams is a Store that also keeps each committed event in the stream
// log and publishes it, in id order, once committed. Until Enable, and
// after Disable, it commits exactly as the Badger it wraps (no copy, no
// publication), so deployments without streams pay nothing.
type Streams struct {
	*Badger
	enabled   atomic.Bool
	retention atomic.Int64 // time.Duration

	mu      sync.Mutex
	queue   []*streamCommit // commits that took ids and have not been published, in id order
	publish func([]Event)   // called with each commit's events, in id order, under mu

	pruneMu     sync.Mutex
	prunedUntil []byte // marker keys below it are known deleted: a prune seeks past their tombstones
}

// streamCommit is one commit in flight in the publication queue.
type streamCommit struct {
	events []Event
	ended  bool
	ok     bool // its flip committed: its events are published
}

// DefaultStreamRetention is how long the stream log keeps events by
// default.
const DefaultStreamRetention = time.Hour

// NewStreams wraps b. publish receives the events of every commit made
// through the Streams while enabled, once committed, in id order across
// all jobs; it is called with a lock held, so it must not block (nor
// commit) and must not keep the slice's events beyond what it copies.
// It may be nil.
func NewStreams(b *Badger, publish func([]Event)) *Streams {
	if publish == nil {
		publish = func([]Event) {}
	}
	s := &Streams{Badger: b, publish: publish}
	s.retention.Store(int64(DefaultStreamRetention))
	return s
}

// Enable makes commits keep their events in the stream log, for retention
// (DefaultStreamRetention when not positive), and publish them.
func (s *Streams) Enable(retention time.Duration) {
	if retention <= 0 {
		retention = DefaultStreamRetention
	}
	s.retention.Store(int64(retention))
	s.enabled.Store(true)
}

// Disable stops keeping and publishing events; what the log holds stays
// until it is pruned.
func (s *Streams) Disable() { s.enabled.Store(false) }

// Enabled reports whether commits keep and publish their events.
func (s *Streams) Enabled() bool { return s.enabled.Load() }

// Retention is how long the stream log keeps events.
func (s *Streams) Retention() time.Duration { return time.Duration(s.retention.Load()) }

// Commit is Badger.Commit, which, while the Streams is enabled, also keeps
// the commit's events in the stream log, atomically with the commit, and
// publishes them once committed.
func (s *Streams) Commit(ctx context.Context, job string, base uint64, c *Commit) (Head, error) {
	if !s.enabled.Load() {
		return s.Badger.commit(ctx, job, base, c, nil)
	}
	return s.Badger.commit(ctx, job, base, c, s)
}

// begin runs number, which assigns the ids of c's events, and queues the
// commit for publication in the order of those ids. The returned value is
// nil when the commit has no events.
func (s *Streams) begin(c *Commit, number func()) *streamCommit {
	if len(c.Events) == 0 {
		number()
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	number()
	// A copy: the events may be published after Commit returned, when the
	// caller may already reuse its slice.
	sc := &streamCommit{events: slices.Clone(c.Events)}
	s.queue = append(s.queue, sc)
	return sc
}

// end records that sc's commit ended (ok: its flip committed) and
// publishes, in order, the events of every commit at the head of the queue
// that has ended.
func (s *Streams) end(sc *streamCommit, ok bool) {
	if sc == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sc.ended, sc.ok = true, ok
	n := 0
	for _, q := range s.queue {
		if !q.ended {
			break
		}
		if q.ok {
			s.publish(q.events)
		}
		n++
	}
	clear(s.queue[:n])
	s.queue = s.queue[n:]
}

// streamMarker is the value of a stream chunk's marker.
type streamMarker struct {
	job   string
	first uint64 // seq of the chunk's first event
	count uint32
	parts uint32
}

func (m streamMarker) encode() []byte {
	b := appendString(nil, m.job)
	b = binary.AppendUvarint(b, m.first)
	b = binary.AppendUvarint(b, uint64(m.count))
	return binary.AppendUvarint(b, uint64(m.parts))
}

func decodeStreamMarker(b []byte) (streamMarker, error) {
	d := decoder{b: b}
	m := streamMarker{job: string(d.bytes())}
	first, w1 := binary.Uvarint(d.b)
	if d.err != nil || w1 <= 0 {
		return m, errBadChunk
	}
	count, w2 := binary.Uvarint(d.b[w1:])
	if w2 <= 0 {
		return m, errBadChunk
	}
	parts, w3 := binary.Uvarint(d.b[w1+w2:])
	if w3 <= 0 || w1+w2+w3 != len(d.b) || count == 0 || count > chunkMaxEvents || parts > 1<<31 {
		return m, errBadChunk
	}
	m.first, m.count, m.parts = first, uint32(count), uint32(parts)
	return m, nil
}

func streamMarkerKey(lastID string) []byte { return append([]byte{kindStreamMarker}, lastID...) }

func streamPartKey(lastID string, part uint32) []byte {
	return binary.BigEndian.AppendUint32(append([]byte{kindStreamPart}, lastID...), part)
}

// streamStaged is what a commit writes to the stream log: entries its flip
// carries, and markers that did not fit it, written right after it.
type streamStaged struct {
	flip  []kv
	after []kv
}

// stageStream encodes events (numbered, with ids) as stream chunks. Parts
// go into the flip while budget allows, else they are written now, in as
// many transactions as they need; markers go into the flip while budget
// allows, else right after it: a crash in between loses the stream copy of
// the rest of a commit too large for one transaction (thousands of
// chunks), never its delivery.
func (b *Badger) stageStream(ctx context.Context, job string, events []Event, budget *txnBudget) (*streamStaged, error) {
	st := &streamStaged{}
	var wb *badger.WriteBatch
	defer func() {
		if wb != nil {
			wb.Cancel()
		}
	}()
	setPart := func(k, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if budget.take(len(k), len(v)) {
			st.flip = append(st.flip, kv{k, v})
			return nil
		}
		if wb == nil {
			wb = b.db.NewWriteBatch()
		}
		return wb.Set(k, v)
	}
	var markers []kv
	err := encodeChunks(events, func(first uint64, count int, chunk []byte) error {
		lastID := events[first-events[0].Seq+uint64(count)-1].ID
		parts := uint32(0)
		for off := 0; off < len(chunk); off += b.partSize {
			if err := setPart(streamPartKey(lastID, parts), chunk[off:min(off+b.partSize, len(chunk))]); err != nil {
				return err
			}
			parts++
		}
		m := streamMarker{job: job, first: first, count: uint32(count), parts: parts}
		markers = append(markers, kv{streamMarkerKey(lastID), m.encode()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if wb != nil {
		if err := wb.Flush(); err != nil {
			return nil, err
		}
	}
	for _, m := range markers {
		if len(st.after) == 0 && budget.take(len(m.k), len(m.v)) {
			st.flip = append(st.flip, m)
		} else {
			st.after = append(st.after, m)
		}
	}
	return st, nil
}

// writeAfter writes the markers that did not fit the flip.
func (b *Badger) writeStreamAfter(st *streamStaged) error {
	if st == nil || len(st.after) == 0 {
		return nil
	}
	wb := b.db.NewWriteBatch()
	defer wb.Cancel()
	for _, e := range st.after {
		if err := wb.Set(e.k, e.v); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// ValidEventID reports whether id has the form of the ids Commit assigns.
func ValidEventID(id string) bool {
	rest, ok := strings.CutPrefix(id, "evt_")
	if !ok || len(rest) != 26 || rest[0] > '7' {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if strings.IndexByte(crockford, rest[i]) < 0 {
			return false
		}
	}
	return true
}

// eventIDAt is the lowest id Commit could assign at t: every event id
// assigned earlier than t sorts before it.
func eventIDAt(t time.Time) string {
	return encodeID(uint64(max(t.UnixMilli(), 0))&(1<<48-1), 0, 0)
}

// StreamEvents returns, in id order, about limit events (whole chunks, so
// up to 127 more) of the stream log whose ids are after after ("" for the
// oldest kept) and at most upto ("" for no bound), of the jobs keep
// accepts (nil: every job), within the retention period. next is where
// the following call goes on from: the last id it looked at, which may be
// past the last event returned, and upto once nothing is left up to it.
// With no bound, next == after means nothing more is there.
func (s *Streams) StreamEvents(after, upto string, keep func(job string) bool, limit int) (events []Event, next string, err error) {
	done, err := s.enter()
	if err != nil {
		return nil, after, err
	}
	defer done()
	next = after
	seek := after
	if floor := eventIDAt(s.now().Add(-s.Retention())); seek < floor {
		// Anything older is due to be pruned: never serve it.
		seek = floor
	}
	exhausted := true
	err = s.db.View(func(txn *badger.Txn) error {
		return eachItem(txn, []byte{kindStreamMarker}, streamMarkerKey(seek), func(item *badger.Item) error {
			lastID := string(item.Key()[1:])
			if lastID <= after {
				return nil
			}
			if len(events) >= limit || (upto != "" && next >= upto) {
				exhausted = false
				return errStop
			}
			var m streamMarker
			if err := item.Value(func(v []byte) (err error) { m, err = decodeStreamMarker(v); return err }); err != nil {
				return fmt.Errorf("stream chunk %s: %w", lastID, err)
			}
			if keep == nil || keep(m.job) {
				var err error
				if events, err = readStreamChunk(txn, lastID, m, after, upto, events); err != nil {
					return err
				}
			}
			next = lastID
			if upto != "" && lastID >= upto {
				next = upto
			}
			return nil
		})
	})
	if err != nil {
		return nil, after, fmt.Errorf("store: stream events after %q: %w", after, err)
	}
	if exhausted && upto != "" && upto > next {
		next = upto
	}
	return events, next, nil
}

// readStreamChunk appends the events of the chunk marked m, ending at
// lastID, whose ids are after after and at most upto ("": no bound).
func readStreamChunk(txn *badger.Txn, lastID string, m streamMarker, after, upto string, events []Event) ([]Event, error) {
	var data []byte
	for p := range m.parts {
		item, err := txn.Get(streamPartKey(lastID, p))
		if err != nil {
			return events, fmt.Errorf("stream chunk %s: part %d of %d: %w", lastID, p, m.parts, err)
		}
		if err := item.Value(func(v []byte) error { data = append(data, v...); return nil }); err != nil {
			return events, err
		}
	}
	c, err := parseChunk(m.first, data)
	if err == nil && c.count != int(m.count) {
		err = errBadChunk
	}
	if err != nil {
		return events, fmt.Errorf("stream chunk %s: %w", lastID, err)
	}
	for i := range c.count {
		ev, err := c.event(i, m.job)
		if err != nil {
			return events, fmt.Errorf("stream chunk %s: %w", lastID, err)
		}
		if ev.ID <= after {
			continue
		}
		if upto != "" && ev.ID > upto {
			break
		}
		events = append(events, ev)
	}
	return events, nil
}

// LastStreamID returns the id of the newest event in the stream log ("":
// none).
func (s *Streams) LastStreamID() (string, error) {
	done, err := s.enter()
	if err != nil {
		return "", err
	}
	defer done()
	var last string
	err = s.db.View(func(txn *badger.Txn) error {
		prefix := []byte{kindStreamMarker}
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true})
		defer it.Close()
		it.Seek(prefixEnd(prefix))
		if it.Valid() {
			last = string(it.Item().Key()[1:])
		}
		return nil
	})
	return last, err
}

// PruneStreams deletes the stream chunks (and the orphan parts of
// interrupted commits) whose ids are older than the retention period, and
// returns how many keys it deleted.
func (s *Streams) PruneStreams() (int, error) {
	done, err := s.enter()
	if err != nil {
		return 0, err
	}
	defer done()
	s.pruneMu.Lock()
	defer s.pruneMu.Unlock()
	cutoff := eventIDAt(s.now().Add(-s.Retention()))
	var keys [][]byte
	err = s.db.View(func(txn *badger.Txn) error {
		for _, kind := range []byte{kindStreamMarker, kindStreamPart} {
			seek := []byte{kind}
			if s.prunedUntil != nil {
				seek = append(seek, s.prunedUntil...)
			}
			end := append([]byte{kind}, cutoff...)
			err := eachItem(txn, []byte{kind}, seek, func(item *badger.Item) error {
				if bytes.Compare(item.Key(), end) >= 0 {
					return errStop
				}
				keys = append(keys, item.KeyCopy(nil))
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = s.deleteKeys(keys)
	}
	if err != nil {
		return 0, fmt.Errorf("store: prune stream log: %w", err)
	}
	s.prunedUntil = []byte(cutoff)
	return len(keys), nil
}

// RunStreamPruning prunes the stream log every interval until ctx ends;
// failures are logged and retried at the next interval.
func (s *Streams) RunStreamPruning(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := s.PruneStreams()
		switch {
		case errors.Is(err, ErrClosed):
			return
		case err != nil:
			s.logger.Warn("could not prune the stream log; retrying at the next interval", "err", err)
		case n > 0:
			s.logger.Debug("pruned the stream log", "keys", n)
		}
	}
}
