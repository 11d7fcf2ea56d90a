package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSpaceGuard: with less free space than the reserve, a commit and
// every other write fail with an error that names the store and says "no
// space left on device", and change nothing; with room again they work.
// Open refuses to start on a full disk.
func TestSpaceGuard(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir, Options{})
	ctx := context.Background()
	if _, err := b.Commit(ctx, "orders", 0, &Commit{Snapshot: []byte("v1"), Events: []Event{{Type: "item.created", Key: "1", Data: []byte(`{}`)}}, Destinations: []string{"hook"}}); err != nil {
		t.Fatal(err)
	}
	free := int64(3 << 20)
	b.space.free = func(string) (int64, error) { return free, nil }
	reserve := reserveFor(DefaultMemTableSize)
	want := fmt.Sprintf("store %s: 3.0 MiB free, below the %.1f MiB the store keeps in reserve: no space left on device", dir, float64(reserve)/(1<<20))

	_, err := b.Commit(ctx, "orders", 1, &Commit{Snapshot: []byte("v2")})
	if !errors.Is(err, syscall.ENOSPC) || err.Error() != want {
		t.Fatalf("commit on a full disk: %v, want %s", err, want)
	}
	if err := b.Ack("hook", "orders", 1); !errors.Is(err, syscall.ENOSPC) || err.Error() != want {
		t.Fatalf("ack on a full disk: %v, want %s", err, want)
	}
	if head, err := b.Head("orders"); err != nil || head.Version != 1 {
		t.Fatalf("head after the refused commit: %+v, %v; want version 1", head, err)
	}
	if lane, err := b.Lane("hook", "orders"); err != nil || lane.Cursor != 1 {
		t.Fatalf("lane after the refused ack: %+v, %v; want cursor 1", lane, err)
	}

	// A commit needs room for its snapshot besides the reserve.
	free = reserve + 100
	if _, err := b.Commit(ctx, "orders", 1, &Commit{Snapshot: make([]byte, 101)}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("commit of 101 bytes with 100 to spare: %v, want ENOSPC", err)
	}
	if _, err := b.Commit(ctx, "orders", 1, &Commit{Snapshot: make([]byte, 100)}); err != nil {
		t.Fatalf("commit of 100 bytes with 100 to spare: %v", err)
	}
	if err := b.Ack("hook", "orders", 1); err != nil {
		t.Fatalf("ack with room: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// Open asks the file system itself.
	g := newSpaceGuard(filepath.Join(dir, "new"), DefaultMemTableSize)
	g.free = func(string) (int64, error) { return 0, nil }
	if err := g.room(0); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("room on an empty disk: %v", err)
	}
	g.free = func(string) (int64, error) { return 0, errors.New("no such file or directory") }
	if err := g.room(0); err != nil {
		t.Fatalf("room when the file system cannot be asked: %v, want none", err)
	}
	if free, err := freeSpace(dir); err != nil || free <= 0 {
		t.Fatalf("freeSpace(%s) = %d, %v", dir, free, err)
	}
}

func TestSizeString(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3<<20 + 1<<19: "3.5 MiB"} {
		if got := sizeString(n); got != want {
			t.Errorf("sizeString(%d) = %q, want %q", n, got, want)
		}
	}
}
