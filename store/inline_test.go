package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// storedChunks lists what is stored of job's snapshot chunks: its files,
// as snapshotFiles names them ("1.full", "2.delta"), and its inline chunks
// as "version.db" (an empty one has no part, so it is not listed), in
// version order. snapDir is the store's snapshots directory.
func storedChunks(t testing.TB, db *badger.DB, snapDir, job string) []string {
	t.Helper()
	stored := snapshotFiles(t, snapDir, job)
	eachKey(t, db, jobPrefix(kindSnapshot, job), func(k []byte) error {
		_, version, err := parseSeqKey(k)
		if name := fmt.Sprintf("%d.db", version); err == nil && !slices.Contains(stored, name) {
			stored = append(stored, name)
		}
		return err
	})
	version := func(name string) uint64 {
		v, _, _ := strings.Cut(name, ".")
		n, _ := strconv.ParseUint(v, 10, 64)
		return n
	}
	sort.SliceStable(stored, func(i, j int) bool { return version(stored[i]) < version(stored[j]) })
	return stored
}

// deleteRaw deletes key from the closed store in dir, as damage would.
func deleteRaw(t *testing.T, dir string, key []byte) {
	t.Helper()
	opts := Options{Logger: discard}
	opts.setDefaults()
	raw, err := badger.Open(opts.badgerOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.Update(func(txn *badger.Txn) error { return txn.Delete(key) }); err != nil {
		t.Fatal(err)
	}
}

// fileSized is a chunk one byte too large to be kept inline.
func fileSized(c byte) []byte { return bytes.Repeat([]byte{c}, inlineMax+1) }

// TestInlineThreshold: a chunk of inlineMax bytes is kept inline and one
// byte more goes to a file, whether handed over as bytes or streamed
// through a SnapshotWriter (which spills to the file when it outgrows the
// threshold); both read back the same.
func TestInlineThreshold(t *testing.T) {
	atMax := bytes.Repeat([]byte("i"), inlineMax)
	tests := []struct {
		name   string
		c      func(data []byte) *Commit
		delta  bool
		size   []byte
		stored []string
	}{
		{"snapshot at the threshold", func(d []byte) *Commit { return &Commit{Snapshot: d} }, false, atMax, []string{"2.db"}},
		{"snapshot above", func(d []byte) *Commit { return &Commit{Snapshot: d} }, false, fileSized('f'), []string{"2.full"}},
		{"streamed at the threshold", func(d []byte) *Commit { return &Commit{SnapshotWriter: writeChunked(d, 1000)} }, false, atMax, []string{"2.db"}},
		{"streamed above", func(d []byte) *Commit { return &Commit{SnapshotWriter: writeChunked(d, 1000)} }, false, fileSized('f'), []string{"2.full"}},
		{"streamed in one write above", func(d []byte) *Commit { return &Commit{SnapshotWriter: writeChunked(d, len(d))} }, false, fileSized('f'), []string{"2.full"}},
		{"delta at the threshold", func(d []byte) *Commit { return &Commit{SnapshotDelta: d} }, true, atMax, []string{"1.db", "2.db"}},
		{"delta above", func(d []byte) *Commit { return &Commit{SnapshotDelta: d} }, true, fileSized('d'), []string{"1.db", "2.delta"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := openTest(t, t.TempDir(), Options{})
			if _, err := b.Commit(context.Background(), "orders", 0, &Commit{Snapshot: []byte("A")}); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Commit(context.Background(), "orders", 1, tt.c(tt.size)); err != nil {
				t.Fatal(err)
			}
			if stored := storedChunks(t, b.db, b.snapDir, "orders"); !slices.Equal(stored, tt.stored) {
				t.Errorf("stored chunks %v, want %v", stored, tt.stored)
			}
			base, deltas, err := b.LoadSnapshot("orders", 2)
			got := base
			if tt.delta {
				got = nil
				if len(deltas) == 1 {
					got = deltas[0]
				}
			}
			if err != nil || !bytes.Equal(got, tt.size) {
				t.Errorf("LoadSnapshot: %d bytes, %v; want the %d committed", len(got), err, len(tt.size))
			}
		})
	}
}

// mixedBase commits a full snapshot in a file, an inline delta and a
// delta in a file (version 3), with three events for lane "hook".
func mixedBase(t *testing.T, b *Badger) Head {
	t.Helper()
	var head Head
	var err error
	for i, c := range []*Commit{
		{Snapshot: fileSized('F'), Events: newEvents(3, 100), Destinations: []string{"hook"}},
		{SnapshotDelta: []byte("d2")},
		{SnapshotDelta: fileSized('G')},
	} {
		if head, err = b.Commit(context.Background(), "orders", uint64(i), c); err != nil {
			t.Fatal(err)
		}
	}
	return head
}

// mixedLoaded is what LoadSnapshot returns of mixedBase, as loaded renders it.
var mixedLoaded = string(fileSized('F')) + "+d2+" + string(fileSized('G'))

// TestMixedChunks commits inline chunks on a file and files on an inline
// chunk, and checks that LoadSnapshot and ReadSnapshot read each from
// where it is, before and after reopening, and that a full snapshot
// replacing them deletes both kinds.
func TestMixedChunks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := openTest(t, dir, Options{})
	mixedBase(t, b)
	if stored := storedChunks(t, b.db, b.snapDir, "orders"); !slices.Equal(stored, []string{"1.full", "2.db", "3.delta"}) {
		t.Errorf("stored chunks %v, want [1.full 2.db 3.delta]", stored)
	}
	read := func(b *Badger, version uint64, want []string) {
		t.Helper()
		for chunk, w := range want {
			p := make([]byte, 2)
			if err := b.ReadSnapshot("orders", version, chunk, p, 0); err != nil || string(p) != w {
				t.Errorf("ReadSnapshot(%d, chunk %d) = %q, %v; want %q", version, chunk, p, err, w)
			}
		}
	}
	read(b, 3, []string{"FF", "d2", "GG"})
	if got := loaded(b, "orders", 3); got != mixedLoaded {
		t.Errorf("LoadSnapshot = %.40q, want %.40q", got, mixedLoaded)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, dir, Options{})
	read(b, 3, []string{"FF", "d2", "GG"})

	// An inline full snapshot replaces them all, then a file delta and an
	// inline delta follow it.
	for i, c := range []*Commit{{Snapshot: []byte("S4")}, {SnapshotDelta: fileSized('H')}, {SnapshotDelta: []byte("d6")}} {
		if _, err := b.Commit(ctx, "orders", uint64(3+i), c); err != nil {
			t.Fatal(err)
		}
	}
	if stored := storedChunks(t, b.db, b.snapDir, "orders"); !slices.Equal(stored, []string{"4.db", "5.delta", "6.db"}) {
		t.Errorf("stored chunks %v, want [4.db 5.delta 6.db]", stored)
	}
	read(b, 6, []string{"S4", "HH", "d6"})
	if want := "S4+" + string(fileSized('H')) + "+d6"; loaded(b, "orders", 6) != want {
		t.Errorf("LoadSnapshot = %.40q, want %.40q", loaded(b, "orders", 6), want)
	}
}

// TestAbortBeforeFlipInline: a small commit (an inline delta and a few
// events) is a single transaction, its flip: dying before it leaves
// nothing at all, not even staged events.
func TestAbortBeforeFlipInline(t *testing.T) {
	b := openTest(t, t.TempDir(), Options{})
	head := mixedBase(t, b)
	died := errors.New("died")
	b.beforeFlip = func() error { return died }
	c := &Commit{SnapshotDelta: []byte("d4"), Events: newEvents(20, 300), Destinations: []string{"hook"}}
	if _, err := b.Commit(context.Background(), "orders", 3, c); !errors.Is(err, died) {
		t.Fatalf("Commit = %v, want the injected failure", err)
	}
	b.beforeFlip = nil
	if stored := storedChunks(t, b.db, b.snapDir, "orders"); !slices.Equal(stored, []string{"1.full", "2.db", "3.delta"}) {
		t.Errorf("stored chunks %v, want [1.full 2.db 3.delta]", stored)
	}
	if keys := chunkKeys(t, b.db, "orders"); !slices.Equal(keys, []string{"1-3/1"}) {
		t.Errorf("event chunks %v, want [1-3/1]: the small commit staged events", keys)
	}
	if got, err := b.Head("orders"); err != nil || !equalJSON(got, head) {
		t.Errorf("Head = %+v, %v; want %+v", got, err, head)
	}
	// The same commit goes through: its events are in the flip.
	if _, err := b.Commit(context.Background(), "orders", 3, c); err != nil {
		t.Fatal(err)
	}
	if keys := chunkKeys(t, b.db, "orders"); !slices.Equal(keys, []string{"1-3/1", "4-23/2"}) {
		t.Errorf("event chunks %v, want [1-3/1 4-23/2]", keys)
	}
	if pending, err := b.Pending("hook", "orders", 0); err != nil || len(pending) != 23 {
		t.Errorf("Pending = %d events, %v; want 23", len(pending), err)
	}
}

// dyingInlineDelta is an inline delta with events too many for the flip,
// which are staged first: the crash helper dies between staging and flip.
func dyingInlineDelta() *Commit {
	return &Commit{SnapshotDelta: bytes.Repeat([]byte("X"), 1000), Events: newEvents(2000, 200), Destinations: []string{"hook"}}
}

// dyingInlineFull is an inline full snapshot.
func dyingInlineFull() *Commit { return &Commit{Snapshot: bytes.Repeat([]byte("Y"), 3000)} }

// TestCrashBeforeFlipInline kills a real process between staging and flip
// of an inline delta on mixedBase: the staged events are orphans, the
// delta was never written, and the state is the base's after Open.
func TestCrashBeforeFlipInline(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(dir, Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	head := mixedBase(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	raw := crashCommit(t, dir, "crash-inline")
	snaps := filepath.Join(dir, snapshotsDir)
	if stored := storedChunks(t, raw, snaps, "orders"); !slices.Equal(stored, []string{"1.full", "2.db", "3.delta"}) {
		t.Errorf("after the crash stored chunks %v, want [1.full 2.db 3.delta]", stored)
	}
	if n := len(chunkKeys(t, raw, "orders")); n < 4 {
		t.Errorf("after the crash %d event chunks are stored, want the base's and the staged ones", n)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	b = openTest(t, dir, Options{})
	if keys := chunkKeys(t, b.db, "orders"); !slices.Equal(keys, []string{"1-3/1"}) {
		t.Errorf("Open left event chunks %v, want [1-3/1]", keys)
	}
	if got, err := b.Head("orders"); err != nil || !equalJSON(got, head) {
		t.Errorf("Head = %+v, %v; want %+v", got, err, head)
	}
	if got := loaded(b, "orders", 3); got != mixedLoaded {
		t.Errorf("LoadSnapshot = %.40q, want the base", got)
	}
	if _, err := b.Commit(context.Background(), "orders", 3, &Commit{SnapshotDelta: []byte("d4")}); err != nil {
		t.Fatal(err)
	}
	if got, want := loaded(b, "orders", 4), mixedLoaded+"+d4"; got != want {
		t.Errorf("after the next commit LoadSnapshot ends %q, want it to end +d4", got[max(len(got)-10, 0):])
	}
}

// TestCrashAfterFlipInline kills a real process right after the flip of an
// inline full snapshot that replaces mixedBase: the commit stands, the
// flip deleted the inline delta it replaced, and Open removes the files.
func TestCrashAfterFlipInline(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(dir, Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	mixedBase(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	raw := crashCommit(t, dir, "crash-inline-after-flip")
	snaps := filepath.Join(dir, snapshotsDir)
	if stored := storedChunks(t, raw, snaps, "orders"); !slices.Equal(stored, []string{"1.full", "3.delta", "4.db"}) {
		t.Errorf("after the crash stored chunks %v, want the replaced files beside 4.db", stored)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	b = openTest(t, dir, Options{})
	if stored := storedChunks(t, b.db, snaps, "orders"); !slices.Equal(stored, []string{"4.db"}) {
		t.Errorf("Open left stored chunks %v, want [4.db]", stored)
	}
	if s, err := snapshot(b, "orders", 4); err != nil || !bytes.Equal(s, dyingInlineFull().Snapshot) {
		t.Errorf("Snapshot = %d bytes, %v; want the dead process's", len(s), err)
	}
}

// longJob is a job whose name makes every key of it 24 KB: its commit's
// flip has room for few inline parts and few deletions.
var longJob = strings.Repeat("j", 24_000)

// longJobBase commits three inline chunks of 15 KB (four parts each) for
// longJob: more parts than a flip of that job can delete.
func longJobBase(t *testing.T, b *Badger) {
	t.Helper()
	chunk := bytes.Repeat([]byte("L"), 15_000)
	for i, c := range []*Commit{{Snapshot: chunk}, {SnapshotDelta: chunk}, {SnapshotDelta: chunk}} {
		if _, err := b.Commit(context.Background(), longJob, uint64(i), c); err != nil {
			t.Fatal(err)
		}
	}
	if stored := storedChunks(t, b.db, b.snapDir, longJob); !slices.Equal(stored, []string{"1.db", "2.db", "3.db"}) {
		t.Fatalf("stored chunks %v, want [1.db 2.db 3.db]", stored)
	}
}

// TestReplacedPartsAfterFlip: inline parts a full snapshot replaces that
// its flip has no room to delete are deleted right after it; when the
// process dies before, Open deletes them.
func TestReplacedPartsAfterFlip(t *testing.T) {
	t.Run("deleted after the flip", func(t *testing.T) {
		b := openTest(t, t.TempDir(), Options{})
		longJobBase(t, b)
		if _, err := b.Commit(context.Background(), longJob, 3, dyingInlineFull()); err != nil {
			t.Fatal(err)
		}
		if stored := storedChunks(t, b.db, b.snapDir, longJob); !slices.Equal(stored, []string{"4.db"}) {
			t.Errorf("stored chunks %v, want [4.db]", stored)
		}
	})
	t.Run("crash", func(t *testing.T) {
		dir := t.TempDir()
		b, err := Open(dir, Options{Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		longJobBase(t, b)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		raw := crashCommit(t, dir, "crash-stray-parts")
		snaps := filepath.Join(dir, snapshotsDir)
		if stored := storedChunks(t, raw, snaps, longJob); !slices.Equal(stored, []string{"1.db", "2.db", "3.db", "4.db"}) {
			t.Errorf("after the crash stored chunks %v, want the replaced [1.db 2.db 3.db] beside 4.db", stored)
		}
		if err := raw.Close(); err != nil {
			t.Fatal(err)
		}
		b = openTest(t, dir, Options{})
		if stored := storedChunks(t, b.db, snaps, longJob); !slices.Equal(stored, []string{"4.db"}) {
			t.Errorf("Open left stored chunks %v, want [4.db]", stored)
		}
		if s, err := snapshot(b, longJob, 4); err != nil || !bytes.Equal(s, dyingInlineFull().Snapshot) {
			t.Errorf("Snapshot = %d bytes, %v; want the dead process's", len(s), err)
		}
	})
}

// TestOpenRemovesStrayParts: Open deletes inline parts below the head's
// full snapshot (replaced, whose deletion never ran) and those of a job
// that has no head, and keeps the head's.
func TestOpenRemovesStrayParts(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(dir, Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range []*Commit{{Snapshot: []byte("A")}, {Snapshot: []byte("B")}, {SnapshotDelta: []byte("d3")}} {
		if _, err := b.Commit(context.Background(), "orders", uint64(i), c); err != nil {
			t.Fatal(err)
		}
	}
	err = b.db.Update(func(txn *badger.Txn) error {
		for _, k := range [][]byte{partKey(kindSnapshot, "orders", 1, 0), partKey(kindSnapshot, "orders", 1, 1), partKey(kindSnapshot, "gone", 5, 0)} {
			if err := txn.Set(k, []byte("stray")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, dir, Options{})
	if stored := storedChunks(t, b.db, b.snapDir, "orders"); !slices.Equal(stored, []string{"2.db", "3.db"}) {
		t.Errorf("Open left stored chunks %v, want [2.db 3.db]", stored)
	}
	if stored := storedChunks(t, b.db, b.snapDir, "gone"); len(stored) != 0 {
		t.Errorf("Open left the chunks %v of a job without head", stored)
	}
	if got := loaded(b, "orders", 3); got != "B+d3" {
		t.Errorf("LoadSnapshot = %q, want B+d3", got)
	}
}

// TestFlipBudget commits chunks for jobs whose names take much of a
// transaction, with lanes to create, on the smallest memtable allowed and
// the default: every commit must fit its transactions (no ErrTxnTooBig),
// and a chunk goes inline only where the flip has room for it.
func TestFlipBudget(t *testing.T) {
	tests := []struct {
		memtable int64
		job      string
		size     int
		stored   string // where the chunk of version 2 went
	}{
		{1 << 20, "orders", 3000, "2.db"},
		{1 << 20, "orders", inlineMax, "2.db"},
		{1 << 20, strings.Repeat("j", 20_000), 3000, "2.db"},
		{1 << 20, strings.Repeat("j", 20_000), 5000, "2.delta"},
		{2 << 20, strings.Repeat("j", 20_000), 3000, "2.db"},
		{2 << 20, strings.Repeat("j", 20_000), inlineMax, "2.db"},
		{2 << 20, strings.Repeat("j", 40_000), 3000, "2.db"},
		{2 << 20, strings.Repeat("j", 40_000), 5000, "2.delta"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("memtable=%dK/job=%d/size=%d", tt.memtable>>10, len(tt.job), tt.size), func(t *testing.T) {
			b := openTest(t, t.TempDir(), Options{MemTableSize: tt.memtable})
			ctx := context.Background()
			if _, err := b.Commit(ctx, tt.job, 0, &Commit{Snapshot: fileSized('F')}); err != nil {
				t.Fatal(err)
			}
			delta := bytes.Repeat([]byte("d"), tt.size)
			c := &Commit{SnapshotDelta: delta, Events: newEvents(5, 300), Destinations: []string{"hook", strings.Repeat("h", 2000)}}
			if _, err := b.Commit(ctx, tt.job, 1, c); err != nil {
				t.Fatal(err)
			}
			if stored := storedChunks(t, b.db, b.snapDir, tt.job); !slices.Equal(stored, []string{"1.full", tt.stored}) {
				t.Errorf("stored chunks %v, want [1.full %s]", stored, tt.stored)
			}
			if _, deltas, err := b.LoadSnapshot(tt.job, 2); err != nil || len(deltas) != 1 || !bytes.Equal(deltas[0], delta) {
				t.Errorf("LoadSnapshot: %d deltas, %v; want the one committed", len(deltas), err)
			}
			// A full snapshot replaces both.
			if _, err := b.Commit(ctx, tt.job, 2, &Commit{Snapshot: []byte("S")}); err != nil {
				t.Fatal(err)
			}
			if stored := storedChunks(t, b.db, b.snapDir, tt.job); !slices.Equal(stored, []string{"3.db"}) {
				t.Errorf("stored chunks %v, want [3.db]", stored)
			}
		})
	}
}

// TestInlineCache: readers keep inline chunks' bytes in a cache bounded
// across jobs; a read the cache serves allocates nothing (no Badger
// transaction), one it does not reads the chunk from Badger, and a chunk
// replaced leaves the cache.
func TestInlineCache(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, t.TempDir(), Options{})
	b.cache.limit = 15 << 10
	chunk := func(job string) []byte { return bytes.Repeat([]byte(job[:1]), 6<<10) }
	jobs := []string{"a", "b", "c"}
	for _, job := range jobs {
		if _, err := b.Commit(ctx, job, 0, &Commit{Snapshot: chunk(job)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, chunks := b.cache.size(); n != 0 || chunks != 0 {
		t.Errorf("commits of jobs nobody read cached %d bytes in %d chunks", n, chunks)
	}
	p := make([]byte, 4)
	for range 3 {
		for _, job := range jobs {
			if err := b.ReadSnapshot(job, 1, 0, p, 100); err != nil || string(p) != strings.Repeat(job, 4) {
				t.Errorf("ReadSnapshot(%s) = %q, %v", job, p, err)
			}
			if n, chunks := b.cache.size(); n > b.cache.limit || chunks > 2 {
				t.Errorf("the cache holds %d bytes in %d chunks, past its limit of %d", n, chunks, b.cache.limit)
			}
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = b.ReadSnapshot("c", 1, 0, p, 0) }); allocs != 0 {
		t.Errorf("a cached read allocates %.1f times, want 0", allocs)
	}

	// A commit caches the chunk it writes for a job that is read, and a
	// full snapshot lets the chunk it replaces go.
	if _, err := b.Commit(ctx, "c", 1, &Commit{Snapshot: []byte("C2")}); err != nil {
		t.Fatal(err)
	}
	if n, chunks := b.cache.size(); n != 6<<10+2 || chunks != 2 {
		t.Errorf("after replacing c the cache holds %d bytes in %d chunks, want one 6 KB chunk and c's new one", n, chunks)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = b.ReadSnapshot("c", 2, 0, p[:2], 0) }); allocs != 0 || string(p[:2]) != "C2" {
		t.Errorf("a read of the chunk a commit cached: %q, %.1f allocations; want C2, 0", p[:2], allocs)
	}

	// A chunk larger than the whole cache is read, not cached.
	big := bytes.Repeat([]byte("B"), int(b.cache.limit)+1)
	if _, err := b.Commit(ctx, "big", 0, &Commit{Snapshot: big}); err != nil {
		t.Fatal(err)
	}
	if stored := storedChunks(t, b.db, b.snapDir, "big"); !slices.Equal(stored, []string{"1.db"}) {
		t.Fatalf("stored chunks %v, want [1.db]", stored)
	}
	before, _ := b.cache.size()
	if s, err := snapshot(b, "big", 1); err != nil || !bytes.Equal(s, big) {
		t.Errorf("Snapshot of a chunk larger than the cache: %d bytes, %v", len(s), err)
	}
	if after, _ := b.cache.size(); after != before {
		t.Errorf("a chunk larger than the cache changed what it holds from %d to %d bytes", before, after)
	}
}

// TestInlineChunkDamaged: an inline chunk missing a part, or whose parts
// do not add up to its size, is reported by ReadSnapshot and LoadSnapshot.
func TestInlineChunkDamaged(t *testing.T) {
	tests := []struct {
		name   string
		damage func(txn *badger.Txn) error
		want   string
	}{
		{"part missing", func(txn *badger.Txn) error { return txn.Delete(partKey(kindSnapshot, "orders", 1, 1)) },
			`store: job "orders": snapshot chunk of version 1: part 1 of 2: Key not found`},
		{"part short", func(txn *badger.Txn) error { return txn.Set(partKey(kindSnapshot, "orders", 1, 1), []byte("x")) },
			`store: job "orders": snapshot chunk of version 1 holds 3969 bytes, the head records 5000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := openTest(t, t.TempDir(), Options{})
			if _, err := b.Commit(context.Background(), "orders", 0, &Commit{Snapshot: bytes.Repeat([]byte("s"), 5000)}); err != nil {
				t.Fatal(err)
			}
			if err := b.db.Update(tt.damage); err != nil {
				t.Fatal(err)
			}
			if err := b.ReadSnapshot("orders", 1, 0, make([]byte, 1), 0); err == nil || err.Error() != tt.want {
				t.Errorf("ReadSnapshot = %v, want %s", err, tt.want)
			}
			if got := loaded(b, "orders", 1); got != "error: "+tt.want {
				t.Errorf("LoadSnapshot = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestSnapChunkJSON pins the head's encoding of chunks: heads that predate
// inline chunks list [version, size] and read as files.
func TestSnapChunkJSON(t *testing.T) {
	rec := headRecord{Snap: &snapChunk{Version: 1, Size: 10}, Deltas: []snapChunk{{Version: 2, Size: 3, Inline: true}}}
	b, err := json.Marshal(&rec)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"Snap":[1,10],"Deltas":[[2,3,1]]}`; !strings.HasSuffix(string(b), want) {
		t.Errorf("head encoded as %s, want it to end %s", b, want)
	}
	var got headRecord
	if err := decodeJSON("head", b, &got); err != nil || !equalJSON(got, rec) || got.Deltas[0].Inline != true || got.Snap.Inline {
		t.Errorf("decoded %+v, %v; want %+v", got, err, rec)
	}
	for _, bad := range []string{`[1,2,2]`, `[1,9223372036854775808]`, `"1"`} {
		var c snapChunk
		if err := decodeJSON("chunk", []byte(bad), &c); err == nil {
			t.Errorf("chunk %s decoded as %+v, want an error", bad, c)
		}
	}
}
