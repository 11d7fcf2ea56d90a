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

// Snapshots live in plain files beside the database, one per full snapshot
// and one per delta:
//
//	<store dir>/snapshots/<job dir>/<version>.full
//	<store dir>/snapshots/<job dir>/<version>.delta
//
// Badger kept them as 3,968-byte parts in its LSM tree, so every 20 MB
// snapshot went through memtables, table builders and compactions (about
// 31 MB of a tick's live heap and 35 MB of mapped table pages for a
// 100,000-item job) and was rewritten again at every level it was compacted
// to. A file is written once, read with pread, and deleted when replaced.
//
// The job dir is the job's name with every byte outside [A-Za-z0-9._-]
// replaced by '_' and cut at 40 bytes, a dash, and 32 hex digits of the
// name's SHA-256: readable by an operator, valid for any name (a job name
// may hold '/', NUL or 64 KiB), and distinct for distinct names. version is
// the head version of the commit that wrote the file, in 20 digits so that
// a listing sorts by it; the head records it (with the file's size) as the
// file's identity.
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
// files that hold its snapshot. Every commit bumps Version; a file keeps
// the version that wrote it, so a commit without a new snapshot rewrites
// nothing.
type headRecord struct {
	Head
	Snap   *snapFile  `json:",omitempty"` // the full snapshot (nil: no commit carried one)
	Deltas []snapFile `json:",omitempty"` // deltas committed since Snap, oldest first
}

// snapFile identifies one snapshot file: the version that wrote it (its
// name) and its size, checked when it is opened. It is encoded as a JSON
// array to keep a head listing many deltas small.
type snapFile struct {
	Version uint64
	Size    int64
}

func (f snapFile) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]uint64{f.Version, uint64(f.Size)})
}

func (f *snapFile) UnmarshalJSON(b []byte) error {
	var a [2]uint64
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if a[1] > math.MaxInt64 {
		return fmt.Errorf("snapshot file %v out of range", a)
	}
	f.Version, f.Size = a[0], int64(a[1])
	return nil
}

// chunks lists the head's snapshot files in the order LoadSnapshot and
// ReadSnapshot number them: the full snapshot, then the deltas.
func (r *headRecord) chunks() []snapFile {
	if r.Snap == nil {
		return nil
	}
	return append([]snapFile{*r.Snap}, r.Deltas...)
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
	for i, f := range r.chunks() {
		names[fileName(f.Version, i > 0)] = true
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

// staged is a snapshot file a commit wrote, open for reads once the
// commit is flipped.
type staged struct {
	f    *os.File
	file snapFile
	full bool // a full snapshot, replacing the head's files; else a delta
}

// writeSnapshot writes the snapshot or delta c carries (none: nil) into the
// file of version. With SyncWrites the file and its directory entry are
// durable when it returns. On error the file is removed.
func (b *Badger) writeSnapshot(ctx context.Context, job string, version uint64, c *Commit) (*staged, error) {
	if c.Snapshot == nil && c.SnapshotDelta == nil && c.SnapshotWriter == nil {
		return nil, nil
	}
	dir := b.jobDir(job)
	if err := os.Mkdir(dir, 0o700); err == nil {
		if err := b.syncDir(b.snapDir); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	full := c.SnapshotDelta == nil
	path := filepath.Join(dir, fileName(version, !full))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	w := &countingWriter{ctx: ctx, w: f}
	switch {
	case c.SnapshotWriter != nil:
		bw := bufio.NewWriterSize(w, snapWriteBuffer)
		if err = c.SnapshotWriter(bw); err == nil {
			err = bw.Flush()
		}
	case full:
		_, err = w.Write(c.Snapshot)
	default:
		_, err = w.Write(c.SnapshotDelta)
	}
	if err == nil && b.syncWrites {
		if err = f.Sync(); err == nil {
			err = b.syncDir(dir)
		}
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, err
	}
	return &staged{f: f, file: snapFile{Version: version, Size: w.n}, full: full}, nil
}

// close closes the file of a commit that did not flip; it stays on disk
// until the job's next commit or Open removes it.
func (s *staged) close() {
	if s != nil {
		_ = s.f.Close()
	}
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

// removeFiles deletes the given snapshot files of job, which a commit has
// just replaced.
func (b *Badger) removeFiles(job string, files []snapFile) error {
	var errs []error
	for i, f := range files {
		err := os.Remove(filepath.Join(b.jobDir(job), fileName(f.Version, i > 0)))
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
