package store

import (
	"fmt"
	"os"
)

// Ready reports whether the store is open, its database usable and its
// snapshot directory present, for the readiness endpoint: without the
// directory (a volume unmounted or cleaned up underneath) no commit can
// write its snapshot.
func (b *Badger) Ready() error {
	leave, err := b.enter()
	if err != nil {
		return err
	}
	defer leave()
	if b.db.IsClosed() {
		return ErrClosed
	}
	if _, err := os.Stat(b.snapDir); err != nil {
		return fmt.Errorf("store: snapshot directory: %w", err)
	}
	return nil
}
