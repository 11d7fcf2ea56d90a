package store

// Ready reports whether the store is open and its database usable, for the
// readiness endpoint.
func (b *Badger) Ready() error {
	leave, err := b.enter()
	if err != nil {
		return err
	}
	defer leave()
	if b.db.IsClosed() {
		return ErrClosed
	}
	return nil
}
