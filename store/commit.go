package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// A commit of any size is atomic although Badger caps one transaction at
// 15% of a memtable:
//
//  1. Staging: the new snapshot (or snapshot delta) is written to its own
//     file (snapfile.go), named by the new version, and the events as
//     chunks under (job, first seq of the chunk) in Badger, each a small
//     marker plus parts, in as many transactions as they need. Nothing
//     reads them yet: readers only follow the head, and the head still
//     names the old version, files and LastSeq.
//  2. Flip: one small transaction checks that the head is still at base,
//     writes the new head (Version, LastSeq, snapshot files, validators)
//     and creates the lanes of new destinations. This is the commit point.
//  3. A full snapshot replaces the previous one and its deltas: their
//     files are deleted. A delta is added to the head's list and deletes
//     nothing.
//
// A crash before the flip leaves data that no head points to: a snapshot
// file the head does not list and chunks beyond its LastSeq. They are
// deleted at the start of the job's next Commit, before it stages under the
// same names, and at Open. A crash right after the flip leaves the replaced
// files, deleted at the job's next commit and at Open (recover.go).

// Head returns the job's head; a job never committed has Version 0.
func (b *Badger) Head(job string) (Head, error) {
	done, err := b.enter()
	if err != nil {
		return Head{}, err
	}
	defer done()
	var rec headRecord
	err = b.db.View(func(txn *badger.Txn) error {
		rec, err = readHead(txn, job)
		return err
	})
	return rec.Head, err
}

// Commit atomically replaces the job's snapshot (or appends a delta to
// it), appends its events and creates the lanes of destinations that have
// none, provided the job is still at base (else ErrStale). Every commit
// increments Version, also one with no snapshot of any kind, which keeps
// the stored snapshot and changes only the head's metadata; a commit with
// events sets ChangedAt. Commit fills in each event's Seq (continuing the
// job's LastSeq), Job, ID (when empty) and Time (the commit time when zero;
// every time is stored in UTC). Events of a job that has no lane and names
// no destination are numbered but not stored, since nobody would read them.
func (b *Badger) Commit(ctx context.Context, job string, base uint64, c *Commit) (Head, error) {
	if err := checkCommit(job, c); err != nil {
		return Head{}, err
	}
	done, err := b.enter()
	if err != nil {
		return Head{}, err
	}
	defer done()
	js := b.job(job)
	js.commit.Lock()
	defer js.commit.Unlock()

	var old headRecord
	var hasLanes bool
	err = b.db.View(func(txn *badger.Txn) error {
		if old, err = readHead(txn, job); err != nil {
			return err
		}
		dests, err := readLaneIndex(txn, job)
		hasLanes = len(dests) > 0
		return err
	})
	if err != nil {
		return Head{}, err
	}
	if old.Version != base {
		return Head{}, staleError(job, base, old.Version)
	}
	if c.SnapshotDelta != nil && old.Snap == nil {
		return Head{}, fmt.Errorf("store: job %q: a snapshot delta needs a stored snapshot, and there is none", job)
	}
	if err := b.removeOrphans(job, old); err != nil {
		return Head{}, err
	}

	next := b.nextHead(job, old, c)
	storeEvents := len(c.Events) > 0 && (hasLanes || len(c.Destinations) > 0)
	snap, err := b.stage(ctx, job, &next, c, storeEvents)
	if err != nil {
		b.discard(job)
		return Head{}, fmt.Errorf("job %q: stage commit: %w", job, err)
	}
	if b.beforeFlip != nil {
		if err := b.beforeFlip(); err != nil {
			snap.close()
			return Head{}, err
		}
	}
	js.snap.Lock()
	err = b.update(func(txn *badger.Txn) error {
		cur, err := readHead(txn, job)
		if err != nil {
			return err
		}
		if cur.Version != base {
			return staleError(job, base, cur.Version)
		}
		if err := setJSON(txn, headKey(job), &next); err != nil {
			return err
		}
		return createLanes(txn, job, old.LastSeq+1, c.Destinations)
	})
	if err == nil {
		js.install(next.Version, snap)
	} else {
		// A failed commit may still have reached the disk: let the next
		// reader open whatever the head names.
		closeChunks(js.chunks)
		js.chunks, js.loaded = nil, false
	}
	js.snap.Unlock()
	if err != nil {
		snap.close()
		b.discard(job)
		return Head{}, fmt.Errorf("job %q: commit: %w", job, err)
	}
	if b.afterFlip != nil {
		if err := b.afterFlip(); err != nil {
			return Head{}, err
		}
	}
	if snap != nil && snap.full && old.Snap != nil {
		if err := b.removeFiles(job, old.chunks()); err != nil {
			b.logger.Warn("could not delete replaced snapshot files; the next commit or start removes them",
				"job", job, "version", old.Snap.Version, "deltas", len(old.Deltas), "err", err)
		}
	}
	return next.Head, nil
}

func checkCommit(job string, c *Commit) error {
	if err := checkName("job", job); err != nil {
		return err
	}
	if c == nil {
		return errors.New("store: nil commit")
	}
	if c.Snapshot != nil && c.SnapshotDelta != nil {
		return errors.New("store: commit carries both a snapshot and a snapshot delta")
	}
	if c.SnapshotWriter != nil && (c.Snapshot != nil || c.SnapshotDelta != nil) {
		return errors.New("store: commit carries a snapshot writer besides a snapshot or snapshot delta")
	}
	for _, d := range c.Destinations {
		if err := checkName("destination", d); err != nil {
			return err
		}
	}
	for i := range c.Events {
		if j := c.Events[i].Job; j != "" && j != job {
			return fmt.Errorf("store: commit of job %q carries an event of job %q", job, j)
		}
	}
	return nil
}

func staleError(job string, base, head uint64) error {
	return fmt.Errorf("job %q: commit on version %d, head is at %d: %w", job, base, head, ErrStale)
}

// nextHead numbers c's events and returns the head that commits c on old,
// still naming old's snapshot files: stage adds the one c writes.
func (b *Badger) nextHead(job string, old headRecord, c *Commit) headRecord {
	now := b.now().UTC()
	next := old
	next.Version = old.Version + 1
	next.CommittedAt = now
	next.BodyHash = append([]byte(nil), c.BodyHash...)
	next.ETag, next.LastModified = c.ETag, c.LastModified
	for i := range c.Events {
		ev := &c.Events[i]
		ev.Seq = old.LastSeq + 1 + uint64(i)
		ev.Job = job
		if ev.Time.IsZero() {
			ev.Time = now
		} else {
			ev.Time = ev.Time.UTC()
		}
		if ev.ID == "" {
			ev.ID = b.ids.next(now)
		}
	}
	if len(c.Events) > 0 {
		next.LastSeq = old.LastSeq + uint64(len(c.Events))
		next.ChangedAt = now
	}
	return next
}

// stage writes c's snapshot file, records it in next, and writes c's event
// chunks in as many transactions as they need. With SyncWrites each of
// them is durable before the flip is written, so that no crash, power loss
// included, can keep the flip and lose what it points to; without, a
// process crash cannot either (the OS holds every write), but a power loss
// may.
func (b *Badger) stage(ctx context.Context, job string, next *headRecord, c *Commit, storeEvents bool) (*staged, error) {
	snap, err := b.writeSnapshot(ctx, job, next.Version, c)
	if err != nil {
		return nil, fmt.Errorf("write snapshot file: %w", err)
	}
	switch {
	case snap == nil:
	case snap.full:
		next.Snap, next.Deltas = &snap.file, nil
	default:
		next.Deltas = append(slices.Clip(next.Deltas), snap.file)
	}
	if storeEvents {
		if err := b.stageEvents(ctx, job, c.Events); err != nil {
			snap.close()
			return nil, err
		}
	}
	return snap, nil
}

// stageEvents writes events as chunks under their first sequence numbers.
func (b *Badger) stageEvents(ctx context.Context, job string, events []Event) error {
	wb := b.db.NewWriteBatch()
	defer wb.Cancel()
	set := func(k, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return wb.Set(k, v)
	}
	err := encodeChunks(events, func(first uint64, count int, chunk []byte) error {
		parts, err := b.writeParts(set, kindChunkPart, job, first, chunk)
		if err != nil {
			return err
		}
		return set(seqPrefix(kindChunk, job, first), chunkMarker{count: uint32(count), parts: parts}.encode())
	})
	if err != nil {
		return err
	}
	return wb.Flush()
}

// writeParts stores data under (kind, job, n) as parts of at most partSize
// bytes, so that no single value outgrows a transaction or an in-memory
// Badger's value limit, and returns how many it wrote.
func (b *Badger) writeParts(set func(k, v []byte) error, kind byte, job string, n uint64, data []byte) (uint32, error) {
	part := uint32(0)
	for off := 0; off < len(data); off += b.partSize {
		if err := set(partKey(kind, job, n, part), data[off:min(off+b.partSize, len(data))]); err != nil {
			return part, err
		}
		part++
	}
	return part, nil
}

// withParts calls fn with the data stored as parts under (kind, job, n):
// the value itself, valid only during the call, when there is one part (the
// common case, saving a copy), else the parts joined.
func withParts(txn *badger.Txn, kind byte, job string, n uint64, parts uint32, fn func(data []byte) error) error {
	var joined []byte
	for p := range parts {
		item, err := txn.Get(partKey(kind, job, n, p))
		if err != nil {
			return fmt.Errorf("store: job %q: event chunk at %d: part %d of %d: %w", job, n, p, parts, err)
		}
		if parts == 1 {
			return item.Value(fn)
		}
		if err := item.Value(func(v []byte) error { joined = append(joined, v...); return nil }); err != nil {
			return err
		}
	}
	return fn(joined)
}

func readHead(txn *badger.Txn, job string) (headRecord, error) {
	var rec headRecord
	item, err := txn.Get(headKey(job))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return rec, nil
	}
	if err != nil {
		return rec, err
	}
	err = item.Value(func(v []byte) error { return decodeJSON("head of job "+job, v, &rec) })
	return rec, err
}

// createLanes creates the lanes of dests that have none at seq, the first
// event of the commit being flipped, so a new destination receives events
// from this commit on and none from before.
func createLanes(txn *badger.Txn, job string, seq uint64, dests []string) error {
	index, err := readLaneIndex(txn, job)
	if err != nil {
		return err
	}
	n := len(index)
	for _, d := range dests {
		if slices.Contains(index, d) {
			continue
		}
		if err := setJSON(txn, laneKey(d, job), &LaneState{Destination: d, Job: job, Cursor: seq}); err != nil {
			return err
		}
		index = append(index, d)
	}
	if len(index) == n {
		return nil
	}
	slices.Sort(index)
	return setJSON(txn, laneIndexKey(job), index)
}
