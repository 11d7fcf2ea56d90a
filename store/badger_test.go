package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// The test binary doubles as a second process for the tests that need one
// (a lock held elsewhere, a crash): TestMain runs the helper named by
// helperEnv instead of the tests.
const (
	helperEnv    = "POLLHOOK_STORE_HELPER"
	helperDirEnv = "POLLHOOK_STORE_HELPER_DIR"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "hold":
		os.Exit(helperHold(os.Getenv(helperDirEnv)))
	default:
		if cc, ok := crashCases[os.Getenv(helperEnv)]; ok {
			os.Exit(helperCrash(os.Getenv(helperDirEnv), cc))
		}
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// helperHold opens the store, says "ready" and keeps it open until its
// standard input closes.
func helperHold(dir string) int {
	b, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := b.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startHelper runs the test binary as helper kind on dir.
func startHelper(t *testing.T, kind, dir string) (*exec.Cmd, io.WriteCloser, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+kind, helperDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdin, bufio.NewReader(stdout)
}

var discard = slog.New(slog.DiscardHandler)

// openTest opens a store in dir (in memory when dir is "") with a fixed
// clock, closed when the test ends.
func openTest(t testing.TB, dir string, opts Options) *Badger {
	t.Helper()
	opts.Logger = discard
	opts.InMemory = dir == ""
	b, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	b.now = func() time.Time { return testNow }
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

var testNow = time.Date(2026, 11, 27, 20, 0, 0, 123456789, time.UTC)

// newEvents makes n events whose data is about size bytes.
func newEvents(n, size int) []Event {
	events := make([]Event, n)
	pad := strings.Repeat("x", max(size-40, 0))
	for i := range events {
		key := strconv.Itoa(i + 1)
		// Concatenation rather than fmt: 100,000 of these under -race add up.
		events[i] = Event{Type: "item.updated", Key: key, Data: json.RawMessage(`{"key":"` + key + `","pad":"` + pad + `"}`)}
	}
	return events
}

// eachKey calls fn with every key under prefix, read straight from Badger.
func eachKey(t testing.TB, db *badger.DB, prefix []byte, fn func(k []byte) error) {
	t.Helper()
	err := db.View(func(txn *badger.Txn) error {
		return eachItem(txn, prefix, nil, func(item *badger.Item) error { return fn(item.Key()) })
	})
	if err != nil {
		t.Fatal(err)
	}
}

// chunkKeys describes the event chunks of job as "first-last/parts" and
// checks that exactly the parts their markers name are stored.
func chunkKeys(t testing.TB, db *badger.DB, job string) []string {
	t.Helper()
	var chunks []string
	named := make(map[string]bool)
	err := db.View(func(txn *badger.Txn) error {
		return eachItem(txn, jobPrefix(kindChunk, job), nil, func(item *badger.Item) error {
			first, m, err := readMarker(item)
			chunks = append(chunks, fmt.Sprintf("%d-%d/%d", first, m.last(first), m.parts))
			for _, k := range partKeys(nil, kindChunkPart, job, first, m.parts) {
				named[string(k)] = true
			}
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	eachKey(t, db, jobPrefix(kindChunkPart, job), func(k []byte) error {
		if !named[string(k)] {
			t.Errorf("chunk part %x has no marker", k)
		}
		delete(named, string(k))
		return nil
	})
	for k := range named {
		t.Errorf("chunk part %x is missing", k)
	}
	return chunks
}

// snapshot reads the full snapshot of job at version with LoadSnapshot,
// failing when deltas follow it.
func snapshot(b *Badger, job string, version uint64) ([]byte, error) {
	base, deltas, err := b.LoadSnapshot(job, version)
	if err == nil && len(deltas) > 0 {
		err = fmt.Errorf("%d deltas follow the snapshot", len(deltas))
	}
	return base, err
}

// snapshotFiles lists the snapshot files of job under snapDir (a store's
// snapshots directory) as "version.kind" ("1.full", "2.delta"), in version
// order; an entry of any other name is listed as it is.
func snapshotFiles(t testing.TB, snapDir, job string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(snapDir, jobDirName(job)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if v, kind, ok := strings.Cut(name, "."); ok && len(v) == 20 {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				name = fmt.Sprintf("%d.%s", n, kind)
			}
		}
		files = append(files, name)
	}
	return files
}

func TestOpenLockedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	cmd, stdin, stdout := startHelper(t, "hold", dir)
	if line, err := stdout.ReadString('\n'); line != "ready\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}

	_, err := Open(dir, Options{Logger: discard})
	want := fmt.Sprintf("store %s is locked by another process (is another pollhook running?): "+
		"Cannot acquire directory lock on %q.  Another process is using this Badger database. "+
		"err: resource temporarily unavailable", dir, dir)
	if err == nil || err.Error() != want {
		t.Fatalf("Open of a held store: %v\nwant: %s", err, want)
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("errors.Is(%v, ErrLocked) = false", err)
	}

	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	b, err := Open(dir, Options{Logger: discard})
	if err != nil {
		t.Fatalf("Open after the other process closed: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	b, err := Open(t.TempDir(), Options{Logger: discard, GCInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(context.Background(), "orders", 0, &Commit{Snapshot: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Ready(); err != nil {
		t.Fatalf("Ready on an open store: %v", err)
	}
	for i := range 2 {
		if err := b.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	calls := map[string]func() error{
		"Head":         func() error { _, err := b.Head("orders"); return err },
		"LoadSnapshot": func() error { _, _, err := b.LoadSnapshot("orders", 1); return err },
		"ReadSnapshot": func() error { return b.ReadSnapshot("orders", 1, 0, make([]byte, 1), 0) },
		"Commit":       func() error { _, err := b.Commit(context.Background(), "orders", 1, &Commit{}); return err },
		"Lanes":        func() error { _, err := b.Lanes(); return err },
		"Lane":         func() error { _, err := b.Lane("hook", "orders"); return err },
		"Pending":      func() error { _, err := b.Pending("hook", "orders", 1); return err },
		"Ack":          func() error { return b.Ack("hook", "orders", 1) },
		"SetRetry":     func() error { return b.SetRetry(LaneState{Destination: "hook", Job: "orders"}) },
		"DeadLetter":   func() error { return b.DeadLetter(DeadLetter{Destination: "hook", Event: Event{Job: "orders"}}) },
		"DeadLetters":  func() error { _, err := b.DeadLetters(""); return err },
		"DeleteLane":   func() error { return b.DeleteLane("hook", "orders") },
		"Ready":        b.Ready,
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

func TestStateSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := Open(dir, Options{Logger: discard, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	b.now = func() time.Time { return testNow }
	c := &Commit{Snapshot: []byte(`{"a":1}`), BodyHash: []byte{1, 2}, ETag: `"v1"`, LastModified: "Fri, 27 Nov 2026 20:00:00 GMT",
		Events: newEvents(3, 100), Destinations: []string{"hook", "audit"}}
	head, err := b.Commit(ctx, "orders", 0, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Ack("hook", "orders", 1); err != nil {
		t.Fatal(err)
	}
	retry := LaneState{Destination: "hook", Job: "orders", Cursor: 2, Attempts: 2, FirstAttempt: testNow,
		NextAttempt: testNow.Add(time.Minute), LastStatus: 503, LastError: "status 503"}
	if err := b.SetRetry(retry); err != nil {
		t.Fatal(err)
	}
	dl := DeadLetter{Destination: "audit", Event: c.Events[0], Attempts: 15, LastStatus: 500, LastError: "status 500", DeadAt: testNow}
	if err := b.DeadLetter(dl); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openTest(t, dir, Options{})
	if got, err := b.Head("orders"); err != nil || !equalJSON(got, head) {
		t.Errorf("Head after reopen = %+v, %v; want %+v", got, err, head)
	}
	if got, err := snapshot(b, "orders", 1); err != nil || string(got) != `{"a":1}` {
		t.Errorf("Snapshot after reopen = %q, %v", got, err)
	}
	wantLanes := []LaneState{{Destination: "audit", Job: "orders", Cursor: 2}, retry}
	if got, err := b.Lanes(); err != nil || !equalJSON(got, wantLanes) {
		t.Errorf("Lanes after reopen = %+v, %v; want %+v", got, err, wantLanes)
	}
	if got, err := b.Pending("hook", "orders", 0); err != nil || !equalJSON(got, c.Events[1:]) {
		t.Errorf("Pending after reopen = %+v, %v; want %+v", got, err, c.Events[1:])
	}
	if got, err := b.DeadLetters(""); err != nil || !equalJSON(got, []DeadLetter{dl}) {
		t.Errorf("DeadLetters after reopen = %+v, %v", got, err)
	}
}

// equalJSON compares values by their JSON encoding, which is how the store
// keeps them (time zones and monotonic readings do not survive it).
func equalJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

func TestOpenRefusesUnknownFormat(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(dir, Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.db.Update(func(txn *badger.Txn) error { return txn.Set(formatKey(), []byte("3")) }); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, Options{Logger: discard})
	want := fmt.Sprintf(`open store %s: data format version "3" is not supported by this pollhook (it reads "2")`, dir)
	if err == nil || err.Error() != want {
		t.Fatalf("Open = %v\nwant %s", err, want)
	}
}

// TestOpenRefusesSnapshotsInBadger opens a directory of format 1, which
// kept snapshots as parts inside Badger: it is refused with what to do,
// and left as it was.
func TestOpenRefusesSnapshotsInBadger(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Logger: discard}
	opts.setDefaults()
	raw, err := badger.Open(opts.badgerOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	// What version 1 wrote for one commit of a 5-byte snapshot.
	err = raw.Update(func(txn *badger.Txn) error {
		for k, v := range map[string]string{
			string(formatKey()):       "1",
			string(headKey("orders")): `{"Version":1,"SnapVersion":1,"SnapParts":1,"SnapSize":5}`,
			string(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(jobPrefix('s', "orders"), 1), 0)): "snap1",
		} {
			if err := txn.Set([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	_, err = Open(dir, Options{Logger: discard})
	want := fmt.Sprintf(`open store %s: data format version "1" is not supported by this pollhook (it reads "2"); `+
		`version 1 kept snapshots inside the database: let the pollhook that wrote it deliver its pending events, `+
		`then start this one on an empty directory (every job then polls a new baseline)`, dir)
	if err == nil || err.Error() != want {
		t.Fatalf("Open = %v\nwant %s", err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, snapshotsDir)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused directory got a snapshots directory: %v", err)
	}
	raw, err = badger.Open(opts.badgerOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	err = raw.View(func(txn *badger.Txn) error {
		item, err := txn.Get(formatKey())
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if string(v) != "1" {
				t.Errorf("format marker rewritten to %q", v)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReadyNeedsSnapshotDir(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir, Options{})
	if err := b.Ready(); err != nil {
		t.Fatalf("Ready = %v", err)
	}
	snaps := filepath.Join(dir, snapshotsDir)
	if err := os.Remove(snaps); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("store: snapshot directory: stat %s: no such file or directory", snaps)
	if err := b.Ready(); err == nil || err.Error() != want {
		t.Errorf("Ready without the snapshot directory = %v, want %s", err, want)
	}
}

// TestInMemorySnapshotDir: an in-memory store keeps its snapshot files in
// a temporary directory of its own, gone after Close.
func TestInMemorySnapshotDir(t *testing.T) {
	b, err := Open("", Options{InMemory: true, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	other := openTest(t, "", Options{})
	if b.snapDir == other.snapDir || !strings.HasPrefix(filepath.Base(b.snapDir), "pollhook-snapshots-") {
		t.Errorf("snapshot directories %s and %s: want one temporary directory per store", b.snapDir, other.snapDir)
	}
	if _, err := b.Commit(context.Background(), "orders", 0, &Commit{Snapshot: bytes.Repeat([]byte("s"), inlineMax+1)}); err != nil {
		t.Fatal(err)
	}
	if files := snapshotFiles(t, b.snapDir, "orders"); !slices.Equal(files, []string{"1.full"}) {
		t.Errorf("files %v, want [1.full]", files)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b.snapDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Close the snapshot directory is still there: %v", err)
	}
}

func TestOpenRejectsTinyMemtable(t *testing.T) {
	_, err := Open("", Options{InMemory: true, MemTableSize: 512 << 10})
	want := "store: memtable size 524288 is below the minimum of 1 MiB"
	if err == nil || err.Error() != want {
		t.Fatalf("Open = %v, want %s", err, want)
	}
}

func TestBadgerLogLevels(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})
	l := badgerLogger{slog.New(h).With("component", "store")}
	l.Errorf("e %d\n", 1)
	l.Warningf("w %d", 2)
	l.Infof("i %d", 3)
	l.Debugf("d %d", 4)
	want := `level=ERROR msg="e 1" component=store db=badger
level=WARN msg="w 2" component=store db=badger
level=DEBUG msg="i 3" component=store db=badger
level=DEBUG msg="d 4" component=store db=badger
`
	if buf.String() != want {
		t.Errorf("logged:\n%s\nwant:\n%s", buf.String(), want)
	}

	buf.Reset()
	quiet := badgerLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	quiet.Infof("flushing memtable")
	if buf.Len() != 0 {
		t.Errorf("Badger's info chatter reached an info-level log: %s", buf.String())
	}
}
