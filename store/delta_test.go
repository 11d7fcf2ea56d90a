package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// loaded renders what LoadSnapshot returns as "base+delta+delta" (or the
// error), for compact assertions.
func loaded(b *Badger, job string, version uint64) string {
	base, deltas, err := b.LoadSnapshot(job, version)
	if err != nil {
		return "error: " + err.Error()
	}
	parts := []string{string(base)}
	for _, d := range deltas {
		parts = append(parts, string(d))
	}
	return strings.Join(parts, "+")
}

// TestSnapshotDeltas commits a snapshot, deltas on it, a commit without
// either, and a full snapshot that replaces them all, and checks what is
// read back and what chunks are stored after each (an empty inline chunk
// has no part to show).
func TestSnapshotDeltas(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := openTest(t, dir, Options{})
	big := bytes.Repeat([]byte("d"), 100_000)
	steps := []struct {
		name   string
		c      *Commit
		want   string
		stored []string
	}{
		{"full", &Commit{Snapshot: []byte("A")}, "A", []string{"1.db"}},
		{"delta", &Commit{SnapshotDelta: []byte("d2"), Events: newEvents(2, 50), Destinations: []string{"hook"}}, "A+d2", []string{"1.db", "2.db"}},
		{"empty delta", &Commit{SnapshotDelta: []byte{}}, "A+d2+", []string{"1.db", "2.db"}},
		{"metadata only", &Commit{ETag: `"e"`}, "A+d2+", []string{"1.db", "2.db"}},
		{"large delta", &Commit{SnapshotDelta: big}, "A+d2++" + string(big), []string{"1.db", "2.db", "5.delta"}},
		{"full again", &Commit{Snapshot: []byte("B")}, "B", []string{"6.db"}},
		{"delta on the new one", &Commit{SnapshotDelta: []byte("d7")}, "B+d7", []string{"6.db", "7.db"}},
		{"streamed full", &Commit{SnapshotWriter: writeString("C")}, "C", []string{"8.db"}},
		{"delta on the streamed one", &Commit{SnapshotDelta: []byte("d9")}, "C+d9", []string{"8.db", "9.db"}},
	}
	for i, s := range steps {
		head, err := b.Commit(ctx, "orders", uint64(i), s.c)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := loaded(b, "orders", head.Version); got != s.want {
			t.Errorf("%s: LoadSnapshot = %.40q, want %.40q", s.name, got, s.want)
		}
		if stored := storedChunks(t, b.db, b.snapDir, "orders"); !slices.Equal(stored, s.stored) {
			t.Errorf("%s: stored chunks %v, want %v", s.name, stored, s.stored)
		}
	}
	if _, _, err := b.LoadSnapshot("orders", 8); !errors.Is(err, ErrStale) {
		t.Errorf("LoadSnapshot of a replaced version: %v, want ErrStale", err)
	}

	// They survive a restart.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, dir, Options{})
	if got := loaded(b, "orders", 9); got != "C+d9" {
		t.Errorf("after reopening: %q, want C+d9", got)
	}

	// A missing delta is reported, not skipped.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	deleteRaw(t, dir, partKey(kindSnapshot, "orders", 9, 0))
	b = openTest(t, dir, Options{})
	if want := `error: store: job "orders": snapshot chunk of version 9: part 0 of 1: Key not found`; loaded(b, "orders", 9) != want {
		t.Errorf("delta missing: %q, want %q", loaded(b, "orders", 9), want)
	}
}

func TestSnapshotDeltaRejected(t *testing.T) {
	b := openTest(t, "", Options{})
	if _, err := b.Commit(context.Background(), "orders", 0, &Commit{SnapshotDelta: []byte("d")}); err == nil ||
		err.Error() != `store: job "orders": a snapshot delta needs a stored snapshot, and there is none` {
		t.Errorf("delta without a snapshot: %v", err)
	}
	if h, err := b.Head("orders"); err != nil || h.Version != 0 {
		t.Errorf("rejected commits moved the head: %+v, %v", h, err)
	}
}

// deltaBase commits the state the delta crash tests start from: a full
// snapshot and two deltas (version 3), inline unless b keeps every chunk in
// a file, three events with lane "hook".
func deltaBase(t *testing.T, b *Badger) Head {
	t.Helper()
	ctx := context.Background()
	var head Head
	var err error
	for i, c := range []*Commit{
		{Snapshot: []byte("A"), Events: newEvents(3, 100), Destinations: []string{"hook"}},
		{SnapshotDelta: []byte("d2")},
		{SnapshotDelta: []byte("d3")},
	} {
		if head, err = b.Commit(ctx, "orders", uint64(i), c); err != nil {
			t.Fatal(err)
		}
	}
	return head
}

// dyingDelta is the delta commit the crash tests interrupt: a 600 KB
// delta and events in several chunks.
func dyingDelta() *Commit {
	return &Commit{SnapshotDelta: bytes.Repeat([]byte("X"), 600<<10), Events: newEvents(2000, 200), Destinations: []string{"hook"}}
}

// checkDeltaBase checks that the store shows the delta base, then commits
// a small delta on it and checks that it, not the dead one, follows.
func checkDeltaBase(t *testing.T, b *Badger, head Head) {
	t.Helper()
	if got, err := b.Head("orders"); err != nil || !equalJSON(got, head) {
		t.Errorf("Head = %+v, %v; want %+v", got, err, head)
	}
	if got := loaded(b, "orders", 3); got != "A+d2+d3" {
		t.Errorf("LoadSnapshot = %.40q, want A+d2+d3", got)
	}
	if got, err := b.Pending("hook", "orders", 0); err != nil || len(got) != 3 {
		t.Errorf("Pending = %d events, %v; want the base's 3", len(got), err)
	}
	next, err := b.Commit(context.Background(), "orders", 3, &Commit{SnapshotDelta: []byte("d4")})
	if err != nil {
		t.Fatalf("commit after the crash: %v", err)
	}
	if got := loaded(b, "orders", next.Version); got != "A+d2+d3+d4" {
		t.Errorf("after the next commit LoadSnapshot = %.40q, want A+d2+d3+d4", got)
	}
	if stored := storedChunks(t, b.db, b.snapDir, "orders"); !slices.Equal(stored, []string{"1.db", "2.db", "3.db", "4.db"}) {
		t.Errorf("stored chunks %v, want [1.db 2.db 3.db 4.db]", stored)
	}
}

func TestCrashBetweenStagingAndFlipWithDelta(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(dir, Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	head := deltaBase(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	raw := crashCommit(t, dir, "crash-delta")
	if stored := storedChunks(t, raw, filepath.Join(dir, snapshotsDir), "orders"); !slices.Equal(stored, []string{"1.db", "2.db", "3.db", "4.delta"}) {
		t.Errorf("after the crash stored chunks %v, want the staged 4.delta beside [1.db 2.db 3.db]", stored)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	b = openTest(t, dir, Options{})
	if stored := storedChunks(t, b.db, b.snapDir, "orders"); !slices.Equal(stored, []string{"1.db", "2.db", "3.db"}) {
		t.Errorf("Open left stored chunks %v, want [1.db 2.db 3.db]", stored)
	}
	checkDeltaBase(t, b, head)
}

func TestAbortBeforeFlipWithDelta(t *testing.T) {
	b := openTest(t, t.TempDir(), Options{})
	head := deltaBase(t, b)
	died := errors.New("died")
	b.beforeFlip = func() error { return died }
	if _, err := b.Commit(context.Background(), "orders", 3, dyingDelta()); !errors.Is(err, died) {
		t.Fatalf("Commit = %v, want the injected failure", err)
	}
	b.beforeFlip = nil
	if stored := storedChunks(t, b.db, b.snapDir, "orders"); !slices.Equal(stored, []string{"1.db", "2.db", "3.db", "4.delta"}) {
		t.Fatalf("stored chunks %v, want the orphan 4.delta beside [1.db 2.db 3.db]", stored)
	}
	checkDeltaBase(t, b, head)
}

// TestCrashAfterFlip kills a real process right after the flip of a full
// snapshot that replaces a snapshot and two deltas, all files, before it
// deletes them: the commit stands, and Open removes the replaced files.
func TestCrashAfterFlip(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(dir, Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	b.inlineMax = -1
	deltaBase(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	raw := crashCommit(t, dir, "crash-after-flip")
	snaps := filepath.Join(dir, snapshotsDir)
	if files := snapshotFiles(t, snaps, "orders"); !slices.Equal(files, []string{"1.full", "2.delta", "3.delta", "4.full"}) {
		t.Errorf("after the crash snapshot files %v, want the replaced [1.full 2.delta 3.delta] beside 4.full", files)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	b = openTest(t, dir, Options{})
	if files := snapshotFiles(t, snaps, "orders"); !slices.Equal(files, []string{"4.full"}) {
		t.Errorf("Open left snapshot files %v, want [4.full]", files)
	}
	if h, err := b.Head("orders"); err != nil || h.Version != 4 || h.LastSeq != 2003 {
		t.Errorf("Head = %+v, %v; want version 4, last seq 2003", h, err)
	}
	if s, err := snapshot(b, "orders", 4); err != nil || !bytes.Equal(s, dyingCommit().Snapshot) {
		t.Errorf("Snapshot = %d bytes, %v; want the dead process's %d", len(s), err, len(dyingCommit().Snapshot))
	}
}

// TestReplacedFilesRemoved: files a full snapshot replaced and could not
// delete (the process died right after the flip) are removed by the job's
// next commit, or at Open, whichever comes first; so is anything else in
// the job's directory that the head does not reference. The store keeps
// every chunk in a file.
func TestReplacedFilesRemoved(t *testing.T) {
	for _, by := range []string{"commit", "open"} {
		t.Run(by, func(t *testing.T) {
			dir := t.TempDir()
			b := openTest(t, dir, Options{})
			b.inlineMax = -1
			deltaBase(t, b) // versions 1, 2, 3
			died := errors.New("died")
			b.afterFlip = func() error { return died }
			if _, err := b.Commit(context.Background(), "orders", 3, &Commit{Snapshot: []byte("B")}); !errors.Is(err, died) {
				t.Fatalf("Commit = %v, want the injected failure", err)
			}
			b.afterFlip = nil
			if got := loaded(b, "orders", 4); got != "B" {
				t.Errorf("LoadSnapshot after the flip = %q, want B", got)
			}
			jobDir := filepath.Join(b.snapDir, jobDirName("orders"))
			for _, stray := range []string{"00000000000000000000.full", "notes"} {
				if err := os.WriteFile(filepath.Join(jobDir, stray), []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if files := snapshotFiles(t, b.snapDir, "orders"); !slices.Equal(files, []string{"0.full", "1.full", "2.delta", "3.delta", "4.full", "notes"}) {
				t.Fatalf("snapshot files %v before the clean-up", files)
			}
			if by == "open" {
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
				b = openTest(t, dir, Options{})
				b.inlineMax = -1
				if files := snapshotFiles(t, b.snapDir, "orders"); !slices.Equal(files, []string{"4.full"}) {
					t.Errorf("Open left snapshot files %v, want [4.full]", files)
				}
			}
			if _, err := b.Commit(context.Background(), "orders", 4, &Commit{SnapshotDelta: []byte("d5")}); err != nil {
				t.Fatal(err)
			}
			want := []string{"4.full", "5.delta"}
			if files := snapshotFiles(t, b.snapDir, "orders"); !slices.Equal(files, want) {
				t.Errorf("snapshot files %v, want %v", files, want)
			}
			if got := loaded(b, "orders", 5); got != "B+d5" {
				t.Errorf("LoadSnapshot = %q, want B+d5", got)
			}
		})
	}
}
