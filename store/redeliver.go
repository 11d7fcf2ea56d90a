package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Redelivery. A lane is a cursor over its job's log, and the log keeps only
// what some lane has not passed yet, so an event sent again (a dead letter
// retried, or a replay) cannot be had by moving a cursor back: its log
// chunk may be gone, and every event after it would be sent again too.
// Instead each lane has a queue of copies, keyed by event sequence number,
// that it delivers before it goes on from its cursor:
//
//   - Only events the cursor has passed are queued (the others are still
//     ahead of it), so an event is never both queued and pending.
//   - The queue is sent in event order, one event per request, each with its
//     own retry state; a failing redelivery holds its lane back like a
//     failing event of the log, and ends as a dead letter again.
//   - Queuing an event that is already queued replaces the request (new
//     Token, attempts reset), so a replay never sends one event twice.
//   - The event keeps its id: receivers deduplicating on webhook-id drop a
//     copy they already processed, and take one they never got.

// ErrNoDeadLetter is returned by RetryDeadLetter when the destination has
// no dead letter of the event.
var ErrNoDeadLetter = errors.New("store: no such dead letter")

// Redeliveries returns up to limit (all when <= 0) queued redeliveries of
// the lane, in event order.
func (b *Badger) Redeliveries(dest, job string, limit int) ([]Redelivery, error) {
	done, err := b.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	var rs []Redelivery
	err = b.db.View(func(txn *badger.Txn) error {
		return eachItem(txn, redeliveryPrefix(dest, job), nil, func(item *badger.Item) error {
			var r Redelivery
			if err := item.Value(func(v []byte) error { return decodeJSON("redelivery", v, &r) }); err != nil {
				return err
			}
			rs = append(rs, r)
			if len(rs) == limit {
				return errStop
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: redeliveries of destination %q, job %q: %w", dest, job, err)
	}
	return rs, nil
}

// SetRedeliveryRetry stores the retry fields of r (Attempts, FirstAttempt,
// NextAttempt, LastStatus, LastError) on its queued redelivery. It does
// nothing when the redelivery was delivered or queued again (another
// Token) since it was read.
func (b *Badger) SetRedeliveryRetry(r Redelivery) error {
	done, err := b.enter()
	if err != nil {
		return err
	}
	defer done()
	key := redeliveryKey(r.Destination, r.Event.Job, r.Event.Seq)
	return b.update(func(txn *badger.Txn) error {
		cur, ok, err := readRedelivery(txn, key)
		if err != nil || !ok || cur.Token != r.Token {
			return err
		}
		cur.Attempts = r.Attempts
		cur.FirstAttempt = r.FirstAttempt.UTC()
		cur.NextAttempt = r.NextAttempt.UTC()
		cur.LastStatus = r.LastStatus
		cur.LastError = r.LastError
		return setJSON(txn, key, &cur)
	})
}

// RetryDeadLetter moves the dead letter of the event eventID on dest back to
// its lane's queue and returns the queued redelivery. When an event died more
// than once on dest, the oldest letter moves. It fails with ErrNoDeadLetter
// when there is none, and with ErrNoLane when the destination no longer
// receives the event's job.
func (b *Badger) RetryDeadLetter(dest, eventID string) (Redelivery, error) {
	if err := checkName("destination", dest); err != nil {
		return Redelivery{}, err
	}
	var found *stored
	err := b.deadLetters(dest, func(key []byte, dl *DeadLetter) bool {
		if dl.Event.ID == eventID {
			found = &stored{key: key, dl: *dl}
			return false
		}
		return true
	})
	if err != nil {
		return Redelivery{}, err
	}
	if found == nil {
		return Redelivery{}, fmt.Errorf("destination %q, event %q: %w", dest, eventID, ErrNoDeadLetter)
	}
	moved, err := b.requeue([]stored{*found})
	if err != nil {
		return Redelivery{}, err
	}
	if len(moved) == 0 {
		// Another retry took it between the read and the move.
		return Redelivery{}, fmt.Errorf("destination %q, event %q: %w", dest, eventID, ErrNoDeadLetter)
	}
	return moved[0], nil
}

// ReplayDeadLetters moves every dead letter of dest back to its lane's queue
// and returns how many it moved. Dead letters of jobs the destination no
// longer receives stay; the error (matching ErrNoLane) says how many and
// which jobs, after the others were moved.
func (b *Badger) ReplayDeadLetters(dest string) (int, error) {
	if err := checkName("destination", dest); err != nil {
		return 0, err
	}
	var all []stored
	err := b.deadLetters(dest, func(key []byte, dl *DeadLetter) bool {
		all = append(all, stored{key: key, dl: *dl})
		return true
	})
	if err != nil {
		return 0, err
	}
	moved, err := b.requeue(all)
	return len(moved), err
}

// ReplaySince queues again, on the lane of dest and job, every event of the
// job detected at or after since that the lane's cursor has passed and that
// the log still holds, and returns how many it queued. Events the cursor
// has not reached are left alone: they are on their way. The log holds an
// event until every lane of its job has passed it (delivered, skipped or
// dead-lettered), so a replay reaches back only as far as the slowest
// other lane; dead letters are replayed with ReplayDeadLetters.
func (b *Badger) ReplaySince(dest, job string, since time.Time) (int, error) {
	if err := checkName("destination", dest); err != nil {
		return 0, err
	}
	if err := checkName("job", job); err != nil {
		return 0, err
	}
	done, err := b.enter()
	if err != nil {
		return 0, err
	}
	defer done()
	var st LaneState
	err = b.db.View(func(txn *badger.Txn) error {
		var ok bool
		st, ok, err = readLane(txn, dest, job)
		if err == nil && !ok {
			err = noLane(dest, job)
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	const page = 512
	n := 0
	from := max(b.logStart(job), 1)
	for from < st.Cursor {
		var events []Event
		err := b.db.View(func(txn *badger.Txn) error {
			var err error
			events, err = readEvents(txn, job, from, st.Cursor-1, page)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("store: replay job %q to destination %q: %w", job, dest, err)
		}
		if len(events) == 0 {
			break
		}
		from = events[len(events)-1].Seq + 1
		var rs []Redelivery
		for _, ev := range events {
			if !ev.Time.Before(since) {
				rs = append(rs, b.newRedelivery(dest, ev))
			}
		}
		if _, err := b.queue(dest, job, rs, nil); err != nil {
			return n, err
		}
		n += len(rs)
	}
	return n, nil
}

// stored is a dead letter with its key.
type stored struct {
	key []byte
	dl  DeadLetter
}

// deadLetters calls fn with each dead letter of dest, oldest first, until
// it returns false.
func (b *Badger) deadLetters(dest string, fn func(key []byte, dl *DeadLetter) bool) error {
	done, err := b.enter()
	if err != nil {
		return err
	}
	defer done()
	return b.db.View(func(txn *badger.Txn) error {
		return eachItem(txn, deadLetterPrefix(dest), nil, func(item *badger.Item) error {
			var dl DeadLetter
			if err := item.Value(func(v []byte) error { return decodeJSON("dead letter", v, &dl) }); err != nil {
				return err
			}
			if !fn(item.KeyCopy(nil), &dl) {
				return errStop
			}
			return nil
		})
	})
}

// requeue moves dead letters to their lanes' queues, job by job, and
// returns the redeliveries it queued. Letters of lanes that no longer
// exist stay, and are reported in the error.
func (b *Badger) requeue(letters []stored) ([]Redelivery, error) {
	done, err := b.enter()
	if err != nil {
		return nil, err
	}
	defer done()
	type lane struct{ dest, job string }
	var order []lane
	byLane := make(map[lane][]stored)
	for _, s := range letters {
		l := lane{s.dl.Destination, s.dl.Event.Job}
		if _, ok := byLane[l]; !ok {
			order = append(order, l)
		}
		byLane[l] = append(byLane[l], s)
	}
	var moved []Redelivery
	var errs []error
	for _, l := range order {
		ss := byLane[l]
		rs := make([]Redelivery, len(ss))
		keys := make([][]byte, len(ss))
		for i, s := range ss {
			rs[i], keys[i] = b.newRedelivery(l.dest, s.dl.Event), s.key
		}
		taken, err := b.queue(l.dest, l.job, rs, keys)
		switch {
		case errors.Is(err, ErrNoLane):
			errs = append(errs, fmt.Errorf("%d dead letters kept: %w", len(ss), err))
		case err != nil:
			return moved, err
		}
		for i, ok := range taken {
			if ok {
				moved = append(moved, rs[i])
			}
		}
	}
	return moved, errors.Join(errs...)
}

func (b *Badger) newRedelivery(dest string, ev Event) Redelivery {
	return Redelivery{Destination: dest, Event: ev, Queued: b.now().UTC(), Token: rand.Uint64()}
}

// queue writes rs to the lane's queue, deleting the dead letter under
// removed[i] with rs[i] (removed may be nil), in as few transactions as
// fit: each redelivery is written together with the removal of its dead
// letter, so an event is never in both or in neither. It reports which of
// rs it took: a dead letter that is gone already (another retry moved it)
// is not queued. An event the cursor has not passed is taken but not
// queued, since the lane sends it anyway.
func (b *Badger) queue(dest, job string, rs []Redelivery, removed [][]byte) ([]bool, error) {
	values := make([][]byte, len(rs))
	for i := range rs {
		v, err := json.Marshal(&rs[i])
		if err != nil {
			return nil, err
		}
		values[i] = v
	}
	taken := make([]bool, len(rs))
	// Badger refuses a transaction past its size or count limit: split
	// before that, with room for keys and the lane read.
	maxSize, maxCount := b.db.MaxBatchSize()/2, int(b.db.MaxBatchCount()/4) // two writes per item
	for start := 0; start < len(rs); {
		end, size := start, int64(0)
		for end < len(rs) && (end == start || (size+int64(len(values[end])) < maxSize && end-start < maxCount)) {
			size += int64(len(values[end])) + 128
			end++
		}
		err := b.update(func(txn *badger.Txn) error {
			st, ok, err := readLane(txn, dest, job)
			if err != nil {
				return err
			}
			if !ok {
				return noLane(dest, job)
			}
			for i := start; i < end; i++ {
				taken[i] = false
				if removed != nil {
					if _, err := txn.Get(removed[i]); errors.Is(err, badger.ErrKeyNotFound) {
						continue
					} else if err != nil {
						return err
					}
					if err := txn.Delete(removed[i]); err != nil {
						return err
					}
				}
				taken[i] = true
				if rs[i].Event.Seq >= st.Cursor {
					continue
				}
				if err := txn.Set(redeliveryKey(dest, job, rs[i].Event.Seq), values[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if errors.Is(err, ErrNoLane) {
			return taken, err // it names the lane
		}
		if err != nil {
			return taken, fmt.Errorf("store: queue redeliveries of destination %q, job %q: %w", dest, job, err)
		}
		start = end
	}
	return taken, nil
}

func readRedelivery(txn *badger.Txn, key []byte) (Redelivery, bool, error) {
	var r Redelivery
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	err = item.Value(func(v []byte) error { return decodeJSON("redelivery", v, &r) })
	return r, err == nil, err
}
