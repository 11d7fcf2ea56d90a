package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// jobState is what the store keeps in memory for one job.
type jobState struct {
	commit sync.Mutex // serializes the job's commits
	// strayParts are the keys of inline chunk parts a commit replaced and
	// could not delete; the next commit deletes them. Guarded by commit.
	strayParts [][]byte

	// snap guards the rest: ReadSnapshot and LoadSnapshot hold it shared;
	// Commit holds it exclusively from its flip transaction until the
	// chunks below match the new head, so no reader sees a version the
	// chunks do not belong to.
	snap    sync.RWMutex
	loaded  bool        // version and chunks reflect the head
	version uint64      // head version
	chunks  []openChunk // the head's snapshot chunks, in chunks() order
}

// openChunk is one chunk of a head as readers see it: an open snapshot
// file, read with ReadAt (pread), which is safe for concurrent use, or an
// inline chunk, whose bytes the cache holds or Badger gives. A file's
// handle stays open until a commit replaces the file, or Close.
type openChunk struct {
	f    *os.File     // nil for an inline chunk
	in   *inlineChunk // nil for a file
	size int64
}

// job returns the in-memory state of job, creating it on first use.
func (b *Badger) job(job string) *jobState {
	b.jobsMu.Lock()
	defer b.jobsMu.Unlock()
	js, ok := b.jobs[job]
	if !ok {
		js = new(jobState)
		b.jobs[job] = js
	}
	return js
}

// readChunks calls fn with the snapshot chunks of job, provided the head
// is at version (else ErrStale). On first use it reads the head and opens
// its files; from then on Commit keeps them current, so a call costs no
// Badger transaction (but the first read of an inline chunk the cache does
// not hold).
func (b *Badger) readChunks(job string, version uint64, fn func(chunks []openChunk) error) error {
	// What enter does, without the closure it allocates: this runs
	// thousands of times a poll.
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	js := b.job(job)
	js.snap.RLock()
	for !js.loaded {
		js.snap.RUnlock()
		if err := b.loadChunks(job, js); err != nil {
			return err
		}
		js.snap.RLock()
	}
	defer js.snap.RUnlock()
	if js.version != version {
		return fmt.Errorf("job %q: read snapshot version %d, head is at %d: %w", job, version, js.version, ErrStale)
	}
	return fn(js.chunks)
}

// loadChunks reads job's head and opens the files it references, unless a
// concurrent call did so first. Inline chunks are read when first needed.
func (b *Badger) loadChunks(job string, js *jobState) error {
	js.snap.Lock()
	defer js.snap.Unlock()
	if js.loaded {
		return nil
	}
	var rec headRecord
	err := b.db.View(func(txn *badger.Txn) error {
		var err error
		rec, err = readHead(txn, job)
		return err
	})
	if err != nil {
		return err
	}
	var chunks []openChunk
	for i, sc := range rec.chunks() {
		if sc.Inline {
			chunks = append(chunks, openChunk{in: newInlineChunk(sc.Version, sc.Size), size: sc.Size})
			continue
		}
		c, err := b.openChunk(job, sc, i > 0)
		if err != nil {
			b.releaseChunks(chunks)
			return err
		}
		chunks = append(chunks, c)
	}
	js.loaded, js.version, js.chunks = true, rec.Version, chunks
	return nil
}

// openChunk opens one snapshot file and checks that it has the size the
// head recorded, so that a file cut short (a power loss without
// SyncWrites, a damaged disk) is reported rather than read as data.
func (b *Badger) openChunk(job string, sc snapChunk, delta bool) (openChunk, error) {
	f, err := os.Open(filepath.Join(b.jobDir(job), fileName(sc.Version, delta)))
	if err != nil {
		return openChunk{}, fmt.Errorf("store: job %q: %w", job, err)
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() != sc.Size {
		err = fmt.Errorf("store: job %q: snapshot file %s has %d bytes, the head records %d", job, f.Name(), fi.Size(), sc.Size)
	}
	if err != nil {
		_ = f.Close()
		return openChunk{}, err
	}
	return openChunk{f: f, size: sc.Size}, nil
}

// releaseChunks closes the files among chunks and lets the cache drop the
// bytes of the inline ones.
func (b *Badger) releaseChunks(chunks []openChunk) {
	for _, c := range chunks {
		if c.in != nil {
			b.cache.drop(c.in)
		} else {
			_ = c.f.Close() // read-only use: nothing to lose
		}
	}
}

// install makes js reflect the head a commit just flipped to, at version,
// given the chunk the commit wrote (nil if none). It runs with js.snap
// held exclusively. A job no reader has loaded stays unloaded: its first
// reader opens the files. The bytes of a new inline chunk go to the cache
// (copied: the commit's caller owns them), since the next poll reads it.
func (b *Badger) install(js *jobState, version uint64, s *staged) {
	if !js.loaded {
		s.close()
		return
	}
	js.version = version
	if s == nil {
		return
	}
	if s.full {
		// First, so that the cache need not evict for the new chunk what
		// it replaces.
		b.releaseChunks(js.chunks)
		js.chunks = nil
	}
	c := openChunk{f: s.f, size: s.chunk.Size}
	if s.chunk.Inline {
		c.in = newInlineChunk(version, s.chunk.Size)
		b.cache.put(c.in, append(make([]byte, 0, len(s.data)), s.data...))
	}
	js.chunks = append(js.chunks, c)
}

// ReadSnapshot fills p with the bytes at offset off of one stored chunk of
// job's snapshot at version: chunk 0 is the full snapshot, chunk k the
// k-th delta committed after it (LoadSnapshot's base and deltas). version
// must be the head's (else ErrStale), and the range must lie inside the
// chunk. It reads a file with pread on a handle kept open, and an inline
// chunk from memory (from Badger once, when the cache does not hold it),
// so that a diff can fetch thousands of stored items per poll; it is safe
// for concurrent use.
func (b *Badger) ReadSnapshot(job string, version uint64, chunk int, p []byte, off int64) error {
	return b.readChunks(job, version, func(chunks []openChunk) error {
		if chunk < 0 || chunk >= len(chunks) {
			return fmt.Errorf("store: job %q: snapshot version %d has %d chunks, no chunk %d", job, version, len(chunks), chunk)
		}
		c := chunks[chunk]
		if off < 0 || off > c.size || int64(len(p)) > c.size-off {
			return fmt.Errorf("store: job %q: read of %d bytes at offset %d is outside chunk %d of snapshot version %d (%d bytes)",
				job, len(p), off, chunk, version, c.size)
		}
		return b.readFull(job, c, p, off)
	})
}

// readFull fills p from c at off.
func (b *Badger) readFull(job string, c openChunk, p []byte, off int64) error {
	if c.in != nil {
		data, err := b.bytesOf(job, c.in)
		if err != nil {
			return err
		}
		copy(p, data[off:])
		return nil
	}
	_, err := c.f.ReadAt(p, off)
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("file %s is shorter than the %d bytes the head records", c.f.Name(), c.size)
	}
	if err != nil {
		return fmt.Errorf("store: job %q: read snapshot: %w", job, err)
	}
	return nil
}

// LoadSnapshot returns the full snapshot of the job at version and the
// deltas committed after it, oldest first, read from their files and
// inline chunks (a copy the caller owns). version
// must be the head's version (older files are deleted when a commit
// replaces them): any other fails with ErrStale. The snapshot is nil when
// version is 0 or when no commit of the job carried one.
func (b *Badger) LoadSnapshot(job string, version uint64) (base []byte, deltas [][]byte, err error) {
	if version == 0 {
		return nil, nil, nil
	}
	err = b.readChunks(job, version, func(chunks []openChunk) error {
		for i, c := range chunks {
			data := make([]byte, c.size)
			if err := b.readFull(job, c, data, 0); err != nil {
				return err
			}
			if i == 0 {
				base = data
			} else {
				deltas = append(deltas, data)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return base, deltas, nil
}

// closeJobFiles closes every open snapshot file and empties the cache of
// inline chunks, at Close.
func (b *Badger) closeJobFiles() {
	b.jobsMu.Lock()
	defer b.jobsMu.Unlock()
	for _, js := range b.jobs {
		js.snap.Lock()
		b.releaseChunks(js.chunks)
		js.chunks, js.loaded = nil, false
		js.snap.Unlock()
	}
}
