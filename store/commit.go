package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// A commit of any size is atomic although Badger caps one transaction at
// 15% of a memtable:
//
//  1. Staging: a new snapshot (or snapshot delta) too large to go inline
//     (inline.go) is written to its own file (snapfile.go), named by the
//     new version, and events too many for the flip as chunks under (job,
//     first seq of the chunk) in Badger, each a small marker plus parts, in
//     as many transactions as they need. Nothing reads them yet: readers
//     only follow the head, and the head still names the old version,
//     chunks and LastSeq.
//  2. Flip: one transaction checks that the head is still at base, writes
//     the new head (Version, LastSeq, snapshot chunks, validators), creates
//     the lanes of new destinations and writes whatever of the commit fits
//     beside them (flipBudget): the parts of an inline chunk, the event
//     chunks of a small change set and the deletion of the inline chunks a
//     full snapshot replaces. This is the commit point. A small job's
//     commit is this one transaction, so one fsync that Badger shares with
//     concurrent commits.
//  3. A full snapshot replaces the previous one and its deltas: their
//     files are deleted (and their inline parts, when the flip had no room
//     for that). A delta is added to the head's list and deletes nothing.
//
// A crash before the flip leaves data that no head points to: a snapshot
// file the head does not list and chunks beyond its LastSeq. They are
// deleted at the start of the job's next Commit, before it stages under the
// same names, and at Open. A crash right after the flip leaves the replaced
// files (or inline parts), deleted at the job's next commit and at Open
// (recover.go).

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
	return b.commit(ctx, job, base, c, nil)
}

// commit is Commit; with s (a Streams enabled), it also writes c's events
// to the stream log, in the flip where they fit (stream.go), and publishes
// them through s once committed.
func (b *Badger) commit(ctx context.Context, job string, base uint64, c *Commit, s *Streams) (head Head, err error) {
	if err := checkCommit(job, c); err != nil {
		return Head{}, err
	}
	if err := b.space.room(int64(len(c.Snapshot) + len(c.SnapshotDelta))); err != nil {
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
	var oldRaw []byte // the stored head, which the flip compares instead of decoding it again
	var lanes []string
	err = b.db.View(func(txn *badger.Txn) error {
		if old, oldRaw, err = readHeadRaw(txn, job); err != nil {
			return err
		}
		lanes, err = readLaneIndex(txn, job)
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
	b.deleteStrayParts(job, js)

	var next headRecord
	if s == nil {
		next = b.nextHead(job, old, c)
	} else {
		sc := s.begin(c, func() { next = b.nextHead(job, old, c) })
		defer func() { s.end(sc, err == nil) }()
	}
	storeEvents := len(c.Events) > 0 && (len(lanes) > 0 || len(c.Destinations) > 0)
	budget := b.flipBudget(job, len(oldRaw), c, lanes)
	fl, err := b.stage(ctx, job, &next, c, storeEvents, s != nil, &budget)
	if err != nil {
		b.discard(job)
		return Head{}, fmt.Errorf("job %q: stage commit: %w", job, err)
	}
	headJSON, err := json.Marshal(&next)
	if err != nil {
		fl.snap.close()
		return Head{}, err
	}
	var replaced [][]byte // inline parts of replaced chunks, deleted after the flip
	if fl.snap != nil && fl.snap.full {
		replaced = inlinePartKeys(nil, job, old.chunks())
		if budget.takeDeletes(replaced) {
			fl.deletes, replaced = replaced, nil
		}
	}
	if b.beforeFlip != nil {
		if err := b.beforeFlip(); err != nil {
			fl.snap.close()
			return Head{}, err
		}
	}
	js.snap.Lock()
	err = b.update(func(txn *badger.Txn) error {
		if err := checkHead(txn, job, base, oldRaw); err != nil {
			return err
		}
		if err := fl.write(txn, job); err != nil {
			return err
		}
		if err := txn.Set(headKey(job), headJSON); err != nil {
			return err
		}
		return createLanes(txn, job, old.LastSeq+1, c.Destinations)
	})
	if err == nil {
		b.install(js, next.Version, fl.snap)
	} else {
		// A failed commit may still have reached the disk: let the next
		// reader open whatever the head names.
		b.releaseChunks(js.chunks)
		js.chunks, js.loaded = nil, false
	}
	js.snap.Unlock()
	if err != nil {
		fl.snap.close()
		b.discard(job)
		return Head{}, fmt.Errorf("job %q: commit: %w", job, err)
	}
	if err := b.writeStreamAfter(fl.stream); err != nil {
		b.logger.Warn("could not write the stream markers that did not fit the commit; stream clients will miss those events",
			"job", job, "chunks", len(fl.stream.after), "err", err)
	}
	if b.afterFlip != nil {
		if err := b.afterFlip(); err != nil {
			return Head{}, err
		}
	}
	if fl.snap != nil && fl.snap.full && old.Snap != nil {
		if err := b.removeFiles(job, old.chunks()); err != nil {
			b.logger.Warn("could not delete replaced snapshot files; the next commit or start removes them",
				"job", job, "version", old.Snap.Version, "deltas", len(old.Deltas), "err", err)
		}
		js.strayParts = append(js.strayParts, replaced...)
		b.deleteStrayParts(job, js)
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

// flip is what a commit's flip transaction writes besides the head and
// the lanes.
type flip struct {
	snap    *staged       // the commit's snapshot chunk (nil: none); its parts when inline
	events  []kv          // event chunk markers and parts, when they fit
	stream  *streamStaged // stream log entries (nil: none; stream.go)
	deletes [][]byte      // inline parts of the chunks a full snapshot replaces, when they fit
}

// kv is one key and value to set.
type kv struct{ k, v []byte }

// write writes f into the flip transaction.
func (f *flip) write(txn *badger.Txn, job string) error {
	if f.snap != nil && f.snap.chunk.Inline {
		if err := setSnapParts(txn, job, f.snap.chunk.Version, f.snap.data); err != nil {
			return err
		}
	}
	for _, e := range f.events {
		if err := txn.Set(e.k, e.v); err != nil {
			return err
		}
	}
	if f.stream != nil {
		for _, e := range f.stream.flip {
			if err := txn.Set(e.k, e.v); err != nil {
				return err
			}
		}
	}
	for _, k := range f.deletes {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// flipBudget is what the flip transaction of c on job can carry besides
// what it must: the head, whose stored form has oldHead bytes, grown by what
// c may add to it (new validators and hash, a snapshot chunk), and the lanes
// of c's destinations with the job's lane index (which lists lanes), counted
// as if every one were new (a lane deleted meanwhile is created again).
func (b *Badger) flipBudget(job string, oldHead int, c *Commit, lanes []string) txnBudget {
	t := b.newTxnBudget()
	// Beyond the validators and the base64 hash: two times and the
	// snapshot chunk as [version,size,1], each with its field name.
	const headGrowth = 256
	t.reserve(len(headKey(job)), oldHead+headGrowth+jsonStringMax(c.ETag)+jsonStringMax(c.LastModified)+2*len(c.BodyHash))
	const laneJSON = 256 // a LaneState's JSON, besides its names
	index := 2
	for _, d := range c.Destinations {
		t.reserve(len(laneKey(d, job)), laneJSON+jsonStringMax(d)+jsonStringMax(job))
		index += jsonStringMax(d) + 1
	}
	for _, d := range lanes {
		index += jsonStringMax(d) + 1
	}
	t.reserve(len(laneIndexKey(job)), index)
	return t
}

// jsonStringMax bounds the length of s as a JSON string: quoted, every
// byte that encoding/json may escape counted at its longest (\u00XX, or
// \ufffd for a byte of invalid UTF-8).
func jsonStringMax(s string) int {
	n := 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c >= 0x80, c == '"', c == '\\', c == '<', c == '>', c == '&':
			n += 6
		default:
			n++
		}
	}
	return n
}

// takeDeletes charges the deletion of keys, all or none, reporting whether
// they fit.
func (t *txnBudget) takeDeletes(keys [][]byte) bool {
	rest := *t
	for _, k := range keys {
		if !rest.take(len(k), 0) {
			return false
		}
	}
	*t = rest
	return true
}

// stage stages c's snapshot chunk (inline when it fits budget, else its
// file) and its events (in the flip too when they fit what is left, else
// in as many transactions as they need), records the chunk in next, and
// returns what the flip writes; with stream, its events go to the stream
// log too (after the job's log, in what budget leaves). With SyncWrites
// each staged write is durable before the flip is written, so that no
// crash, power loss included, can keep the flip and lose what it points
// to; without, a process crash cannot either (the OS holds every write),
// but a power loss may.
func (b *Badger) stage(ctx context.Context, job string, next *headRecord, c *Commit, storeEvents, stream bool, budget *txnBudget) (*flip, error) {
	snap, err := b.writeSnapshot(ctx, job, next.Version, c, inlineLimit(*budget, job, b.inlineMax))
	if err != nil {
		return nil, fmt.Errorf("write snapshot file: %w", err)
	}
	switch {
	case snap == nil:
	case snap.full:
		next.Snap, next.Deltas = &snap.chunk, nil
	default:
		next.Deltas = append(slices.Clip(next.Deltas), snap.chunk)
	}
	if snap != nil && snap.chunk.Inline {
		budget.chargeParts(job, snap.chunk.Size)
	}
	fl := &flip{snap: snap}
	if storeEvents {
		if fl.events, err = b.stageEvents(ctx, job, c.Events, budget); err != nil {
			snap.close()
			return nil, err
		}
	}
	if stream && len(c.Events) > 0 {
		if fl.stream, err = b.stageStream(ctx, job, c.Events, budget); err != nil {
			snap.close()
			return nil, fmt.Errorf("stage stream events: %w", err)
		}
	}
	return fl, nil
}

// stageEvents encodes events as chunks under their first sequence numbers
// and returns their keys and values when all of them fit budget (charging
// it), for the flip to write. Otherwise it writes them, in as many
// transactions as they need, and returns none.
func (b *Badger) stageEvents(ctx context.Context, job string, events []Event, budget *txnBudget) ([]kv, error) {
	var held []kv
	var wb *badger.WriteBatch
	defer func() {
		if wb != nil {
			wb.Cancel()
		}
	}()
	rest := *budget
	set := func(k, v []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if wb == nil {
			if rest.take(len(k), len(v)) {
				held = append(held, kv{k, v})
				return nil
			}
			wb = b.db.NewWriteBatch()
			for _, e := range held {
				if err := wb.Set(e.k, e.v); err != nil {
					return err
				}
			}
			held = nil
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
		return nil, err
	}
	if wb != nil {
		return nil, wb.Flush()
	}
	*budget = rest
	return held, nil
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
	rec, _, err := readHeadRaw(txn, job)
	return rec, err
}

// readHeadRaw reads job's head, and returns its stored form too (nil for
// a job never committed).
func readHeadRaw(txn *badger.Txn, job string) (headRecord, []byte, error) {
	var rec headRecord
	item, err := txn.Get(headKey(job))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return rec, nil, nil
	}
	if err != nil {
		return rec, nil, err
	}
	raw, err := item.ValueCopy(nil)
	if err == nil {
		err = decodeJSON("head of job "+job, raw, &rec)
	}
	return rec, raw, err
}

// checkHead fails with ErrStale unless job's head is still the one stored
// as raw (nil: none), at version base. Every commit bumps the version, so
// comparing the stored form is checking the version, without decoding it.
func checkHead(txn *badger.Txn, job string, base uint64, raw []byte) error {
	item, err := txn.Get(headKey(job))
	if errors.Is(err, badger.ErrKeyNotFound) {
		if raw == nil {
			return nil
		}
		return staleError(job, base, 0)
	}
	if err != nil {
		return err
	}
	same := false
	err = item.Value(func(v []byte) error { same = raw != nil && bytes.Equal(v, raw); return nil })
	if err != nil || same {
		return err
	}
	cur, err := readHead(txn, job)
	if err != nil {
		return err
	}
	return staleError(job, base, cur.Version)
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
