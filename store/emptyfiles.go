package store

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// removeEmptyLogFiles removes empty value-log (.vlog) and memtable (.mem)
// files from the Badger directory at path before it is opened. Badger
// creates such a file and then sizes it; a process killed in between (a
// SIGKILL during start-up, or during a memtable switch) leaves it empty,
// and Badger then refuses to open the directory ("Open existing file ...
// Create a new file", dgraph-io/badger#2207). An empty file holds no
// entries, so removing it loses nothing: Badger creates the next one.
func removeEmptyLogFiles(path string, logger *slog.Logger) error {
	entries, err := os.ReadDir(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a new store
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !(strings.HasSuffix(name, ".vlog") || strings.HasSuffix(name, ".mem")) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		if info.Size() != 0 {
			continue
		}
		if err := os.Remove(filepath.Join(path, name)); err != nil {
			return err
		}
		logger.Warn("removed an empty database file left by an interrupted start", "file", name)
	}
	return nil
}
