package store

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// The outbox: every event is stored once, in its job's log; each lane
// (destination × job) is only a cursor into that log plus the retry state of
// the event at the cursor. Log chunks that every lane of the job has passed
// are deleted after each Ack, so the log holds only undelivered events.

// ErrNoLane is returned by lane operations on a lane that has no state; lanes
// are created by Commit for the destinations it names.
var ErrNoLane = errors.New("store: no such lane")

// Lanes lists every lane that has a stored state, ordered by job, then
// destination.
func (b *Badger) Lanes() ([]LaneState, error) {
	done, err := b.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var lanes []LaneState
	// Walk the lane indexes, which change only when lanes come and go, not
	// the lane keys, of which every Ack leaves another version to step over.
	err = b.db.View(func(txn *badger.Txn) error {
		return eachItem(txn, []byte{kindLaneIndex}, nil, func(item *badger.Item) error {
			job, _, err := readName(item.Key()[1:])
			if err != nil {
				return err
			}
			dests, err := readLaneIndex(txn, job)
			for _, d := range dests {
				st, ok, err := readLane(txn, d, job)
				if err != nil {
					return err
				}
				if ok {
					lanes = append(lanes, st)
				}
			}
			return err
		})
	})
	// Key order puts shorter job names first (they are length-prefixed).
	slices.SortFunc(lanes, func(a, b LaneState) int {
		return cmp.Or(strings.Compare(a.Job, b.Job), strings.Compare(a.Destination, b.Destination))
	})
	return lanes, err
}

// Lane returns one lane's state (Cursor 0 and no error when it does not exist).
func (b *Badger) Lane(dest, job string) (LaneState, error) {
	done, err := b.enter()
	if err != nil {
		return LaneState{}, err
	}
	defer done()
	st := LaneState{Destination: dest, Job: job}
	err = b.db.View(func(txn *badger.Txn) error {
		got, ok, err := readLane(txn, dest, job)
		if ok {
			st = got
		}
		return err
	})
	return st, err
}

// Pending returns up to limit events of the job from the lane's cursor on
// (all of them when limit <= 0), in sequence order, never beyond the job's
// committed head. A lane that does not exist has none.
func (b *Badger) Pending(dest, job string, limit int) ([]Event, error) {
	done, err := b.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var events []Event
	err = b.db.View(func(txn *badger.Txn) error {
		st, ok, err := readLane(txn, dest, job)
		if err != nil || !ok {
			return err
		}
		head, err := readHead(txn, job)
		if err != nil {
			return err
		}
		events, err = readEvents(txn, job, st.Cursor, head.LastSeq, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending events of destination %q, job %q: %w", dest, job, err)
	}
	return events, nil
}

// Events returns up to limit events of the job's log (all when limit <= 0)
// from seq from on, in order, never beyond the job's committed head. It is
// for a lane that keeps its position in memory ahead of its acks: what it
// has not acked is not pruned, so from its position on nothing is missing.
func (b *Badger) Events(job string, from uint64, limit int) ([]Event, error) {
	done, err := b.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var events []Event
	err = b.db.View(func(txn *badger.Txn) error {
		head, err := readHead(txn, job)
		if err != nil {
			return err
		}
		events, err = readEvents(txn, job, max(from, 1), head.LastSeq, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: events of job %q from %d: %w", job, from, err)
	}
	return events, nil
}

// Ack records that every event of the lane up to and including seq was
// delivered (or skipped): the cursor moves to seq+1 and the retry state is
// cleared. Acking an event the cursor has already passed does nothing; seq
// beyond the job's last event is an error. Log chunks every lane of the job
// has passed are deleted afterwards.
func (b *Badger) Ack(dest, job string, seq uint64) error {
	done, err := b.enter()
	if err != nil {
		return err
	}
	defer done()
	err = b.update(func(txn *badger.Txn) error { return ack(txn, dest, job, seq) })
	if err != nil {
		return err
	}
	b.pruneQuietly(job)
	return nil
}

// SetRetry stores the retry fields of st (Attempts, FirstAttempt,
// NextAttempt, LastStatus, LastError, BatchLast) on its lane. It never moves
// the cursor: a non-zero st.Cursor must equal the stored one, so that retry
// state meant for an event that has since been acked is refused.
func (b *Badger) SetRetry(st LaneState) error {
	done, err := b.enter()
	if err != nil {
		return err
	}
	defer done()
	return b.update(func(txn *badger.Txn) error {
		cur, ok, err := readLane(txn, st.Destination, st.Job)
		if err != nil {
			return err
		}
		if !ok {
			return noLane(st.Destination, st.Job)
		}
		if st.Cursor != 0 && st.Cursor != cur.Cursor {
			return fmt.Errorf("store: retry state for event %d of destination %q, job %q, whose cursor is at %d",
				st.Cursor, st.Destination, st.Job, cur.Cursor)
		}
		cur.Attempts = st.Attempts
		cur.FirstAttempt = st.FirstAttempt.UTC()
		cur.NextAttempt = st.NextAttempt.UTC()
		cur.LastStatus = st.LastStatus
		cur.LastError = st.LastError
		cur.BatchLast = st.BatchLast
		return setJSON(txn, laneKey(cur.Destination, cur.Job), &cur)
	})
}

// DeadLetter stores dl and acks its event on the lane, in one transaction.
// dl.Event must be the event at the lane's cursor; DeadAt defaults to now.
func (b *Badger) DeadLetter(dl DeadLetter) error {
	s := Settlement{Destination: dl.Destination, Job: dl.Event.Job, Ack: dl.Event.Seq, Dead: []DeadLetter{dl}}
	return b.settle(&s, func(st LaneState) error {
		if dl.Event.Seq != st.Cursor {
			return fmt.Errorf("store: dead letter for event %d of destination %q, job %q, whose cursor is at %d",
				dl.Event.Seq, dl.Destination, dl.Event.Job, st.Cursor)
		}
		return nil
	})
}

// Settle records, in one transaction, what a lane's deliveries came to:
// the cursor moves past s.Ack (as Ack does), the redeliveries in
// s.Redelivered leave the lane's queue (unless queued again since they were
// read: the newer request stays), and s.Dead are stored as dead letters
// (DeadAt defaults to now). A dead letter of a redelivery that was queued
// again is not stored, since its event is still queued. Every dead letter
// must be of the lane and its event either one of s.Redelivered or in the
// log between the cursor and s.Ack; otherwise nothing is written.
func (b *Badger) Settle(s Settlement) error {
	if s.Ack == 0 && len(s.Redelivered) == 0 && len(s.Dead) == 0 {
		return nil
	}
	return b.settle(&s, nil)
}

// settle runs Settle; check, when set, vets the lane's state first.
func (b *Badger) settle(s *Settlement, check func(LaneState) error) error {
	if err := checkName("destination", s.Destination); err != nil {
		return err
	}
	if err := checkName("job", s.Job); err != nil {
		return err
	}
	dead := slices.Clone(s.Dead)
	for i := range dead {
		dl := &dead[i]
		if dl.Destination != s.Destination || dl.Event.Job != s.Job {
			return fmt.Errorf("store: dead letter of destination %q, job %q settled on destination %q, job %q",
				dl.Destination, dl.Event.Job, s.Destination, s.Job)
		}
		if dl.DeadAt.IsZero() {
			dl.DeadAt = b.now()
		}
		dl.DeadAt = dl.DeadAt.UTC()
	}
	done, err := b.enter()
	if err != nil {
		return err
	}
	defer done()
	dest, job := s.Destination, s.Job
	err = b.update(func(txn *badger.Txn) error {
		st, ok, err := readLane(txn, dest, job)
		if err != nil {
			return err
		}
		if !ok {
			return noLane(dest, job)
		}
		if check != nil {
			if err := check(st); err != nil {
				return err
			}
		}
		removed := make(map[uint64]bool, len(s.Redelivered))
		queued := make(map[uint64]bool, len(s.Redelivered))
		for _, r := range s.Redelivered {
			seq := r.Event.Seq
			queued[seq] = true
			key := redeliveryKey(dest, job, seq)
			cur, ok, err := readRedelivery(txn, key)
			if err != nil {
				return err
			}
			if ok && cur.Token == r.Token {
				if err := txn.Delete(key); err != nil {
					return err
				}
				removed[seq] = true
			}
		}
		for i := range dead {
			seq := dead[i].Event.Seq
			switch {
			case queued[seq]:
				if !removed[seq] {
					continue // queued again: the new request stands
				}
			case seq < st.Cursor || seq > s.Ack:
				return fmt.Errorf("store: dead letter for event %d of destination %q, job %q: neither redelivered nor between the cursor (%d) and the ack (%d)",
					seq, dest, job, st.Cursor, s.Ack)
			}
			if err := setJSON(txn, deadLetterKey(&dead[i]), &dead[i]); err != nil {
				return err
			}
		}
		if s.Ack == 0 {
			return nil
		}
		return ack(txn, dest, job, s.Ack)
	})
	if err != nil {
		return err
	}
	if s.Ack > 0 {
		b.pruneQuietly(job)
	}
	return nil
}

// DeadLetters lists the dead letters of a destination ("" for all), oldest first.
func (b *Badger) DeadLetters(dest string) ([]DeadLetter, error) {
	done, err := b.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var dls []DeadLetter
	err = b.db.View(func(txn *badger.Txn) error {
		return eachItem(txn, deadLetterPrefix(dest), nil, func(item *badger.Item) error {
			var dl DeadLetter
			err := item.Value(func(v []byte) error { return decodeJSON("dead letter", v, &dl) })
			dls = append(dls, dl)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	// Keys order each destination's letters by time; across destinations
	// they need sorting (stable, so ties keep key order).
	slices.SortStableFunc(dls, func(a, b DeadLetter) int { return a.DeadAt.Compare(b.DeadAt) })
	return dls, nil
}

// DeleteLane removes a lane's state and its queued redeliveries, for a
// destination no longer routed the job: its cursor would otherwise keep the
// job's log from being pruned. The lane is created afresh, at the then
// current event, if a later commit names the destination again. Removing a
// lane that does not exist does nothing.
func (b *Badger) DeleteLane(dest, job string) error {
	done, err := b.enter()
	if err != nil {
		return err
	}
	defer done()
	var queued [][]byte
	err = b.db.View(func(txn *badger.Txn) error {
		return eachItem(txn, redeliveryPrefix(dest, job), nil, func(item *badger.Item) error {
			queued = append(queued, item.KeyCopy(nil))
			return nil
		})
	})
	if err != nil {
		return err
	}
	// The redeliveries go first: without its lane nobody reads them, and
	// one left behind would come back with a new lane.
	if err := b.deleteKeys(queued); err != nil {
		return err
	}
	err = b.update(func(txn *badger.Txn) error {
		index, err := readLaneIndex(txn, job)
		if err != nil {
			return err
		}
		i := slices.Index(index, dest)
		if i < 0 {
			return nil
		}
		if err := txn.Delete(laneKey(dest, job)); err != nil {
			return err
		}
		if index = slices.Delete(index, i, i+1); len(index) == 0 {
			return txn.Delete(laneIndexKey(job))
		}
		return setJSON(txn, laneIndexKey(job), index)
	})
	if err != nil {
		return err
	}
	b.pruneQuietly(job)
	return nil
}

// ack moves the lane's cursor past seq and clears its retry state.
func ack(txn *badger.Txn, dest, job string, seq uint64) error {
	st, ok, err := readLane(txn, dest, job)
	if err != nil {
		return err
	}
	if !ok {
		return noLane(dest, job)
	}
	head, err := readHead(txn, job)
	if err != nil {
		return err
	}
	if seq > head.LastSeq {
		return fmt.Errorf("store: ack of event %d of destination %q, job %q, whose last event is %d",
			seq, dest, job, head.LastSeq)
	}
	if seq < st.Cursor {
		return nil // already passed: cursors never move back
	}
	return setJSON(txn, laneKey(dest, job), &LaneState{Destination: dest, Job: job, Cursor: seq + 1})
}

func noLane(dest, job string) error {
	return fmt.Errorf("destination %q, job %q: %w", dest, job, ErrNoLane)
}

// readEvents returns up to limit (all when <= 0) events of job with
// from <= seq <= to.
func readEvents(txn *badger.Txn, job string, from, to uint64, limit int) ([]Event, error) {
	if from > to {
		return nil, nil
	}
	// A chunk holds at most chunkMaxEvents events, so the one holding
	// from starts no earlier than this.
	start := uint64(1)
	if from > chunkMaxEvents {
		start = from - chunkMaxEvents + 1
	}
	var events []Event
	err := eachItem(txn, jobPrefix(kindChunk, job), seqPrefix(kindChunk, job, start), func(item *badger.Item) error {
		first, m, err := readMarker(item)
		if err != nil || first > to {
			return cmp.Or(err, errStop)
		}
		if m.last(first) < from {
			return nil
		}
		full := false
		err = withParts(txn, kindChunkPart, job, first, m.parts, func(data []byte) error {
			c, err := parseChunk(first, data)
			if err == nil && c.count != int(m.count) {
				err = errBadChunk
			}
			if err != nil {
				return fmt.Errorf("chunk at %d: %w", first, err)
			}
			for seq := max(from, first); seq <= min(m.last(first), to) && !full; seq++ {
				ev, err := c.event(int(seq-first), job) // copies out of data
				if err != nil {
					return err
				}
				events = append(events, ev)
				full = len(events) == limit
			}
			return nil
		})
		if err != nil || full {
			return cmp.Or(err, errStop)
		}
		return nil
	})
	return events, err
}

// readMarker decodes a chunk marker item into the chunk's first sequence
// number and marker.
func readMarker(item *badger.Item) (uint64, chunkMarker, error) {
	_, first, err := parseSeqKey(item.Key())
	if err != nil {
		return 0, chunkMarker{}, err
	}
	var m chunkMarker
	err = item.Value(func(v []byte) error {
		m, err = decodeMarker(v)
		return err
	})
	return first, m, err
}

// pruneQuietly prunes job's log after a lane moved. A failure only delays
// the clean-up to the next Ack, so it is logged rather than returned.
func (b *Badger) pruneQuietly(job string) {
	if err := b.prune(job); err != nil {
		b.logger.Warn("could not prune delivered events; retried on the next ack", "job", job, "err", err)
	}
}

// prune deletes the job's log chunks whose events every lane has passed
// (all of them when the job has no lane). The deletes are blind: cursors only
// move forward and new lanes start past the head, so a chunk found passed
// stays passed.
func (b *Badger) prune(job string) error {
	var keys [][]byte
	var start uint64 // where the log starts once keys are deleted
	err := b.db.View(func(txn *badger.Txn) error {
		head, err := readHead(txn, job)
		if err != nil {
			return err
		}
		floor := head.LastSeq + 1 // the lowest sequence number some lane still needs
		dests, err := readLaneIndex(txn, job)
		if err != nil {
			return err
		}
		for _, d := range dests {
			st, ok, err := readLane(txn, d, job)
			if err != nil {
				return err
			}
			if ok {
				floor = min(floor, st.Cursor)
			}
		}
		from := seqPrefix(kindChunk, job, b.logStart(job))
		return eachItem(txn, jobPrefix(kindChunk, job), from, func(item *badger.Item) error {
			first, m, err := readMarker(item)
			if err != nil || first > head.LastSeq || m.last(first) >= floor {
				// Nothing live lies before first; beyond the head, commits
				// may still stage chunks, so the hint stops there.
				start = min(first, head.LastSeq+1)
				return cmp.Or(err, errStop)
			}
			// Parts before the marker: if only some of the deletes land,
			// the marker still leads the next prune to the rest.
			keys = partKeys(keys, kindChunkPart, job, first, m.parts)
			keys = append(keys, item.KeyCopy(nil))
			start = m.last(first) + 1
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("store: prune job %q: %w", job, err)
	}
	if err := b.deleteKeys(keys); err != nil {
		return err
	}
	b.setLogStart(job, start)
	return nil
}

// logStart returns where prune starts looking for the job's chunks: every
// chunk before it is known deleted. Seeking there rather than to the start
// of the job's keys skips the tombstones of deleted chunks, which an
// iterator otherwise steps over one by one until compaction drops them.
func (b *Badger) logStart(job string) uint64 {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.logStarts[job]
}

func (b *Badger) setLogStart(job string, seq uint64) {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	b.logStarts[job] = max(b.logStarts[job], seq)
}

// readLaneIndex returns the destinations that have a lane for job.
func readLaneIndex(txn *badger.Txn, job string) ([]string, error) {
	item, err := txn.Get(laneIndexKey(job))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var dests []string
	err = item.Value(func(v []byte) error { return decodeJSON("lanes of job "+job, v, &dests) })
	return dests, err
}

func readLane(txn *badger.Txn, dest, job string) (LaneState, bool, error) {
	item, err := txn.Get(laneKey(dest, job))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return LaneState{}, false, nil
	}
	if err != nil {
		return LaneState{}, false, err
	}
	st, err := decodeLane(item)
	return st, err == nil, err
}

// decodeLane decodes a lane state; its key names the lane.
func decodeLane(item *badger.Item) (LaneState, error) {
	var st LaneState
	dest, job, err := parseLaneKey(item.Key())
	if err != nil {
		return st, err
	}
	err = item.Value(func(v []byte) error { return decodeJSON("lane state", v, &st) })
	st.Destination, st.Job = dest, job
	return st, err
}

func setJSON(txn *badger.Txn, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return txn.Set(key, b)
}
