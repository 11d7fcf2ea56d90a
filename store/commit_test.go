package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

var idPattern = regexp.MustCompile(`^evt_[0-9A-HJKMNP-TV-Z]{26}$`)

func TestCommitRoundTrip(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, "", Options{})

	if h, err := b.Head("orders"); err != nil || !equalJSON(h, Head{}) {
		t.Fatalf("Head of an uncommitted job = %+v, %v", h, err)
	}
	if s, err := snapshot(b, "orders", 0); err != nil || s != nil {
		t.Fatalf("Snapshot at version 0 = %q, %v", s, err)
	}

	detected := time.Date(2026, 11, 27, 19, 59, 0, 0, time.FixedZone("CET", 3600))
	events := newEvents(3, 200)
	events[1].Time = detected
	events[2].ID = "evt_caller_assigned"
	c := &Commit{Snapshot: []byte(`{"items":[1,2,3]}`), BodyHash: []byte("hash1"), ETag: `"e1"`,
		LastModified: "Fri, 27 Nov 2026 19:00:00 GMT", Events: events, Destinations: []string{"hook"}}
	head, err := b.Commit(ctx, "orders", 0, c)
	if err != nil {
		t.Fatal(err)
	}
	want := Head{Version: 1, LastSeq: 3, BodyHash: []byte("hash1"), ETag: `"e1"`,
		LastModified: "Fri, 27 Nov 2026 19:00:00 GMT", CommittedAt: testNow, ChangedAt: testNow}
	if !equalJSON(head, want) {
		t.Errorf("Commit returned %+v, want %+v", head, want)
	}
	if got, err := b.Head("orders"); err != nil || !equalJSON(got, want) {
		t.Errorf("Head = %+v, %v; want %+v", got, err, want)
	}
	for i, ev := range c.Events {
		if ev.Seq != uint64(i+1) || ev.Job != "orders" {
			t.Errorf("event %d: Seq %d Job %q, want %d orders", i, ev.Seq, ev.Job, i+1)
		}
	}
	if !idPattern.MatchString(c.Events[0].ID) || !idPattern.MatchString(c.Events[1].ID) || c.Events[0].ID >= c.Events[1].ID {
		t.Errorf("assigned ids %q, %q: want increasing evt_ + 26 Crockford chars", c.Events[0].ID, c.Events[1].ID)
	}
	if c.Events[2].ID != "evt_caller_assigned" {
		t.Errorf("caller's id replaced by %q", c.Events[2].ID)
	}
	if !c.Events[0].Time.Equal(testNow) || !c.Events[1].Time.Equal(detected) || c.Events[1].Time.Location() != time.UTC {
		t.Errorf("event times %v, %v: want commit time, then the caller's in UTC", c.Events[0].Time, c.Events[1].Time)
	}
	if s, err := snapshot(b, "orders", 1); err != nil || string(s) != `{"items":[1,2,3]}` {
		t.Errorf("Snapshot = %q, %v", s, err)
	}
	if got, err := b.Pending("hook", "orders", 0); err != nil || !equalJSON(got, c.Events) {
		t.Errorf("Pending = %+v, %v\nwant %+v", got, err, c.Events)
	}

	// A commit without a snapshot keeps the stored one and still moves the
	// version; without events it leaves ChangedAt alone.
	later := testNow.Add(time.Minute)
	b.now = func() time.Time { return later }
	head, err = b.Commit(ctx, "orders", 1, &Commit{BodyHash: []byte("hash2"), ETag: `"e2"`})
	if err != nil {
		t.Fatal(err)
	}
	want = Head{Version: 2, LastSeq: 3, BodyHash: []byte("hash2"), ETag: `"e2"`, CommittedAt: later, ChangedAt: testNow}
	if !equalJSON(head, want) {
		t.Errorf("metadata commit returned %+v, want %+v", head, want)
	}
	if s, err := snapshot(b, "orders", 2); err != nil || string(s) != `{"items":[1,2,3]}` {
		t.Errorf("Snapshot after a metadata commit = %q, %v", s, err)
	}
	if chunks := storedChunks(t, b.db, b.snapDir, "orders"); !slices.Equal(chunks, []string{"1.db"}) {
		t.Errorf("stored chunks %v, want [1.db]", chunks)
	}

	// An empty, non-nil snapshot replaces the stored one.
	if _, err := b.Commit(ctx, "orders", 2, &Commit{Snapshot: []byte{}}); err != nil {
		t.Fatal(err)
	}
	if s, err := snapshot(b, "orders", 3); err != nil || s == nil || len(s) != 0 {
		t.Errorf("empty snapshot read back as %q (nil %v), %v", s, s == nil, err)
	}
	// An empty chunk has no part to store.
	if chunks := storedChunks(t, b.db, b.snapDir, "orders"); len(chunks) != 0 {
		t.Errorf("after the replacement stored chunks %v, want none", chunks)
	}
}

func TestCommitStale(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, "", Options{})
	if _, err := b.Commit(ctx, "orders", 0, &Commit{Snapshot: []byte("v1"), Events: newEvents(1, 50), Destinations: []string{"hook"}}); err != nil {
		t.Fatal(err)
	}
	for _, base := range []uint64{0, 2, 7} {
		_, err := b.Commit(ctx, "orders", base, &Commit{Snapshot: []byte("other"), Events: newEvents(2, 50)})
		want := fmt.Sprintf(`job "orders": commit on version %d, head is at 1: store: snapshot version changed since it was read`, base)
		if !errors.Is(err, ErrStale) || err.Error() != want {
			t.Errorf("base %d: %v, want %s", base, err, want)
		}
	}
	_, err := snapshot(b, "orders", 2)
	want := `job "orders": read snapshot version 2, head is at 1: store: snapshot version changed since it was read`
	if !errors.Is(err, ErrStale) || err.Error() != want {
		t.Errorf("Snapshot of a version that is not the head: %v, want %s", err, want)
	}
	if h, _ := b.Head("orders"); h.Version != 1 || h.LastSeq != 1 {
		t.Errorf("stale commits changed the head: %+v", h)
	}
	if s, _ := snapshot(b, "orders", 1); string(s) != "v1" {
		t.Errorf("stale commits changed the snapshot: %q", s)
	}
}

func TestCommitRejectsInvalidInput(t *testing.T) {
	b := openTest(t, "", Options{})
	tests := []struct {
		name string
		job  string
		c    *Commit
		want string
	}{
		{"empty job", "", &Commit{}, "store: empty job name"},
		{"nil commit", "orders", nil, "store: nil commit"},
		{"empty destination", "orders", &Commit{Destinations: []string{"hook", ""}}, "store: empty destination name"},
		{"foreign event", "orders", &Commit{Events: []Event{{Job: "users"}}}, `store: commit of job "orders" carries an event of job "users"`},
		{"long job", strings.Repeat("j", 1<<16), &Commit{}, "store: job name of 65536 bytes is too long"},
		{"snapshot and delta", "orders", &Commit{Snapshot: []byte("s"), SnapshotDelta: []byte("d")},
			"store: commit carries both a snapshot and a snapshot delta"},
		{"writer and snapshot", "orders", &Commit{Snapshot: []byte("s"), SnapshotWriter: writeString("s")},
			"store: commit carries a snapshot writer besides a snapshot or snapshot delta"},
		{"writer and delta", "orders", &Commit{SnapshotDelta: []byte{}, SnapshotWriter: writeString("s")},
			"store: commit carries a snapshot writer besides a snapshot or snapshot delta"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Commit(context.Background(), tt.job, 0, tt.c)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Commit = %v, want %s", err, tt.want)
			}
		})
	}
	if h, err := b.Head("orders"); err != nil || h.Version != 0 {
		t.Errorf("rejected commits moved the head: %+v, %v", h, err)
	}
	if chunks := storedChunks(t, b.db, b.snapDir, "orders"); len(chunks) != 0 {
		t.Errorf("rejected commits stored chunks %v", chunks)
	}
}

// writeString is a Commit.SnapshotWriter that writes s.
func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

// TestCommitLarge commits 100,000 events of ~500 bytes and a 25 MB snapshot
// at once: far beyond one Badger transaction, still atomic. The first try
// dies before its flip and must leave no trace; the second streams the
// snapshot through a SnapshotWriter.
func TestCommitLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("writes ~150 MB")
	}
	ctx := context.Background()
	b := openTest(t, t.TempDir(), Options{})
	if _, err := b.Commit(ctx, "orders", 0, &Commit{Snapshot: []byte("small"), Events: newEvents(1, 100), Destinations: []string{"hook"}}); err != nil {
		t.Fatal(err)
	}
	base, err := b.Pending("hook", "orders", 0)
	if err != nil {
		t.Fatal(err)
	}
	events := newEvents(100_000, 500)
	snap := bytes.Repeat([]byte(`{"id":12345,"name":"widget","price":9.99},`), 25<<20/42)

	// The events alone, as one key per event in a single transaction, are
	// what Badger refuses: the commit below must not depend on that.
	err = b.db.Update(func(txn *badger.Txn) error {
		for i := range events {
			if err := txn.Set([]byte(fmt.Sprintf("naive/%d", i)), events[i].Data); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, badger.ErrTxnTooBig) {
		t.Fatalf("one transaction for the events: %v, want ErrTxnTooBig", err)
	}

	died := errors.New("died")
	b.beforeFlip = func() error { return died }
	if _, err := b.Commit(ctx, "orders", 1, &Commit{Snapshot: snap, Events: events, Destinations: []string{"hook", "late"}}); !errors.Is(err, died) {
		t.Fatalf("Commit = %v, want the injected failure", err)
	}
	b.beforeFlip = nil
	if h, err := b.Head("orders"); err != nil || h.Version != 1 || h.LastSeq != 1 {
		t.Errorf("after the dead commit head %+v, %v; want version 1, last seq 1", h, err)
	}
	if s, err := snapshot(b, "orders", 1); err != nil || string(s) != "small" {
		t.Errorf("after the dead commit Snapshot = %.10q, %v; want small", s, err)
	}
	if got, err := b.Pending("hook", "orders", 0); err != nil || !equalJSON(got, base) {
		t.Errorf("after the dead commit Pending = %d events, %v; want the one of version 1", len(got), err)
	}
	if got, _ := b.Lanes(); len(got) != 1 {
		t.Errorf("after the dead commit lanes %+v, want hook only", got)
	}

	streamed := &Commit{Events: events, Destinations: []string{"hook"}, SnapshotWriter: func(w io.Writer) error {
		for rest := snap; len(rest) > 0; {
			n, err := w.Write(rest[:min(len(rest), 50_000)])
			if err != nil {
				return err
			}
			rest = rest[n:]
		}
		return nil
	}}
	head, err := b.Commit(ctx, "orders", 1, streamed)
	if err != nil {
		t.Fatal(err)
	}
	if head.Version != 2 || head.LastSeq != 100_001 {
		t.Fatalf("head %+v, want version 2, last seq 100001", head)
	}
	if s, err := snapshot(b, "orders", 2); err != nil || !bytes.Equal(s, snap) {
		t.Fatalf("Snapshot: %d bytes, %v; want the %d committed", len(s), err, len(snap))
	}
	if chunks := storedChunks(t, b.db, b.snapDir, "orders"); !slices.Equal(chunks, []string{"2.full"}) {
		t.Errorf("stored chunks %v, want [2.full]", chunks)
	}
	if err := b.Ack("hook", "orders", 1); err != nil {
		t.Fatal(err)
	}
	got, err := b.Pending("hook", "orders", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(events) {
		t.Fatalf("Pending returned %d events, want %d", len(got), len(events))
	}
	for i := range got {
		if !equalJSON(got[i], events[i]) {
			t.Fatalf("event %d: %+v, want %+v", i, got[i], events[i])
		}
	}
	if n := len(chunkKeys(t, b.db, "orders")); n < 100 {
		t.Errorf("events stored in %d chunks, want hundreds", n)
	}
}

// crashCase is a commit that a crash helper process dies in.
type crashCase struct {
	job       string
	base      uint64
	commit    func() *Commit
	afterFlip bool // die right after the flip, before replaced chunks are deleted; else between staging and flip
}

// crashCases are the crash helpers TestMain runs, by name.
var crashCases = map[string]crashCase{
	"crash":                   {"orders", 1, dyingCommit, false},
	"crash-delta":             {"orders", 3, dyingDelta, false},
	"crash-after-flip":        {"orders", 3, dyingCommit, true},
	"crash-inline":            {"orders", 3, dyingInlineDelta, false},
	"crash-inline-after-flip": {"orders", 3, dyingInlineFull, true},
	"crash-stray-parts":       {longJob, 3, dyingInlineFull, true},
}

// helperCrash commits cc on the store in dir and dies where cc says, as a
// power cut or SIGKILL would.
func helperCrash(dir string, cc crashCase) int {
	b, err := Open(dir, Options{SyncWrites: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	die := func() error {
		os.Exit(3)
		return nil
	}
	if cc.afterFlip {
		b.afterFlip = die
	} else {
		b.beforeFlip = die
	}
	_, err = b.Commit(context.Background(), cc.job, cc.base, cc.commit())
	fmt.Fprintln(os.Stderr, "commit returned:", err)
	return 1
}

// crashCommit runs the crash helper of kind on the store in dir, checks
// that it died where kind says, and returns the database opened without
// Open's clean-up, for the test to look at and close.
func crashCommit(t *testing.T, dir, kind string) *badger.DB {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+kind, helperDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	var exit *exec.ExitError
	if err := cmd.Run(); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("crash helper: %v, want exit status 3", err)
	}
	opts := Options{Logger: discard}
	opts.setDefaults()
	raw, err := badger.Open(opts.badgerOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// dyingCommit is the commit that the crash tests interrupt: a 600 KB
// snapshot, 2000 events in several chunks and a new lane.
func dyingCommit() *Commit {
	return &Commit{Snapshot: bytes.Repeat([]byte("B"), 600<<10), Events: newEvents(2000, 200), Destinations: []string{"hook", "late"}}
}

// crashBase commits the state the crash tests start from: version 1, three
// events, lane "hook" with event 1 acked.
func crashBase(t *testing.T, b *Badger) (Head, []Event) {
	t.Helper()
	c := &Commit{Snapshot: []byte("A"), Events: newEvents(3, 100), Destinations: []string{"hook"}}
	head, err := b.Commit(context.Background(), "orders", 0, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Ack("hook", "orders", 1); err != nil {
		t.Fatal(err)
	}
	return head, c.Events[1:]
}

// checkCrashBase checks that the store shows the crash base and nothing of
// the commit that died.
func checkCrashBase(t *testing.T, b *Badger, head Head, pending []Event) {
	t.Helper()
	if got, err := b.Head("orders"); err != nil || !equalJSON(got, head) {
		t.Errorf("Head = %+v, %v; want %+v", got, err, head)
	}
	if s, err := snapshot(b, "orders", 1); err != nil || string(s) != "A" {
		t.Errorf("Snapshot = %d bytes %.10q, %v; want A", len(s), s, err)
	}
	if got, err := b.Pending("hook", "orders", 0); err != nil || !equalJSON(got, pending) {
		t.Errorf("Pending = %+v, %v; want %+v", got, err, pending)
	}
	wantLanes := []LaneState{{Destination: "hook", Job: "orders", Cursor: 2}}
	if got, err := b.Lanes(); err != nil || !equalJSON(got, wantLanes) {
		t.Errorf("Lanes = %+v, %v; want %+v", got, err, wantLanes)
	}
}

// checkNextCommit commits 600 events on version 1 (fewer than the dead
// commit staged, so its chunks would show if left in place) and checks that
// exactly they follow the base's pending events.
func checkNextCommit(t *testing.T, b *Badger, pending []Event) {
	t.Helper()
	c := &Commit{Snapshot: []byte("C"), Events: newEvents(600, 200), Destinations: []string{"hook"}}
	head, err := b.Commit(context.Background(), "orders", 1, c)
	if err != nil {
		t.Fatalf("commit after the crash: %v", err)
	}
	if head.Version != 2 || head.LastSeq != 603 {
		t.Errorf("head after the crash %+v, want version 2, last seq 603", head)
	}
	if s, err := snapshot(b, "orders", 2); err != nil || string(s) != "C" {
		t.Errorf("Snapshot = %.10q, %v; want C", s, err)
	}
	want := append(slices.Clone(pending), c.Events...)
	if got, err := b.Pending("hook", "orders", 0); err != nil || !equalJSON(got, want) {
		t.Errorf("Pending after the next commit: %d events, %v; want %d", len(got), err, len(want))
	}
	if chunks := storedChunks(t, b.db, b.snapDir, "orders"); !slices.Equal(chunks, []string{"2.db"}) {
		t.Errorf("stored chunks %v, want [2.db]", chunks)
	}
	for _, k := range chunkKeys(t, b.db, "orders") {
		var first, last, parts uint64
		if _, err := fmt.Sscanf(k, "%d-%d/%d", &first, &last, &parts); err != nil || last > 603 {
			t.Errorf("chunk %s beyond the head survived", k)
		}
	}
	if got, _ := b.Lanes(); len(got) != 1 {
		t.Errorf("lanes %+v: the dead commit's lane must not exist", got)
	}
}

func TestCrashBetweenStagingAndFlip(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(dir, Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	head, pending := crashBase(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// The dead process did stage: its file and chunks are on disk,
	// unreferenced.
	raw := crashCommit(t, dir, "crash")
	snaps := filepath.Join(dir, snapshotsDir)
	if chunks := storedChunks(t, raw, snaps, "orders"); !slices.Equal(chunks, []string{"1.db", "2.full"}) {
		t.Errorf("after the crash stored chunks %v, want [1.db 2.full]", chunks)
	}
	if n := len(chunkKeys(t, raw, "orders")); n < 4 {
		t.Errorf("after the crash %d chunks are stored, want the base's and the staged ones", n)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	b = openTest(t, dir, Options{})
	if chunks := storedChunks(t, b.db, snaps, "orders"); !slices.Equal(chunks, []string{"1.db"}) {
		t.Errorf("Open left stored chunks %v, want [1.db]", chunks)
	}
	if keys := chunkKeys(t, b.db, "orders"); !slices.Equal(keys, []string{"1-3/1"}) {
		t.Errorf("Open left chunks %v, want [1-3/1]", keys)
	}
	checkCrashBase(t, b, head, pending)
	checkNextCommit(t, b, pending)
}

func TestAbortBeforeFlipLeavesNothingVisible(t *testing.T) {
	b := openTest(t, t.TempDir(), Options{})
	head, pending := crashBase(t, b)
	died := errors.New("died")
	b.beforeFlip = func() error { return died }
	if _, err := b.Commit(context.Background(), "orders", 1, dyingCommit()); !errors.Is(err, died) {
		t.Fatalf("Commit = %v, want the injected failure", err)
	}
	b.beforeFlip = nil

	// The orphans are still there (no Open has run) and must not be read.
	if chunks := storedChunks(t, b.db, b.snapDir, "orders"); !slices.Equal(chunks, []string{"1.db", "2.full"}) {
		t.Fatalf("stored chunks %v, want the orphan 2.full beside 1.db", chunks)
	}
	checkCrashBase(t, b, head, pending)
	checkNextCommit(t, b, pending)
}

// TestOpenRemovesOrphans covers what only Open removes: snapshot files a
// full snapshot replaced whose delete did not run, a job whose first
// commit died, and entries of the snapshots directory that belong to no job.
func TestOpenRemovesOrphans(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := Open(dir, Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	b.inlineMax = -1 // files only: TestOpenRemovesStrayParts covers inline chunks
	if _, err := b.Commit(ctx, "orders", 0, &Commit{Snapshot: []byte("snap1")}); err != nil {
		t.Fatal(err)
	}
	died := errors.New("died")
	b.afterFlip = func() error { return died }
	if _, err := b.Commit(ctx, "orders", 1, &Commit{Snapshot: []byte("snap2")}); !errors.Is(err, died) {
		t.Fatalf("Commit = %v, want the injected failure", err)
	}
	b.afterFlip = nil
	b.beforeFlip = func() error { return died }
	if _, err := b.Commit(ctx, "fresh", 0, dyingCommit()); !errors.Is(err, died) {
		t.Fatalf("Commit = %v, want the injected failure", err)
	}
	snaps := filepath.Join(dir, snapshotsDir)
	if files := snapshotFiles(t, snaps, "orders"); !slices.Equal(files, []string{"1.full", "2.full"}) {
		t.Fatalf("orders snapshot files %v, want the replaced 1.full beside 2.full", files)
	}
	if files := snapshotFiles(t, snaps, "fresh"); !slices.Equal(files, []string{"1.full"}) {
		t.Fatalf("fresh snapshot files %v, want the dead commit's 1.full", files)
	}
	if n := len(chunkKeys(t, b.db, "fresh")); n == 0 {
		t.Fatal("the dying commit staged no chunks")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, stray := range []string{"stray-file", jobDirName("gone")} {
		if err := os.WriteFile(filepath.Join(snaps, stray), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	b = openTest(t, dir, Options{})
	if files := snapshotFiles(t, snaps, "orders"); !slices.Equal(files, []string{"2.full"}) {
		t.Errorf("orders snapshot files after Open %v, want [2.full]", files)
	}
	if s, err := snapshot(b, "orders", 2); err != nil || string(s) != "snap2" {
		t.Errorf("Snapshot = %q, %v", s, err)
	}
	if cs := chunkKeys(t, b.db, "fresh"); len(cs) != 0 {
		t.Errorf("after Open the dead first commit left chunks %v", cs)
	}
	entries, err := os.ReadDir(snaps)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != jobDirName("orders") {
		t.Errorf("after Open the snapshots directory holds %v, want only the directory of orders", entries)
	}
}

// cancelAfter is a context that reports cancellation from its n+1st Err
// call on, so that Commit fails partway through staging.
type cancelAfter struct {
	context.Context
	n int
}

func (c *cancelAfter) Err() error {
	if c.n == 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

// TestFailedStagingIsRemoved fails commits partway through staging, in the
// snapshot file and in the event chunks, and checks that nothing of them
// stays behind.
func TestFailedStagingIsRemoved(t *testing.T) {
	boom := errors.New("boom")
	// perTxn is how many parts one staging transaction holds.
	perTxn := func(b *Badger) int { return int(b.db.MaxBatchSize()) / b.partSize }
	tests := []struct {
		name string
		ctx  func(b *Badger) context.Context
		c    *Commit
		want string
	}{
		{
			name: "snapshot writer fails",
			ctx:  func(*Badger) context.Context { return context.Background() },
			c: &Commit{Events: newEvents(10, 100), SnapshotWriter: func(w io.Writer) error {
				if _, err := w.Write(bytes.Repeat([]byte("B"), 1<<20)); err != nil {
					return err
				}
				return boom
			}},
			want: `job "orders": stage commit: write snapshot file: boom`,
		},
		{
			// The writer's buffer reaches the file three times before the
			// context is done.
			name: "cancelled while the snapshot streams",
			ctx:  func(*Badger) context.Context { return &cancelAfter{context.Background(), 3} },
			c: &Commit{SnapshotWriter: func(w io.Writer) error {
				for range 100 {
					if _, err := w.Write(bytes.Repeat([]byte("B"), snapWriteBuffer)); err != nil {
						return err
					}
				}
				return nil
			}},
			want: `job "orders": stage commit: write snapshot file: context canceled`,
		},
		{
			// The snapshot file is complete and more than one transaction
			// of chunks committed when the context is done.
			name: "cancelled while the events are staged",
			ctx:  func(b *Badger) context.Context { return &cancelAfter{context.Background(), 1 + perTxn(b) + 1} },
			c:    &Commit{Snapshot: []byte("B"), Events: newEvents(2000, 200), Destinations: []string{"hook"}},
			want: `job "orders": stage commit: context canceled`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := openTest(t, t.TempDir(), Options{})
			head, pending := crashBase(t, b)
			_, err := b.Commit(tt.ctx(b), "orders", 1, tt.c)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Commit = %v, want %s", err, tt.want)
			}
			checkCrashBase(t, b, head, pending)
			if chunks := storedChunks(t, b.db, b.snapDir, "orders"); !slices.Equal(chunks, []string{"1.db"}) {
				t.Errorf("stored chunks %v left, want [1.db]", chunks)
			}
			if keys := chunkKeys(t, b.db, "orders"); !slices.Equal(keys, []string{"1-3/1"}) {
				t.Errorf("chunks %v left, want [1-3/1]", keys)
			}
		})
	}
}

// TestSnapshotFiles checks that a snapshot lands in one file of its size
// (and not in Badger), is replaced by the next, and that a file cut short
// or missing is reported, both by a reader that has it open and by one
// that opens it. The store keeps every chunk in a file.
func TestSnapshotFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := openTest(t, dir, Options{})
	b.inlineMax = -1
	big := bytes.Repeat([]byte("0123456789"), 100_000)
	if _, err := b.Commit(ctx, "orders", 0, &Commit{Snapshot: big, Events: newEvents(3, 100), Destinations: []string{"hook"}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, snapshotsDir, jobDirName("orders"), "00000000000000000001.full")
	if fi, err := os.Stat(path); err != nil || fi.Size() != int64(len(big)) || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot file: %v, %v; want %d bytes, mode 0600", fi, err, len(big))
	}
	if s, err := snapshot(b, "orders", 1); err != nil || !bytes.Equal(s, big) {
		t.Fatalf("Snapshot: %d bytes, %v; want %d", len(s), err, len(big))
	}
	// Badger holds the head, the events and the lanes: a few KB.
	var values int
	err := b.db.View(func(txn *badger.Txn) error {
		return eachItem(txn, nil, nil, func(item *badger.Item) error {
			values += int(item.ValueSize())
			return nil
		})
	})
	if err != nil || values > 4<<10 {
		t.Errorf("Badger holds %d bytes of values, %v; want no snapshot among them", values, err)
	}

	if _, err := b.Commit(ctx, "orders", 1, &Commit{Snapshot: []byte("small")}); err != nil {
		t.Fatal(err)
	}
	if files := snapshotFiles(t, b.snapDir, "orders"); !slices.Equal(files, []string{"2.full"}) {
		t.Errorf("after replacement snapshot files %v, want [2.full]", files)
	}

	// Cut short under a reader that has the file open, then under one that
	// opens it, then gone.
	path = filepath.Join(dir, snapshotsDir, jobDirName("orders"), "00000000000000000002.full")
	if err := os.Truncate(path, 3); err != nil {
		t.Fatal(err)
	}
	_, err = snapshot(b, "orders", 2)
	want := fmt.Sprintf(`store: job "orders": read snapshot: file %s is shorter than the 5 bytes the head records`, path)
	if err == nil || err.Error() != want {
		t.Errorf("Snapshot of a file cut short: %v\nwant %s", err, want)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openTest(t, dir, Options{})
	_, err = snapshot(b, "orders", 2)
	want = fmt.Sprintf(`store: job "orders": snapshot file %s has 3 bytes, the head records 5`, path)
	if err == nil || err.Error() != want {
		t.Errorf("Snapshot of a file cut short, after reopening: %v\nwant %s", err, want)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	err = b.ReadSnapshot("orders", 2, 0, make([]byte, 1), 0)
	want = fmt.Sprintf(`store: job "orders": open %s: no such file or directory`, path)
	if err == nil || err.Error() != want {
		t.Errorf("ReadSnapshot of a missing file: %v\nwant %s", err, want)
	}
}

func TestEventsOfJobWithoutLanesAreNotStored(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, "", Options{})
	c := &Commit{Snapshot: []byte("s"), Events: newEvents(5, 100)}
	head, err := b.Commit(ctx, "orders", 0, c)
	if err != nil {
		t.Fatal(err)
	}
	if head.LastSeq != 5 || c.Events[4].Seq != 5 {
		t.Errorf("events not numbered: head %+v, last event %+v", head, c.Events[4])
	}
	if keys := chunkKeys(t, b.db, "orders"); len(keys) != 0 {
		t.Errorf("events nobody reads were stored: %v", keys)
	}
	// A destination added later starts after them.
	c = &Commit{Events: newEvents(2, 100), Destinations: []string{"hook"}}
	if _, err := b.Commit(ctx, "orders", 1, c); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Pending("hook", "orders", 0); err != nil || !equalJSON(got, c.Events) {
		t.Errorf("Pending = %+v, %v; want events 6 and 7", got, err)
	}
}

func TestConcurrentCommits(t *testing.T) {
	const jobs, commits, perCommit = 8, 20, 30
	ctx := context.Background()
	b := openTest(t, t.TempDir(), Options{})
	var wg sync.WaitGroup
	errs := make(chan error, jobs)
	for j := range jobs {
		wg.Go(func() {
			job := fmt.Sprintf("job%d", j)
			for v := range uint64(commits) {
				c := &Commit{Snapshot: []byte(fmt.Sprintf("%s@%d", job, v+1)), Events: newEvents(perCommit, 300), Destinations: []string{"hook"}}
				if _, err := b.Commit(ctx, job, v, c); err != nil {
					errs <- err
					return
				}
				// Delivery runs alongside, so commits race with acks.
				if err := b.Ack("hook", job, c.Events[perCommit/2].Seq); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for j := range jobs {
		job := fmt.Sprintf("job%d", j)
		h, err := b.Head(job)
		if err != nil || h.Version != commits || h.LastSeq != commits*perCommit {
			t.Errorf("%s: head %+v, %v", job, h, err)
		}
		if s, _ := snapshot(b, job, commits); string(s) != fmt.Sprintf("%s@%d", job, commits) {
			t.Errorf("%s: snapshot %q", job, s)
		}
		pending, err := b.Pending("hook", job, 0)
		if err != nil || len(pending) != perCommit/2-1 || pending[0].Seq != commits*perCommit-perCommit/2+2 {
			t.Errorf("%s: %d pending, %v", job, len(pending), err)
		}
	}
}

// TestConcurrentCommitsOnOneBase: of several commits on the same base,
// exactly one wins; the others are told to re-diff.
func TestConcurrentCommitsOnOneBase(t *testing.T) {
	const writers = 6
	b := openTest(t, "", Options{})
	var wg sync.WaitGroup
	results := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			c := &Commit{Snapshot: []byte(fmt.Sprint(i)), Events: newEvents(3, 50), Destinations: []string{"hook"}}
			_, err := b.Commit(context.Background(), "orders", 0, c)
			results <- err
		})
	}
	wg.Wait()
	close(results)
	won := 0
	for err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrStale):
			t.Error(err)
		}
	}
	if won != 1 {
		t.Errorf("%d commits on base 0 succeeded, want 1", won)
	}
	if h, _ := b.Head("orders"); h.Version != 1 || h.LastSeq != 3 {
		t.Errorf("head %+v, want version 1, last seq 3", h)
	}
}
