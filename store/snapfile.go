package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
)

// Each chunk of a job's snapshot (its full snapshot, or one delta) is
// stored in one of two places, chosen per chunk when it is committed:
//
//   - a chunk of at most inlineMax bytes (inline.go) is kept inside Badger,
//     as parts written by the commit's flip transaction itself: it costs no
//     fsync of its own and is atomic with the head that names it;
//   - a larger one is a plain file beside the database:
//
//	<store dir>/snapshots/<job dir>/<version>.full
//	<store dir>/snapshots/<job dir>/<version>.delta
//
// Badger kept every snapshot as 3,968-byte parts in its LSM tree, so every
// 20 MB snapshot went through memtables, table builders and compactions
// (about 31 MB of a tick's live heap and 35 MB of mapped table pages for a
// 100,000-item job) and was rewritten again at every level it was
// compacted to. A file is written once, read with pread, and deleted when
// replaced. But a file costs a small job two fsyncs per changed poll (the
// file's and its directory's) that Badger, which groups the fsyncs of
// concurrent commits into one, does not.
//
// The job dir is the job's name with every byte outside [A-Za-z0-9._-]
// replaced by '_' and cut at 40 bytes, a dash, and 32 hex digits of the
// name's SHA-256: readable by an operator, valid for any name (a job name
// may hold '/', NUL or 64 KiB), and distinct for distinct names. version is
// the head version of the commit that wrote the chunk, in 20 digits so that
// a listing sorts by it; the head records it (with the chunk's size and
// where it is kept) as the chunk's identity.
//
// A commit writes its file completely, fsynced with its directory when
// SyncWrites is on, before the Badger transaction that makes the head
// reference it. A crash before that transaction leaves a file no head
// references; one after it, before the replaced files are deleted, leaves
// files the head no longer references. Either kind is deleted by the job's
// next commit and at Open, which also deletes the directories of jobs that
// have no head (their first commit never completed).

// snapshotsDir is the directory under the store's that holds snapshot files.
const snapshotsDir = "snapshots"

// storeFormat is the format version written under formatKey. Version 1
// kept snapshots as parts inside Badger; 2 keeps them in files.
// (formatVersion in keys.go is the value of version 1, no longer written.)
const storeFormat = "2"

// formatHints tell an operator what to do with a directory of an older format.
var formatHints = map[string]string{
	"1": "; version 1 kept snapshots inside the database: let the pollhook that wrote it " +
		"deliver its pending events, then start this one on an empty directory (every job then polls a new baseline)",
}

// snapWriteBuffer is the buffer between a Commit.SnapshotWriter and its
// file: large enough that a 20 MB snapshot takes a few hundred writes,
// small enough to be negligible beside the snapshot.
const snapWriteBuffer = 128 << 10

// headRecord is the stored form of a job's head: the public Head plus the
// chunks that hold its snapshot. Every commit bumps Version; a chunk keeps
// the version that wrote it, so a commit without a new snapshot rewrites
// nothing.
type headRecord struct {
	Head
	Snap   *snapChunk  `json:",omitempty"` // the full snapshot (nil: no commit carried one)
	Deltas []snapChunk `json:",omitempty"` // deltas committed since Snap, oldest first
}

// snapChunk identifies one stored chunk: the version that wrote it (its
// file's name, or its parts' keys), its size, checked when it is read, and
// whether it is kept in Badger (inline) rather than in a file. It is
// encoded as a JSON array, [version, size] for a file and [version, size,
// 1] for an inline chunk, to keep a head listing many deltas small; heads
// written before inline chunks existed name files only, and read as such.
type snapChunk struct {
	Version uint64
	Size    int64
	Inline  bool
}

func (c snapChunk) MarshalJSON() ([]byte, error) {
	if c.Inline {
		return json.Marshal([3]uint64{c.Version, uint64(c.Size), 1})
	}
	return json.Marshal([2]uint64{c.Version, uint64(c.Size)})
}

func (c *snapChunk) UnmarshalJSON(b []byte) error {
	// An array, not a slice, spares an allocation per chunk: heads are
	// decoded at every commit. A missing third element reads as 0.
	var a [3]uint64
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if a[1] > math.MaxInt64 || a[2] > 1 {
		return fmt.Errorf("snapshot chunk %v out of range", a)
	}
	c.Version, c.Size, c.Inline = a[0], int64(a[1]), a[2] == 1
	return nil
}

// chunks lists the head's snapshot chunks in the order LoadSnapshot and
// ReadSnapshot number them: the full snapshot, then the deltas.
func (r *headRecord) chunks() []snapChunk {
	if r.Snap == nil {
		return nil
	}
	return append([]snapChunk{*r.Snap}, r.Deltas...)
}

// fileName is the name of the snapshot file written at version; chunk 0
// of a head is its full snapshot, the others are deltas.
func fileName(version uint64, delta bool) string {
	if delta {
		return fmt.Sprintf("%020d.delta", version)
	}
	return fmt.Sprintf("%020d.full", version)
}

// fileNames is the set of file names the head references.
func (r *headRecord) fileNames() map[string]bool {
	names := make(map[string]bool)
	for i, c := range r.chunks() {
		if !c.Inline {
			names[fileName(c.Version, i > 0)] = true
		}
	}
	return names
}

// jobDirName is the name of the directory holding job's snapshot files.
func jobDirName(job string) string {
	const keep = 40
	name := make([]byte, 0, keep+1+32)
	for i := 0; i < len(job) && i < keep; i++ {
		c := job[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_',
			c == '.' && i > 0: // a leading dot would hide the directory
			name = append(name, c)
		default:
			name = append(name, '_')
		}
	}
	sum := sha256.Sum256([]byte(job))
	name = append(name, '-')
	return string(hex.AppendEncode(name, sum[:16]))
}

func (b *Badger) jobDir(job string) string { return filepath.Join(b.snapDir, jobDirName(job)) }

// staged is the snapshot chunk a commit wrote: a file, open for reads once
// the commit is flipped, or the bytes of an inline chunk, which the flip
// writes.
type staged struct {
	chunk snapChunk
	full  bool     // a full snapshot, replacing the head's chunks; else a delta
	f     *os.File // the file of a chunk that is not inline
	data  []byte   // the bytes of an inline chunk (not a copy: the caller's until the commit returns)
}

// writeSnapshot stages the snapshot or delta c carries (none: nil) as the
// chunk of version: inline when it has at most inlineMax bytes (a negative
// inlineMax keeps every chunk in a file), else in its file. A
// SnapshotWriter's output is held in memory until it outgrows inlineMax,
// then moved to the file, so that its size need not be known beforehand.
// With SyncWrites a file and its directory entry are durable when it
// returns. On error the file is removed.
func (b *Badger) writeSnapshot(ctx context.Context, job string, version uint64, c *Commit, inlineMax int) (*staged, error) {
	if c.Snapshot == nil && c.SnapshotDelta == nil && c.SnapshotWriter == nil {
		return nil, nil
	}
	full := c.SnapshotDelta == nil
	s := &staged{chunk: snapChunk{Version: version}, full: full}
	data := c.Snapshot
	if !full {
		data = c.SnapshotDelta
	}
	var w *countingWriter
	create := func() (io.Writer, error) {
		f, err := b.createSnapshotFile(job, version, !full)
		if err != nil {
			return nil, err
		}
		s.f, w = f, &countingWriter{ctx: ctx, w: f}
		return w, nil
	}
	var err error
	switch {
	case c.SnapshotWriter != nil:
		sw := &spillWriter{limit: inlineMax, buf: []byte{}, spill: func() (io.Writer, error) {
			w, err := create()
			if err != nil {
				return nil, err
			}
			return bufio.NewWriterSize(w, snapWriteBuffer), nil
		}}
		if inlineMax < 0 {
			err = sw.start()
		}
		if err == nil {
			err = c.SnapshotWriter(sw)
		}
		if err == nil && sw.w != nil {
			err = sw.w.(*bufio.Writer).Flush()
		}
		data = sw.buf
	case len(data) > inlineMax:
		var fw io.Writer
		if fw, err = create(); err == nil {
			_, err = fw.Write(data)
		}
	}
	if s.f == nil {
		if err != nil {
			return nil, err
		}
		s.chunk.Size, s.chunk.Inline, s.data = int64(len(data)), true, data
		return s, nil
	}
	if err == nil && b.syncWrites {
		if err = s.f.Sync(); err == nil {
			err = b.syncDir(filepath.Dir(s.f.Name()))
		}
	}
	if err != nil {
		_ = s.f.Close()
		_ = os.Remove(s.f.Name())
		return nil, err
	}
	s.chunk.Size = w.n
	return s, nil
}

// createSnapshotFile creates the file of the chunk of job written at
// version, and the job's directory if need be.
func (b *Badger) createSnapshotFile(job string, version uint64, delta bool) (*os.File, error) {
	dir := b.jobDir(job)
	if err := os.Mkdir(dir, 0o700); err == nil {
		if err := b.syncDir(b.snapDir); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	return os.OpenFile(filepath.Join(dir, fileName(version, delta)), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
}

// close closes the file of a commit that did not flip; it stays on disk
// until the job's next commit or Open removes it.
func (s *staged) close() {
	if s != nil && s.f != nil {
		_ = s.f.Close()
	}
}

// spillWriter keeps what is written to it in buf while buf stays within
// limit; the write that would take it beyond calls spill once and from then
// on everything, buf first, goes to the writer spill returned.
type spillWriter struct {
	limit int
	buf   []byte
	spill func() (io.Writer, error)
	w     io.Writer
}

func (s *spillWriter) Write(p []byte) (int, error) {
	if s.w == nil {
		if len(s.buf)+len(p) <= s.limit {
			s.buf = append(s.buf, p...)
			return len(p), nil
		}
		if err := s.start(); err != nil {
			return 0, err
		}
	}
	return s.w.Write(p)
}

// start moves what buf holds to the writer spill returns.
func (s *spillWriter) start() error {
	w, err := s.spill()
	if err != nil {
		return err
	}
	if _, err := w.Write(s.buf); err != nil {
		return err
	}
	s.w, s.buf = w, nil
	return nil
}

// countingWriter counts what passes through it and stops at the first
// write after ctx is done, so that a cancelled commit stops streaming.
type countingWriter struct {
	ctx context.Context
	w   io.Writer
	n   int64
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	if err := cw.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	return n, err
}

// syncDir makes the entries of dir durable, when SyncWrites asks for it:
// a file fsynced in a directory whose entry is not may vanish in a power loss.
func (b *Badger) syncDir(dir string) error {
	if !b.syncWrites {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeStrayFiles deletes every entry of job's snapshot directory that
// head does not reference: files of an interrupted commit, and files a
// commit replaced but could not delete. It reports how many it deleted.
func (b *Badger) removeStrayFiles(job string, head headRecord) (int, error) {
	dir := b.jobDir(job)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	keep := head.fileNames()
	n := 0
	for _, e := range entries {
		if keep[e.Name()] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// removeFiles deletes the files among chunks (a head's, in chunks()
// order) of job, which a commit has just replaced.
func (b *Badger) removeFiles(job string, chunks []snapChunk) error {
	var errs []error
	for i, c := range chunks {
		if c.Inline {
			continue
		}
		err := os.Remove(filepath.Join(b.jobDir(job), fileName(c.Version, i > 0)))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// openSnapDir prepares the snapshot directory at Open: the one beside the
// database, or a temporary one for an in-memory store, which Close removes.
func (b *Badger) openSnapDir(path string, inMemory bool) error {
	if inMemory {
		dir, err := os.MkdirTemp("", "pollhook-snapshots-")
		if err != nil {
			return err
		}
		b.snapDir, b.snapDirTemp = dir, true
		return nil
	}
	b.snapDir = filepath.Join(path, snapshotsDir)
	err := os.Mkdir(b.snapDir, 0o700)
	if err == nil {
		return b.syncDir(path)
	}
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}
