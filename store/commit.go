package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// A commit of any size is atomic although Badger caps one transaction at
// 15% of a memtable:
//
//  1. Staging: the new snapshot (or snapshot delta) is written as parts
//     under (job, new version) and the events as chunks under (job, first
//     seq of the chunk), each a small marker plus parts, in as many
//     transactions as they need. Nothing reads them yet: readers only
//     follow the head, and the head still names the old version and
//     LastSeq.
//  2. Flip: one small transaction checks that the head is still at base,
//     writes the new head (Version, LastSeq, snapshot location, validators)
//     and creates the lanes of new destinations. This is the commit point.
//  3. A full snapshot replaces the previous one and its deltas: their parts
//     are deleted. A delta is added to the head's list and deletes nothing.
//
// A crash before the flip leaves data that no head points to: snapshot parts
// of a version above the head's and chunks beyond its LastSeq. They are
// deleted at the start of the job's next Commit, before it stages under the
// same keys, and at Open. A crash right after the flip leaves the replaced
// snapshot and deltas, deleted at Open (recover.go).

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

// LoadSnapshot returns the full snapshot of the job at version and the
// deltas committed after it, oldest first. version must be the head's
// version (older data is deleted when a commit replaces it): any other
// fails with ErrStale. The snapshot is nil when version is 0 or when no
// commit of the job carried one.
func (b *Badger) LoadSnapshot(job string, version uint64) (base []byte, deltas [][]byte, err error) {
	if version == 0 {
		return nil, nil, nil
	}
	done, err := b.enter()
	if err != nil {
		return nil, nil, err
	}
	defer done()
	err = b.db.View(func(txn *badger.Txn) error {
		rec, err := readHead(txn, job)
		if err != nil {
			return err
		}
		if rec.Version != version {
			return fmt.Errorf("job %q: read snapshot version %d, head is at %d: %w", job, version, rec.Version, ErrStale)
		}
		if rec.SnapVersion == 0 {
			return nil
		}
		if base, err = readSnapPart(txn, job, rec.base()); err != nil {
			return err
		}
		for _, d := range rec.Deltas {
			delta, err := readSnapPart(txn, job, d)
			if err != nil {
				return err
			}
			deltas = append(deltas, delta)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return base, deltas, nil
}

// readSnapPart reads a stored snapshot or delta and checks its size.
func readSnapPart(txn *badger.Txn, job string, p snapPart) ([]byte, error) {
	data, err := getParts(txn, kindSnapshot, job, p.Version, p.Parts, p.Size)
	if err == nil && len(data) != p.Size {
		err = fmt.Errorf("store: job %q: snapshot version %d has %d bytes, head says %d", job, p.Version, len(data), p.Size)
	}
	return data, err
}

// Commit atomically replaces the job's snapshot (or appends a delta to
// it), appends its events and creates the lanes of destinations that have
// none, provided the job is still at base (else ErrStale). Every commit
// increments Version, also one with neither Snapshot nor SnapshotDelta,
// which keeps the stored snapshot and changes only the head's metadata; a
// commit with events sets ChangedAt. Commit fills in each
// event's Seq (continuing the job's LastSeq), Job, ID (when empty) and Time
// (the commit time when zero; every time is stored in UTC). Events of a job
// that has no lane and names no destination are numbered but not stored,
// since nobody would read them.
func (b *Badger) Commit(ctx context.Context, job string, base uint64, c *Commit) (Head, error) {
	if err := checkCommit(job, c); err != nil {
		return Head{}, err
	}
	done, err := b.enter()
	if err != nil {
		return Head{}, err
	}
	defer done()
	mu := b.jobLock(job)
	mu.Lock()
	defer mu.Unlock()

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
	if c.SnapshotDelta != nil && old.SnapVersion == 0 {
		return Head{}, fmt.Errorf("store: job %q: a snapshot delta needs a stored snapshot, and there is none", job)
	}
	if err := b.removeOrphans(job, old); err != nil {
		return Head{}, err
	}

	next := b.nextHead(job, old, c)
	storeEvents := len(c.Events) > 0 && (hasLanes || len(c.Destinations) > 0)
	if err := b.stage(ctx, job, next, c, storeEvents); err != nil {
		b.discard(job, old)
		return Head{}, fmt.Errorf("job %q: stage commit: %w", job, err)
	}
	if b.beforeFlip != nil {
		if err := b.beforeFlip(); err != nil {
			return Head{}, err
		}
	}
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
	if err != nil {
		b.discard(job, old)
		return Head{}, fmt.Errorf("job %q: commit: %w", job, err)
	}
	if c.Snapshot != nil && old.SnapVersion != 0 {
		var keys [][]byte
		for _, p := range append([]snapPart{old.base()}, old.Deltas...) {
			keys = partKeys(keys, kindSnapshot, job, p.Version, p.Parts)
		}
		if err := b.deleteKeys(keys); err != nil {
			b.logger.Warn("could not delete replaced snapshot; it is removed at the next start",
				"job", job, "version", old.SnapVersion, "deltas", len(old.Deltas), "err", err)
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

// nextHead numbers c's events and returns the head that commits c on old.
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
	switch {
	case c.Snapshot != nil:
		p := b.snapPart(next.Version, c.Snapshot)
		next.SnapVersion, next.SnapParts, next.SnapSize = p.Version, p.Parts, p.Size
		next.Deltas = nil
	case c.SnapshotDelta != nil:
		next.Deltas = append(slices.Clip(old.Deltas), b.snapPart(next.Version, c.SnapshotDelta))
	}
	return next
}

// snapPart is where data written at version is stored.
func (b *Badger) snapPart(version uint64, data []byte) snapPart {
	return snapPart{Version: version, Parts: uint32((len(data) + b.partSize - 1) / b.partSize), Size: len(data)}
}

// stage writes the snapshot parts and event chunks of c in as many
// transactions as they need. With SyncWrites each of them is durable before
// the flip is written, so that no crash, power loss included, can keep the
// flip and lose what it points to; without, a process crash cannot either
// (the OS holds every write), but a power loss may.
func (b *Badger) stage(ctx context.Context, job string, next headRecord, c *Commit, storeEvents bool) error {
	snap := c.Snapshot
	if snap == nil {
		snap = c.SnapshotDelta
	}
	if snap == nil && !storeEvents {
		return nil
	}
	wb := b.db.NewWriteBatch()
	defer wb.Cancel()
	set := func(k, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return wb.Set(k, v)
	}
	if snap != nil {
		// A full snapshot and a delta are both stored under the version
		// that writes them.
		if _, err := b.writeParts(set, kindSnapshot, job, next.Version, snap); err != nil {
			return err
		}
	}
	if storeEvents {
		err := encodeChunks(c.Events, func(first uint64, count int, chunk []byte) error {
			parts, err := b.writeParts(set, kindChunkPart, job, first, chunk)
			if err != nil {
				return err
			}
			return set(seqPrefix(kindChunk, job, first), chunkMarker{count: uint32(count), parts: parts}.encode())
		})
		if err != nil {
			return err
		}
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

// getParts reads parts 0..parts-1 under (kind, job, n) and joins them; size
// is the expected total, for allocating once.
func getParts(txn *badger.Txn, kind byte, job string, n uint64, parts uint32, size int) ([]byte, error) {
	data := make([]byte, 0, size)
	err := withParts(txn, kind, job, n, parts, func(v []byte) error {
		data = append(data, v...)
		return nil
	})
	return data, err
}

// withParts calls fn with the data stored as parts under (kind, job, n):
// the value itself, valid only during the call, when there is one part (the
// common case, saving a copy), else the parts joined.
func withParts(txn *badger.Txn, kind byte, job string, n uint64, parts uint32, fn func(data []byte) error) error {
	var joined []byte
	for p := range parts {
		item, err := txn.Get(partKey(kind, job, n, p))
		if err != nil {
			what := "snapshot version"
			if kind == kindChunkPart {
				what = "event chunk at"
			}
			return fmt.Errorf("store: job %q: %s %d: part %d of %d: %w", job, what, n, p, parts, err)
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

func (b *Badger) jobLock(job string) *sync.Mutex {
	b.jobsMu.Lock()
	defer b.jobsMu.Unlock()
	mu, ok := b.jobs[job]
	if !ok {
		mu = new(sync.Mutex)
		b.jobs[job] = mu
	}
	return mu
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
