package store

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOpenAfterKillDuringStart: a process killed while Badger created a
// value-log or memtable file leaves it empty, which Badger then refuses to
// open (found by the end-to-end crash test). Open removes such files, says
// so, and the data committed before is all there.
func TestOpenAfterKillDuringStart(t *testing.T) {
	dir := t.TempDir()
	b, err := Open(dir, Options{Logger: discard, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	head, err := b.Commit(context.Background(), "orders", 0, &Commit{Snapshot: []byte(`{"a":1}`), Events: newEvents(2, 50), Destinations: []string{"hook"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// The files Badger would create next, left empty by a kill.
	for _, name := range []string{"000099.vlog", "00099.mem"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	b, err = Open(dir, Options{Logger: logger, SyncWrites: true})
	if err != nil {
		t.Fatalf("Open after a kill during start-up: %v", err)
	}
	defer b.Close()
	got, err := b.Head("orders")
	if err != nil || got.Version != head.Version || got.LastSeq != 2 {
		t.Fatalf("head after reopening: %+v, %v; want version %d, last seq 2", got, err, head.Version)
	}
	base, _, err := b.LoadSnapshot("orders", got.Version)
	if err != nil || string(base) != `{"a":1}` {
		t.Fatalf("snapshot after reopening: %q, %v", base, err)
	}
	var warned []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, "interrupted start") {
			warned = append(warned, line)
		}
	}
	want := []string{
		`level=WARN msg="removed an empty database file left by an interrupted start" file=000099.vlog`,
		`level=WARN msg="removed an empty database file left by an interrupted start" file=00099.mem`,
	}
	if !slices.Equal(warned, want) {
		t.Errorf("logs:\n%s\nwant\n%s", strings.Join(warned, "\n"), strings.Join(want, "\n"))
	}
	for _, name := range []string{"000099.vlog", "00099.mem"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Size() == 0 {
			t.Errorf("%s is still there, empty", name)
		}
	}
}
