package store

import (
	"fmt"
	"syscall"
)

// Badger writes its write-ahead log through a memory-mapped file that the
// file system allocates page by page. When the disk is full, the next page
// cannot be had and the write faults: the process dies with SIGBUS and a
// runtime dump that says nothing of the disk. So the store refuses to
// write once the file system holding it has less than a reserve left: a
// commit then fails with an error that names the store and says "no space
// left on device" (the poll is retried later), and Open refuses to start.
// The reserve covers the memtables Badger may fill and flush before the
// next check, and a commit's snapshot file beside them.

// reserveFor is the free space a store of memtables of memtableSize keeps.
func reserveFor(memtableSize int64) int64 { return 4*memtableSize + 4<<20 }

// spaceGuard checks the free space of the file system holding dir.
type spaceGuard struct {
	dir     string // "" for an in-memory store: nothing to check
	reserve int64
	free    func(dir string) (int64, error) // statfs; replaced by tests
}

func newSpaceGuard(dir string, memtableSize int64) spaceGuard {
	return spaceGuard{dir: dir, reserve: reserveFor(memtableSize), free: freeSpace}
}

// room returns an error wrapping syscall.ENOSPC when the file system of
// the store has less than the reserve plus need bytes free. A file system
// that cannot be asked counts as having room: the writes themselves will
// say what is wrong.
func (g spaceGuard) room(need int64) error {
	if g.dir == "" || g.free == nil {
		return nil
	}
	free, err := g.free(g.dir)
	if err != nil || free >= g.reserve+need {
		return nil
	}
	return fmt.Errorf("store %s: %s free, below the %s the store keeps in reserve: %w",
		g.dir, sizeString(free), sizeString(g.reserve+need), syscall.ENOSPC)
}

// freeSpace is the space an unprivileged writer may still use on the file
// system holding dir.
func freeSpace(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// sizeString renders a byte count for a person: 3.2 MiB, 512 KiB, 17 B.
func sizeString(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
