package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestJobDirName(t *testing.T) {
	tests := []struct{ job, want string }{
		{"orders", "orders-1c168adb00d208e42f93314529f1fa9c"},
		{"a/b", "a_b-c14cddc033f64b9dea80ea675cf280a0"},
		{"a_b", "a_b-648fa9b31bc7ff7eb914e7a7180f07e0"}, // same text as a/b, another directory
		{".hidden", "_hidden-1692419006a88aab3372cf255367e2cc"},
		{"../x", "_._x-d6b96a97d147daaae49eb87a5ca7bfbc"},
		{"caf\u00e9 \x00", "caf____-946cc35708196deb1c70756b4fd62b8a"},
		{strings.Repeat("j", 100), strings.Repeat("j", 40) + "-0544641ae0fc1a621955ab6d726b9494"},
	}
	for _, tt := range tests {
		if got := jobDirName(tt.job); got != tt.want {
			t.Errorf("jobDirName(%q) = %q, want %q", tt.job, got, tt.want)
		}
	}
}

// TestReadSnapshot reads ranges of a full snapshot and a delta, kept
// inline or in files, and pins the errors of stale versions and of ranges
// outside a chunk, the same for both.
func TestReadSnapshot(t *testing.T) {
	for _, where := range []string{"inline", "file"} {
		t.Run(where, func(t *testing.T) {
			b := openTest(t, t.TempDir(), Options{})
			if where == "file" {
				b.inlineMax = -1
			}
			testReadSnapshot(t, b)
			want := []string{"1.db", "2.db"}
			if where == "file" {
				want = []string{"1.full", "2.delta"}
			}
			if stored := storedChunks(t, b.db, b.snapDir, "orders"); !slices.Equal(stored, want) {
				t.Errorf("stored chunks %v, want %v", stored, want)
			}
		})
	}
}

func testReadSnapshot(t *testing.T, b *Badger) {
	ctx := context.Background()
	if err := b.ReadSnapshot("orders", 0, 0, nil, 0); err == nil ||
		err.Error() != `store: job "orders": snapshot version 0 has 0 chunks, no chunk 0` {
		t.Errorf("ReadSnapshot of a job never committed: %v", err)
	}
	for i, c := range []*Commit{{Snapshot: []byte("0123456789")}, {SnapshotDelta: []byte("abcdef")}} {
		if _, err := b.Commit(ctx, "orders", uint64(i), c); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		version uint64
		chunk   int
		n       int
		off     int64
		want    string // the bytes read, or the error
	}{
		{"whole snapshot", 2, 0, 10, 0, "0123456789"},
		{"inside the snapshot", 2, 0, 4, 3, "3456"},
		{"end of the snapshot", 2, 0, 1, 9, "9"},
		{"inside the delta", 2, 1, 3, 2, "cde"},
		{"nothing at the end", 2, 1, 0, 6, ""},
		{"past the end", 2, 0, 3, 8,
			`store: job "orders": read of 3 bytes at offset 8 is outside chunk 0 of snapshot version 2 (10 bytes)`},
		{"beyond the end", 2, 1, 0, 7,
			`store: job "orders": read of 0 bytes at offset 7 is outside chunk 1 of snapshot version 2 (6 bytes)`},
		{"negative offset", 2, 0, 1, -1,
			`store: job "orders": read of 1 bytes at offset -1 is outside chunk 0 of snapshot version 2 (10 bytes)`},
		{"no such delta", 2, 2, 1, 0, `store: job "orders": snapshot version 2 has 2 chunks, no chunk 2`},
		{"negative chunk", 2, -1, 1, 0, `store: job "orders": snapshot version 2 has 2 chunks, no chunk -1`},
		{"older version", 1, 0, 1, 0,
			`job "orders": read snapshot version 1, head is at 2: store: snapshot version changed since it was read`},
		{"newer version", 3, 0, 1, 0,
			`job "orders": read snapshot version 3, head is at 2: store: snapshot version changed since it was read`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := make([]byte, tt.n)
			err := b.ReadSnapshot("orders", tt.version, tt.chunk, p, tt.off)
			got := string(p)
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("ReadSnapshot = %q, want %q", got, tt.want)
			}
			if stale := strings.Contains(tt.want, "head is at"); errors.Is(err, ErrStale) != stale {
				t.Errorf("errors.Is(%v, ErrStale) = %v, want %v", err, !stale, stale)
			}
		})
	}
}

// TestReadSnapshotHandles follows the open files through commits: a reader
// loads them once (a read then allocates nothing: no Badger transaction),
// a delta adds one, a full snapshot closes the ones it replaces, and Close
// closes the rest. The store keeps every chunk in a file.
func TestReadSnapshotHandles(t *testing.T) {
	ctx := context.Background()
	b, err := Open(t.TempDir(), Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.inlineMax = -1
	if _, err := b.Commit(ctx, "orders", 0, &Commit{Snapshot: []byte("AAAA")}); err != nil {
		t.Fatal(err)
	}
	js := b.job("orders")
	if js.loaded {
		t.Fatal("a commit loaded the files of a job nobody read")
	}
	p := make([]byte, 2)
	read := func(version uint64, chunk int, want string) {
		t.Helper()
		if err := b.ReadSnapshot("orders", version, chunk, p, 1); err != nil || string(p) != want {
			t.Errorf("ReadSnapshot(%d, chunk %d) = %q, %v; want %q", version, chunk, p, err, want)
		}
	}
	read(1, 0, "AA")
	if allocs := testing.AllocsPerRun(100, func() { _ = b.ReadSnapshot("orders", 1, 0, p, 1) }); allocs != 0 {
		t.Errorf("ReadSnapshot allocates %.1f times a call, want 0", allocs)
	}
	base := js.chunks[0].f

	if _, err := b.Commit(ctx, "orders", 1, &Commit{SnapshotDelta: []byte("dddd")}); err != nil {
		t.Fatal(err)
	}
	read(2, 0, "AA")
	read(2, 1, "dd")
	if len(js.chunks) != 2 || js.chunks[0].f != base {
		t.Errorf("a delta commit reopened the snapshot: %d chunks", len(js.chunks))
	}
	delta := js.chunks[1].f

	if _, err := b.Commit(ctx, "orders", 2, &Commit{SnapshotWriter: writeString("BBBB")}); err != nil {
		t.Fatal(err)
	}
	read(3, 0, "BB")
	for _, f := range []*os.File{base, delta} {
		if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("replaced file %s: Stat = %v, want it closed", f.Name(), err)
		}
	}
	last := js.chunks[0].f
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := last.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("after Close %s: Stat = %v, want it closed", last.Name(), err)
	}
}

// TestSnapshotWriterStreams commits a 16 MB snapshot through a
// SnapshotWriter and checks that the commit allocated a small fraction of
// it: the snapshot went to its file through a buffer, never whole.
func TestSnapshotWriterStreams(t *testing.T) {
	const size = 16 << 20
	b := openTest(t, t.TempDir(), Options{})
	block := bytes.Repeat([]byte("0123456789abcdef"), 256)
	c := &Commit{SnapshotWriter: func(w io.Writer) error {
		for range size / len(block) {
			if _, err := w.Write(block); err != nil {
				return err
			}
		}
		return nil
	}}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := b.Commit(context.Background(), "orders", 0, c); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("a commit of a %d-byte streamed snapshot allocated %d bytes", size, alloc)
	}
	p := make([]byte, 20)
	if err := b.ReadSnapshot("orders", 1, 0, p, size-20); err != nil || string(p) != "cdef0123456789abcdef" {
		t.Errorf("last bytes %q, %v", p, err)
	}
	if err := b.ReadSnapshot("orders", 1, 0, p[:1], size); err == nil {
		t.Error("read past the streamed snapshot succeeded")
	}
}

// TestReadSnapshotDuringCommits reads a job's snapshot from several
// goroutines while commits alternate full snapshots and deltas, inline
// (through a cache too small to hold them all) or in files: every read
// either returns the bytes of the head it was asked for or ErrStale.
func TestReadSnapshotDuringCommits(t *testing.T) {
	for _, where := range []string{"inline", "file"} {
		t.Run(where, func(t *testing.T) {
			b := openTest(t, t.TempDir(), Options{})
			if where == "file" {
				b.inlineMax = -1
			}
			b.cache.limit = 6 << 10
			testReadDuringCommits(t, b)
		})
	}
}

func testReadDuringCommits(t *testing.T, b *Badger) {
	const commits, readers = 200, 4
	ctx := context.Background()
	// Version v carries a full snapshot when odd, a delta when even; each
	// starts with its kind and version.
	content := func(v uint64) string {
		if v%2 == 1 {
			return fmt.Sprintf("full%08d", v) + strings.Repeat(".", 4096)
		}
		return fmt.Sprintf("delta%07d", v)
	}
	var done atomic.Bool
	var wg sync.WaitGroup
	var reads, stale atomic.Int64
	for range readers {
		wg.Go(func() {
			p := make([]byte, 12)
			for last := false; !last; {
				last = done.Load()
				h, err := b.Head("orders")
				if err != nil {
					t.Error(err)
					return
				}
				if h.Version == 0 {
					continue
				}
				base := h.Version - (1 - h.Version%2)
				err = b.ReadSnapshot("orders", h.Version, 0, p, 0)
				if err == nil && string(p) != content(base)[:12] {
					t.Errorf("version %d chunk 0: %q, want %q", h.Version, p, content(base)[:12])
				}
				if err == nil && h.Version%2 == 0 {
					err = b.ReadSnapshot("orders", h.Version, 1, p, 0)
					if err == nil && string(p) != content(h.Version) {
						t.Errorf("version %d chunk 1: %q, want %q", h.Version, p, content(h.Version))
					}
				}
				switch {
				case err == nil:
					reads.Add(1)
				case errors.Is(err, ErrStale):
					stale.Add(1)
				default:
					t.Error(err)
					return
				}
			}
		})
	}
	for v := range uint64(commits) {
		c := &Commit{Snapshot: []byte(content(v + 1))}
		if (v+1)%2 == 0 {
			c = &Commit{SnapshotDelta: []byte(content(v + 1))}
		}
		if _, err := b.Commit(ctx, "orders", v, c); err != nil {
			t.Error(err)
			break
		}
	}
	done.Store(true)
	wg.Wait()
	t.Logf("%d reads, %d stale", reads.Load(), stale.Load())
}
