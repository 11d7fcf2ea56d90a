package store

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
)

// Inline chunks. A snapshot chunk of at most inlineMax bytes is kept in
// Badger, as parts of snapPartSize bytes under
//
//	's' name(job) version(8) part(4)
//
// written by the commit's flip transaction itself, together with the head
// that names it: no fsync of its own, no file, nothing staged that a crash
// could leave behind. A full snapshot that replaces inline chunks deletes
// their parts in its flip too when they fit (else right after it, like
// replaced files), so the only parts no head references are those of
// chunks a flip replaced, all at versions below the head's full snapshot;
// Open deletes them (strayPartKeys).
//
// Readers keep the bytes of inline chunks they read in an inlineCache
// bounded across jobs (inlineCacheMax), so that ReadSnapshot, called
// thousands of times a poll, reads memory and not Badger: a chunk costs one
// Badger transaction when it is first read (and again only if the cache
// evicted it), and none when the commit that wrote it put it there.

// inlineMax is the largest chunk kept inline. Measured with SyncWrites on
// a disk whose fsync takes 0.45 ms (BenchmarkCommitChunk: delta commits
// with 20 events each, 16 jobs committing at once, 3,000 commits so that
// Badger's flushes and compactions run at their steady rate), per commit:
//
//	size    inline: time, CPU    file: time, CPU
//	 4 KiB  0.9-1.1 ms, 1.0 ms   1.9-2.1 ms, 1.6-1.8 ms
//	 8 KiB  1.1-1.4 ms, 1.4 ms   1.5-2.1 ms, 1.8-2.3 ms
//	16 KiB  1.4-1.6 ms, 1.9-2.2  2.1-2.3 ms, 1.6-2.7 ms
//	32 KiB  2.2-2.6 ms, 2.7-2.8  1.8-1.9 ms, 1.8-2.2 ms
//
// Past 16 KiB the bytes cost more in Badger (its WAL, memtable flushes and
// compactions, which rewrite them at every level) than the two fsyncs of a
// file save. A 1,000-item job's deltas (3 KB) go inline; a 10,000-item
// job's (30 KB) and full snapshots of more than about 80 items go to files.
const inlineMax = 16 << 10

// inlineCacheMax bounds the bytes of inline chunks that readers keep in
// memory, across all jobs: 2,000 small jobs with a few KB of snapshot each
// fit, and a larger working set costs reads from Badger, not memory.
const inlineCacheMax = 16 << 20

// snapPartSize is the size of the parts an inline chunk is cut into (the
// last may be shorter): a value that fits one Badger block (see
// maxPartSize). It is part of the stored format: parts are read back by the
// keys their count, computed from the chunk's size, gives.
const snapPartSize = maxPartSize

// flipMargin is what the flip's budget keeps in hand besides what is
// counted, in bytes and entries.
const (
	flipMarginBytes   = 1 << 10
	flipMarginEntries = 8
)

// txnBudget is what a transaction may still take, in Badger's own measure
// (Txn.checkSize): each entry costs its key, its value (all of ours stay in
// the LSM tree) and 12 bytes, and one of the entry count.
type txnBudget struct{ size, count int64 }

func entryCost(key, value int) int64 { return int64(key+value) + 12 }

// newTxnBudget is the budget of one transaction of b's database. Badger
// refuses a transaction whose size or count reaches its limit.
func (b *Badger) newTxnBudget() txnBudget {
	return txnBudget{size: b.db.MaxBatchSize() - 1 - flipMarginBytes, count: b.db.MaxBatchCount() - 1 - flipMarginEntries}
}

// take charges an entry of a key and a value of the given lengths,
// reporting false (and charging nothing) when it does not fit.
func (t *txnBudget) take(key, value int) bool {
	c := entryCost(key, value)
	if c > t.size || t.count < 1 {
		return false
	}
	t.size, t.count = t.size-c, t.count-1
	return true
}

// reserve charges an entry that must be written whatever fits: the budget
// may go negative, leaving room for nothing optional.
func (t *txnBudget) reserve(key, value int) {
	t.size -= entryCost(key, value)
	t.count--
}

// snapPartKeyLen is the length of the keys of job's inline chunk parts.
func snapPartKeyLen(job string) int { return len(partKey(kindSnapshot, job, 0, 0)) }

// inlineLimit is the largest chunk of job that fits budget besides what
// it already holds, and inlineMax; a negative limit when none fits, not
// even an empty one (which has no part).
func inlineLimit(budget txnBudget, job string, max int) int {
	if max < 0 || budget.size < 0 || budget.count < 0 {
		return -1
	}
	parts := min(budget.size/entryCost(snapPartKeyLen(job), snapPartSize), budget.count)
	return int(min(int64(max), parts*snapPartSize))
}

// snapParts is the number of parts of an inline chunk of size bytes.
func snapParts(size int64) uint32 { return uint32((size + snapPartSize - 1) / snapPartSize) }

// chargeParts charges the parts of an inline chunk of size bytes.
func (t *txnBudget) chargeParts(job string, size int64) {
	for p := range snapParts(size) {
		t.reserve(snapPartKeyLen(job), int(min(size-int64(p)*snapPartSize, snapPartSize)))
	}
}

// setSnapParts writes the parts of the inline chunk of job written at
// version.
func setSnapParts(txn *badger.Txn, job string, version uint64, data []byte) error {
	for p := range snapParts(int64(len(data))) {
		off := int(p) * snapPartSize
		if err := txn.Set(partKey(kindSnapshot, job, version, p), data[off:min(off+snapPartSize, len(data))]); err != nil {
			return err
		}
	}
	return nil
}

// inlinePartKeys appends the keys of the parts of the inline chunks among
// chunks.
func inlinePartKeys(keys [][]byte, job string, chunks []snapChunk) [][]byte {
	for _, c := range chunks {
		if c.Inline {
			keys = partKeys(keys, kindSnapshot, job, c.Version, snapParts(c.Size))
		}
	}
	return keys
}

// loadInline reads the inline chunk of job written at version, of size
// bytes, in one transaction.
func (b *Badger) loadInline(job string, version uint64, size int64) ([]byte, error) {
	data := make([]byte, 0, size)
	parts := snapParts(size)
	err := b.db.View(func(txn *badger.Txn) error {
		for p := range parts {
			item, err := txn.Get(partKey(kindSnapshot, job, version, p))
			if err != nil {
				return fmt.Errorf("store: job %q: snapshot chunk of version %d: part %d of %d: %w", job, version, p, parts, err)
			}
			if err := item.Value(func(v []byte) error { data = append(data, v...); return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && int64(len(data)) != size {
		err = fmt.Errorf("store: job %q: snapshot chunk of version %d holds %d bytes, the head records %d", job, version, len(data), size)
	}
	if err != nil {
		return nil, err
	}
	return data, nil
}

// strayPartKeys appends the keys of job's inline chunk parts that head
// does not reference: those of versions below its full snapshot's (every
// part at or above it was written with a head that references it, by a
// flip, and is deleted only once a full snapshot replaced it).
func strayPartKeys(txn *badger.Txn, job string, head headRecord, keys [][]byte) ([][]byte, error) {
	var end []byte
	if head.Snap != nil {
		end = seqPrefix(kindSnapshot, job, head.Snap.Version)
	}
	err := eachItem(txn, jobPrefix(kindSnapshot, job), nil, func(item *badger.Item) error {
		if end != nil && string(item.Key()) >= string(end) {
			return errStop
		}
		keys = append(keys, item.KeyCopy(nil))
		return nil
	})
	return keys, err
}

// deleteStrayParts deletes the parts of inline chunks that a commit
// replaced and could not delete in its flip, and reports a failure as a
// warning: js keeps the keys, and the job's next commit (or Open) tries
// again. It runs with js.commit held.
func (b *Badger) deleteStrayParts(job string, js *jobState) {
	if len(js.strayParts) == 0 {
		return
	}
	if err := b.deleteKeys(js.strayParts); err != nil {
		b.logger.Warn("could not delete replaced inline snapshot chunks; the next commit or start removes them",
			"job", job, "keys", len(js.strayParts), "err", err)
		return
	}
	js.strayParts = nil
}

// inlineChunk is an inline chunk of a job's current snapshot as readers
// see it, with its bytes while the cache holds them.
type inlineChunk struct {
	version uint64
	size    int64
	data    atomic.Pointer[[]byte] // nil: not in memory; set and cleared under the cache's lock
	used    atomic.Bool            // read since the cache's clock hand last passed it

	// Guarded by the cache's lock.
	slot    int  // index in the cache's ring (-1: not there)
	dropped bool // no longer part of a head that readers see: never cached again
}

func newInlineChunk(version uint64, size int64) *inlineChunk {
	return &inlineChunk{version: version, size: size, slot: -1}
}

// inlineCache holds the bytes of inline chunks, at most limit in all, and
// evicts with the clock (second-chance) algorithm: a chunk read since the
// hand last passed is passed over once. Readers find a chunk's bytes
// through its data pointer, without the lock.
type inlineCache struct {
	mu    sync.Mutex
	limit int64
	bytes int64
	ring  []*inlineChunk
	hand  int
}

// bytesOf returns ch's bytes, from the cache or, when it has none, from
// the database (then caching them).
func (b *Badger) bytesOf(job string, ch *inlineChunk) ([]byte, error) {
	if p := ch.data.Load(); p != nil {
		if !ch.used.Load() {
			ch.used.Store(true)
		}
		return *p, nil
	}
	data, err := b.loadInline(job, ch.version, ch.size)
	if err != nil {
		return nil, err
	}
	return b.cache.put(ch, data), nil
}

// put caches data as ch's bytes, unless ch is no longer read or data is
// larger than the whole cache, and returns the bytes to read: those of a
// concurrent reader that cached them first, else data.
func (c *inlineCache) put(ch *inlineChunk, data []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := ch.data.Load(); p != nil {
		return *p
	}
	if ch.dropped || int64(len(data)) > c.limit {
		return data
	}
	for c.bytes+int64(len(data)) > c.limit {
		c.evictOne()
	}
	ch.data.Store(&data)
	ch.used.Store(true)
	ch.slot = len(c.ring)
	c.ring = append(c.ring, ch)
	c.bytes += int64(len(data))
	return data
}

// evictOne removes the first chunk the hand reaches that was not read
// since it last passed. The ring is not empty: the cache holds bytes.
func (c *inlineCache) evictOne() {
	for {
		if c.hand >= len(c.ring) {
			c.hand = 0
		}
		ch := c.ring[c.hand]
		if ch.used.Swap(false) {
			c.hand++
			continue
		}
		c.remove(ch)
		return
	}
}

// remove takes ch out of the ring and lets its bytes go; a reader that
// holds them still reads them.
func (c *inlineCache) remove(ch *inlineChunk) {
	if p := ch.data.Swap(nil); p != nil {
		c.bytes -= int64(len(*p))
	}
	last := c.ring[len(c.ring)-1]
	c.ring[ch.slot], last.slot = last, ch.slot
	c.ring[len(c.ring)-1] = nil
	c.ring = c.ring[:len(c.ring)-1]
	ch.slot = -1
}

// drop lets ch's bytes go for good: its chunk was replaced, or its job's
// view of the head was reset.
func (c *inlineCache) drop(ch *inlineChunk) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch.dropped = true
	if ch.slot >= 0 {
		c.remove(ch)
	}
}

// size returns the bytes the cache holds and the number of chunks.
func (c *inlineCache) size() (int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes, len(c.ring)
}
