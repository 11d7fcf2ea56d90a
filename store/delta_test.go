package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"
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
// read back and what is stored after each.
func TestSnapshotDeltas(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := openTest(t, dir, Options{})
	big := bytes.Repeat([]byte("d"), 2*b.partSize+5) // three parts
	steps := []struct {
		name     string
		c        *Commit
		want     string
		versions []uint64
	}{
		{"full", &Commit{Snapshot: []byte("A")}, "A", []uint64{1}},
		{"delta", &Commit{SnapshotDelta: []byte("d2"), Events: newEvents(2, 50), Destinations: []string{"hook"}}, "A+d2", []uint64{1, 2}},
		{"empty delta", &Commit{SnapshotDelta: []byte{}}, "A+d2+", []uint64{1, 2}},
		{"metadata only", &Commit{ETag: `"e"`}, "A+d2+", []uint64{1, 2}},
		{"large delta", &Commit{SnapshotDelta: big}, "A+d2++" + string(big), []uint64{1, 2, 5}},
		{"full again", &Commit{Snapshot: []byte("B")}, "B", []uint64{6}},
		{"delta on the new one", &Commit{SnapshotDelta: []byte("d7")}, "B+d7", []uint64{6, 7}},
	}
	for i, s := range steps {
		head, err := b.Commit(ctx, "orders", uint64(i), s.c)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := loaded(b, "orders", head.Version); got != s.want {
			t.Errorf("%s: LoadSnapshot = %.40q, want %.40q", s.name, got, s.want)
		}
		if vs := snapshotVersions(t, b.db, "orders"); !slices.Equal(vs, s.versions) {
			t.Errorf("%s: snapshot data stored under versions %v, want %v", s.name, vs, s.versions)
		}
	}
	if _, _, err := b.LoadSnapshot("orders", 6); !errors.Is(err, ErrStale) {
		t.Errorf("LoadSnapshot of a replaced version: %v, want ErrStale", err)
	}

	// They survive a restart.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, dir, Options{})
	if got := loaded(b, "orders", 7); got != "B+d7" {
		t.Errorf("after reopening: %q, want B+d7", got)
	}

	// A missing delta part is reported, not skipped.
	if err := b.db.Update(func(txn *badger.Txn) error { return txn.Delete(partKey(kindSnapshot, "orders", 7, 0)) }); err != nil {
		t.Fatal(err)
	}
	if want := `error: store: job "orders": snapshot version 7: part 0 of 1: Key not found`; loaded(b, "orders", 7) != want {
		t.Errorf("delta part missing: %q, want %q", loaded(b, "orders", 7), want)
	}
}

func TestSnapshotDeltaRejected(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, "", Options{})
	if _, err := b.Commit(ctx, "orders", 0, &Commit{SnapshotDelta: []byte("d")}); err == nil ||
		err.Error() != `store: job "orders": a snapshot delta needs a stored snapshot, and there is none` {
		t.Errorf("delta without a snapshot: %v", err)
	}
	if _, err := b.Commit(ctx, "orders", 0, &Commit{Snapshot: []byte("s"), SnapshotDelta: []byte("d")}); err == nil ||
		err.Error() != "store: commit carries both a snapshot and a snapshot delta" {
		t.Errorf("snapshot and delta: %v", err)
	}
	if h, err := b.Head("orders"); err != nil || h.Version != 0 {
		t.Errorf("rejected commits moved the head: %+v, %v", h, err)
	}
}

// deltaBase commits the state the delta crash tests start from: a full
// snapshot and two deltas (version 3), three events with lane "hook".
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

// dyingDelta is the delta commit the crash tests interrupt: a delta of
// three parts and events in several chunks.
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
	n := 0
	eachKey(t, b.db, seqPrefix(kindSnapshot, "orders", 4), func([]byte) error { n++; return nil })
	if n != 1 {
		t.Errorf("version 4 has %d snapshot parts, want the one of d4 (the dead commit's are gone)", n)
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
	if vs := snapshotVersions(t, raw, "orders"); !slices.Equal(vs, []uint64{1, 2, 3, 4}) {
		t.Errorf("after the crash snapshot versions %v are stored, want the staged 4 beside [1 2 3]", vs)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	b = openTest(t, dir, Options{})
	if vs := snapshotVersions(t, b.db, "orders"); !slices.Equal(vs, []uint64{1, 2, 3}) {
		t.Errorf("Open left snapshot versions %v, want [1 2 3]", vs)
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
	if vs := snapshotVersions(t, b.db, "orders"); !slices.Equal(vs, []uint64{1, 2, 3, 4}) {
		t.Fatalf("snapshot versions %v, want the orphan 4 beside [1 2 3]", vs)
	}
	checkDeltaBase(t, b, head)
}

// TestOpenRemovesReplacedDeltas covers data only Open removes: a snapshot
// and deltas replaced by a full snapshot whose clean-up did not run, and
// stale parts between the versions the head lists.
func TestOpenRemovesReplacedDeltas(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(dir, Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	head := deltaBase(t, b) // versions 1, 2, 3
	// Version 4 carries no snapshot data.
	if _, err := b.Commit(context.Background(), "orders", head.Version, &Commit{ETag: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(context.Background(), "orders", 4, &Commit{SnapshotDelta: []byte("d5")}); err != nil {
		t.Fatal(err)
	}
	// Stale data under versions the head does not list, as a replaced
	// snapshot whose delete failed would leave.
	err = b.db.Update(func(txn *badger.Txn) error {
		for _, v := range []uint64{0, 4} {
			if err := txn.Set(partKey(kindSnapshot, "orders", v, 0), []byte(fmt.Sprint("stale", v))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if vs := snapshotVersions(t, b.db, "orders"); !slices.Equal(vs, []uint64{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("snapshot versions %v before reopening", vs)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, dir, Options{})
	if vs := snapshotVersions(t, b.db, "orders"); !slices.Equal(vs, []uint64{1, 2, 3, 5}) {
		t.Errorf("Open left snapshot versions %v, want [1 2 3 5]", vs)
	}
	if got := loaded(b, "orders", 5); got != "A+d2+d3+d5" {
		t.Errorf("LoadSnapshot = %q, want A+d2+d3+d5", got)
	}
}
